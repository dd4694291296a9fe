"""Does a function run a Python loop over the examples? Read from the code, never timed.

The question is about what runs when the function is called, not about the text of one
`def`: the name may be bound again after its definition, wrapped by a decorator, or
call helpers (its own, or the looped version of the same function) that loop. So the
analysis starts at the *final* binding of the name in its module and follows, through
the student's files, everything that binding can run:

- the function's body, its decorators and default values, nested functions and lambdas;
- every name of the student's files it refers to (a call, a reference passed to `map`,
  a value returned): functions, lambdas, classes (all their methods), module-level values
  (`f = functools.partial(g)`), across files through imports of the package;
- assignments anywhere in the student's files that rebind the name on the module
  (`softmax.softmax_loss_vectorized = ...`, `setattr(module, "...", ...)`,
  `globals()["..."] = ...`).

What counts as a loop: `for` and `while` statements, comprehensions and generator
expressions, recursion among the student's functions, and calls that loop in Python on
the caller's behalf (`map`, `filter`, `np.vectorize`, `np.frompyfunc`,
`np.apply_along_axis`, `np.apply_over_axes`, `np.fromiter`, `functools.reduce`,
`itertools.starmap`), as well as code run from a string (`exec`, `eval`), which cannot be
read. A loop whose length is fixed by the code itself does not grow with the number of
examples and is not counted: iterating over a literal tuple, list, set or dict
(`all(np.all(np.isfinite(a)) for a in (W, X))`), over `range` of integer literals, or
over the function's own `*args`/`**kwargs`; the same holds for `map`/`filter` over such
literals. Code outside the student's files (numpy, the given modules) is not followed.

`find_loops(sources, entry_file, name)` returns the loops it found as `Finding`s, in the
order met; `describe(findings, name)` turns them into a message that says what runs the
loop and where (file and line).
"""
import ast
import dataclasses

# Calls that run a Python loop for the caller, by the name their module gives them.
LOOPING_CALLS = {
    "map": "map()", "filter": "filter()",
    "numpy.vectorize": "np.vectorize", "numpy.frompyfunc": "np.frompyfunc",
    "numpy.apply_along_axis": "np.apply_along_axis",
    "numpy.apply_over_axes": "np.apply_over_axes", "numpy.fromiter": "np.fromiter",
    "numpy.fromfunction": "np.fromfunction",
    "functools.reduce": "functools.reduce", "itertools.starmap": "itertools.starmap",
    "itertools.accumulate": "itertools.accumulate",
}
# Iterating over these is only as long as their (literal) arguments.
_BOUNDED_MAPS = {"map", "filter"}
# Code that runs from text, which this analysis cannot read.
UNREADABLE_CALLS = {"exec": "exec()", "eval": "eval()", "compile": "compile()",
                    "builtins.exec": "exec()", "builtins.eval": "eval()"}


@dataclasses.dataclass(frozen=True)
class Finding:
    file: str            # "cs231n/classifiers/softmax.py"
    line: int
    what: str            # "a for loop", "np.vectorize", "recursion", ...
    where: str           # the function (or module-level value) it is in
    path: tuple = ()     # how the entry reaches it: names, from the entry on


# ---------------------------------------------------------------- module tables

def module_name(rel):
    """"cs231n/classifiers/softmax.py" -> "cs231n.classifiers.softmax"."""
    rel = rel[:-3] if rel.endswith(".py") else rel
    parts = rel.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _absolute(module, level, current, is_package):
    """The absolute name of `from <level dots><module> import ...` in module current."""
    if not level:
        return module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


class _Module:
    """One student file: its tree, its top-level bindings in order, its imports."""

    def __init__(self, rel, text):
        self.rel = rel
        self.name = module_name(rel)
        self.is_package = rel.endswith("__init__.py")
        self.tree = ast.parse(text)
        self.bindings = {}       # name -> list of (node, value) in file order
        self.imports = {}        # local name -> absolute dotted name
        self.star_imports = []   # absolute module names
        self.unconditional = set()   # ids of statements directly in the module's body
        self.unconditional.update(id(stmt) for stmt in self.tree.body)
        for stmt in _top_level(self.tree.body):
            self._bind(stmt)

    def _add(self, name, node, value):
        self.bindings.setdefault(name, []).append((node, value))

    def final(self, name):
        """The bindings of name that may hold when the module has run: the last one made
        unconditionally and any made after it under an if/try/loop, the last first."""
        bindings = self.bindings.get(name, [])
        start = 0
        for i, (node, _) in enumerate(bindings):
            if id(node) in self.unconditional:
                start = i
        return list(reversed(bindings[start:]))

    def _bind(self, stmt):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self._add(stmt.name, stmt, stmt)
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                self._bind_target(target, stmt, stmt.value)
        elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
            self._bind_target(stmt.target, stmt, stmt.value)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    self.imports[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    self.imports[top] = top
        elif isinstance(stmt, ast.ImportFrom):
            base = _absolute(stmt.module, stmt.level, self.name, self.is_package)
            for alias in stmt.names:
                if alias.name == "*":
                    self.star_imports.append(base)
                else:
                    self.imports[alias.asname or alias.name] = f"{base}.{alias.name}"
                    self.bindings.pop(alias.asname or alias.name, None)

    def _bind_target(self, target, stmt, value):
        if isinstance(target, ast.Name):
            self._add(target.id, stmt, value)
            self.imports.pop(target.id, None)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:        # a, b = f, g: each may be either value
                self._bind_target(element, stmt, value)


def _top_level(body):
    """Statements that run at import, in order, including those under if/try/with."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.AsyncWith)):
            yield from _top_level(stmt.body)
            yield from _top_level(getattr(stmt, "orelse", []))
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            for part in (stmt.body, *(h.body for h in stmt.handlers), stmt.orelse,
                         stmt.finalbody):
                yield from _top_level(part)


# ---------------------------------------------------------------- the analysis

def _fixed_length(node, params):
    """Is iterating over node bounded by the code itself (not by the data)?"""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return not any(isinstance(e, ast.Starred) for e in node.elts)
    if isinstance(node, ast.Dict):
        return None not in node.keys
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, bytes))
    if isinstance(node, ast.Name):
        return node.id in params
    if isinstance(node, ast.Subscript):          # a part of something of fixed length
        return _fixed_length(node.value, params)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        func = node.func.id
        if func == "range":
            return all(isinstance(a, ast.Constant) and type(a.value) is int for a in node.args)
        if func in ("enumerate", "reversed", "sorted", "list", "tuple", "zip") and node.args:
            return all(_fixed_length(a, params) for a in node.args[:1 if func != "zip" else None])
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("items", "keys", "values") and not node.args):
        return _fixed_length(node.func.value, params)
    return False


def _varargs(function):
    """Names of a function's *args and **kwargs (iterating over them is bounded)."""
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return set()
    args = function.args
    return {a.arg for a in (args.vararg, args.kwarg) if a is not None}


class _Analysis:
    def __init__(self, sources, follow):
        self.modules = {}
        for rel, text in sources.items():
            if rel in follow and rel.endswith(".py"):
                try:
                    module = _Module(rel, text)
                except (SyntaxError, ValueError, RecursionError, MemoryError):
                    continue
                self.modules[module.name] = module
        self.findings = []
        self._rebinding_index = None
        self.seen = set()          # ids of nodes analysed
        self.stack = []            # student functions being analysed (for recursion)
        self.on_stack = set()

    # -- names
    def resolve(self, module, name, depth=0):
        """What a module-level name of module refers to: [(module, node, value)] or []
        (outside the student's files). Every binding counts, the final one first."""
        if depth > 20:
            return []
        found = []
        if name in module.bindings:
            found = [(module, node, value) for node, value in module.final(name)]
        elif name in module.imports:
            found = self.resolve_dotted(module.imports[name], depth + 1)
        else:
            for star in module.star_imports:
                target = self.modules.get(star)
                if target is not None:
                    found = self.resolve(target, name, depth + 1)
                    if found:
                        break
        return found + self.rebindings(module, name)

    def resolve_dotted(self, dotted, depth=0):
        if dotted in self.modules:
            return [(self.modules[dotted], None, "module")]
        head, _, tail = dotted.rpartition(".")
        if head in self.modules:
            return self.resolve(self.modules[head], tail, depth + 1)
        if head:                  # a name imported from a package that re-exports it
            for name, module in self.modules.items():
                if name.startswith(head + ".") and tail in module.bindings:
                    return self.resolve(module, tail, depth + 1)
        return []

    def rebindings(self, module, name):
        """Values bound to module.name from anywhere (attribute, setattr, globals())."""
        if self._rebinding_index is None:
            self._rebinding_index = self._index_rebindings()
        found = []
        for other, node, value, target in self._rebinding_index.get(name, []):
            if target is None:                   # globals()["name"] = ...: this module only
                if other is module:
                    found.append((other, node, value))
            elif self._is_module(other, target, module):
                found.append((other, node, value))
        return found

    def _index_rebindings(self):
        """{name: [(module, node, value, target expression or None)]}, in one pass."""
        index = {}
        for other in self.modules.values():
            for node in ast.walk(other.tree):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Attribute):
                            index.setdefault(target.attr, []).append(
                                (other, node, node.value, target.value))
                        elif (isinstance(target, ast.Subscript)
                              and isinstance(_constant(target.slice), str)
                              and _is_globals_call(target.value)):
                            index.setdefault(_constant(target.slice), []).append(
                                (other, node, node.value, None))
                elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                      and node.func.id == "setattr" and len(node.args) == 3
                      and isinstance(_constant(node.args[1]), str)):
                    index.setdefault(_constant(node.args[1]), []).append(
                        (other, node, node.args[2], node.args[0]))
        return index

    def _is_module(self, where, expr, module):
        """Does expr (in file where) denote module? Unknown expressions count as yes."""
        if isinstance(expr, ast.Name):
            targets = self.resolve_dotted(where.imports[expr.id]) if expr.id in where.imports \
                else []
            if targets:
                return any(m is module and v == "module" for m, _, v in targets)
            return expr.id not in where.bindings      # e.g. sys.modules[...] held in a name
        if isinstance(expr, ast.Subscript) or isinstance(expr, ast.Call):
            return True                                  # sys.modules[__name__], ...
        if isinstance(expr, ast.Attribute):
            dotted = _dotted(expr)
            if dotted and dotted.split(".")[0] in where.imports:
                full = where.imports[dotted.split(".")[0]] + dotted[len(dotted.split(".")[0]):]
                return full == module.name
            return True
        return False

    def qualified(self, module, func):
        """The dotted name of a call's function outside the student's files, or None."""
        dotted = _dotted(func)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head in module.imports:
            full = module.imports[head] + ("." + rest if rest else "")
        elif head in module.bindings:
            return None
        else:
            full = dotted if rest or head not in ("exec", "eval", "compile", "map", "filter") \
                else head
        return full

    # -- walking
    def follow_name(self, module, name, path):
        for target_module, node, value in self.resolve(module, name):
            if value == "module":
                continue
            self.visit_value(target_module, value, path + (name,))

    def visit_value(self, module, value, path):
        """Analyse what evaluating / calling a bound value can run."""
        key = (module.name, id(value))
        if isinstance(value, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if key in self.on_stack:
                self.add(module, value, "recursion (a function that calls itself again)",
                         path)
                return
            if key in self.seen:
                return
            self.seen.add(key)
            self.on_stack.add(key)
            self.stack.append(getattr(value, "name", "<lambda>"))
            try:
                self.visit_function(module, value, path)
            finally:
                self.stack.pop()
                self.on_stack.discard(key)
        elif isinstance(value, ast.ClassDef):
            if key in self.seen:
                return
            self.seen.add(key)
            for stmt in value.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.visit_value(module, stmt, path + (f"{value.name}.{stmt.name}",))
            for base in value.bases + [d for d in value.decorator_list]:
                self.visit_expr(module, base, path, set())
        elif isinstance(value, ast.AST):
            if key in self.seen:
                return
            self.seen.add(key)
            self.visit_expr(module, value, path, set())

    def visit_function(self, module, function, path):
        params = _varargs(function)
        for decorator in getattr(function, "decorator_list", []):
            self.visit_expr(module, decorator, path, params)
        args = function.args
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit_expr(module, default, path, params)
        body = function.body if isinstance(function.body, list) else [function.body]
        local = _local_names(function)
        for stmt in body:
            self.visit_expr(module, stmt, path, params, local)

    def visit_expr(self, module, root, path, params, local=frozenset()):
        for node in _walk(root):
            if isinstance(node, (ast.For, ast.AsyncFor)):
                if not _fixed_length(node.iter, params):
                    self.add(module, node, "a for loop", path)
            elif isinstance(node, ast.While):
                if not (isinstance(node.test, ast.Constant) and not node.test.value):
                    self.add(module, node, "a while loop", path)
            elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                if not all(_fixed_length(g.iter, params) for g in node.generators):
                    kind = {ast.ListComp: "a list comprehension",
                            ast.SetComp: "a set comprehension",
                            ast.DictComp: "a dict comprehension"}.get(type(node),
                                                                       "a generator expression")
                    self.add(module, node, kind, path)
            elif isinstance(node, ast.Call):
                full = self.qualified(module, node.func)
                if full in LOOPING_CALLS:
                    bounded = (full in _BOUNDED_MAPS and len(node.args) >= 2
                               and all(_fixed_length(a, params) for a in node.args[1:]))
                    if not bounded:
                        self.add(module, node, LOOPING_CALLS[full], path)
                elif full in UNREADABLE_CALLS:
                    self.add(module, node, f"code run from a string ({UNREADABLE_CALLS[full]})",
                             path)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                params = params | _varargs(node)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) \
                    and node.id not in local:
                self.follow_name(module, node.id, path)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                dotted = _dotted(node)
                if dotted and dotted.split(".")[0] not in local:
                    head = dotted.split(".")[0]
                    if head in module.imports:
                        full = module.imports[head] + dotted[len(head):]
                        for target_module, _, value in self.resolve_dotted(full):
                            if value != "module":
                                self.visit_value(target_module, value,
                                                 path + (dotted,))

    def add(self, module, node, what, path):
        where = self.stack[-1] if self.stack else (path[-1] if path else "?")
        finding = Finding(module.rel, getattr(node, "lineno", 0), what, where, tuple(path))
        if finding not in self.findings:
            self.findings.append(finding)


def _walk(root):
    """ast.walk in source order (so the first finding is the first in the file)."""
    todo = [root]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(reversed(list(ast.iter_child_nodes(node))))


def _local_names(function):
    """Names bound inside a function (parameters, assignments): not module names."""
    names = set()
    args = function.args
    for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if a is not None:
            names.add(a.arg)
    body = function.body if isinstance(function.body, list) else [function.body]
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    names.add((alias.asname or alias.name).split(".")[0])
    # A name that is also global in the function refers to the module's binding.
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                names.difference_update(node.names)
    return names


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _constant(node):
    return node.value if isinstance(node, ast.Constant) else None


def _is_globals_call(node):
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in ("globals", "vars", "locals"))


class NotFound(LookupError):
    """The entry file does not parse or does not bind the name."""


def find_loops(sources, entry_file, name, follow=None):
    """The loops that calling `name` of entry_file may run: a list of Findings.

    sources: {relative path: text} of the package's files; follow: the paths whose code
    is the student's (default: every file of sources). Raises NotFound, with a reason,
    when entry_file is missing, does not parse or never binds name."""
    follow = set(sources) if follow is None else set(follow)
    follow.add(entry_file)
    if entry_file not in sources:
        raise NotFound(f"{entry_file} is missing from the hand-in.")
    try:
        ast.parse(sources[entry_file])
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise NotFound(f"{entry_file} is not valid Python (or nested too deeply to "
                       "read).") from None
    analysis = _Analysis(sources, follow)
    module = analysis.modules.get(module_name(entry_file))
    if module is None:
        raise NotFound(f"{entry_file} is nested too deeply to read.")
    bound = analysis.resolve(module, name)
    if not bound:
        raise NotFound(f"{entry_file} defines no {name} at its top level.")
    try:
        for target_module, node, value in bound:
            if value != "module":
                analysis.visit_value(target_module, value, (name,))
    except RecursionError:      # a chain of helpers too long to follow: not vectorized
        analysis.findings.append(Finding(entry_file, 0, "calls nested too deeply to follow",
                                         name, (name,)))
    return analysis.findings


def describe(findings, name, limit=2):
    """A message for the student: what loops, in which function, file and line."""
    parts = []
    for f in findings[:limit]:
        via = [p for p in f.path[1:] if p != f.where]
        text = f"{f.what} at line {f.line} of {f.file}" if f.line else f"{f.what} in {f.file}"
        if f.where != name:
            text += f", in {f.where}"
            if via and via[-1] != f.where:
                text += f" (reached through {', '.join(via)})"
            elif f.where != name:
                text += f", which {name} runs"
        parts.append(text)
    more = len(findings) - limit
    tail = f" (and {more} more)" if more > 0 else ""
    return (f"it runs a Python loop: {'; '.join(parts)}{tail}. Compute all examples at once "
            "with array operations.")
