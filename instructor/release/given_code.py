"""No file given to students computes what they must write (the spec's given_code).

The release build parses every .py file of the release (after its solution
regions are stripped, so comments, docstrings and the solutions themselves do
not count) and stops, naming the file and line, at

- a call of a forbidden name, however it is reached: np.f(...), math.f(...),
  a.b.f(...), f(...) after `from numpy import f`, an alias of such an import,
  or getattr(np, "f");
- a reference to a forbidden name that is not called there (`g = np.f`), and
  an import of one by name;
- for names that are also modules or attributes of the assignment's package
  (the rule's call_only): only a call, or an import from outside the package;
- a power of a forbidden base (`np.e ** S`, `math.e ** S`).

The names come from the assignment's spec (a GivenCodeRule); nothing here knows
which assignment it checks.
"""
import ast


class _Finder(ast.NodeVisitor):
    def __init__(self, rule, package):
        self.names = set(rule.names)                    # called, referenced or imported
        self.callable = self.names | set(rule.call_only)  # called
        self.powers_of = set(rule.powers_of)
        self.package = package
        self.found = []          # (line, what)
        self.aliases = {}        # local name -> the forbidden name it was imported as
        self._called = set()     # ids of nodes that are the function of a call

    def _hit(self, node, what):
        self.found.append((node.lineno, what))

    def _name_of(self, func):
        """The forbidden name a call's function stands for, or None."""
        if isinstance(func, ast.Name):
            name = self.aliases.get(func.id, func.id)
        elif isinstance(func, ast.Attribute):
            name = func.attr
        else:
            return None
        return name if name in self.callable else None

    def _own(self, node):
        """Whether an import comes from the assignment's own package."""
        module = node.module or ""
        return node.level > 0 or bool(self.package) and (
            module == self.package or module.startswith(self.package + "."))

    def visit_ImportFrom(self, node):
        for alias in node.names:
            if alias.name in self.callable:
                self.aliases[alias.asname or alias.name] = alias.name
                if alias.name in self.names or not self._own(node):
                    self._hit(node, f"imports {alias.name} from {node.module}")

    def visit_Call(self, node):
        self._called.add(id(node.func))
        name = self._name_of(node.func)
        if name:
            self._hit(node, f"calls {ast.unparse(node.func)}")
        elif (isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and node.args[1].value in self.callable):
            self._hit(node, f"calls {ast.unparse(node)}")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if id(node) not in self._called and node.attr in self.names:
            self._hit(node, f"uses {ast.unparse(node)}")
        self.generic_visit(node)

    def visit_Name(self, node):
        name = self.aliases.get(node.id)
        if id(node) not in self._called and name in self.names and isinstance(node.ctx, ast.Load):
            self._hit(node, f"uses {node.id} ({name})")

    def visit_BinOp(self, node):
        base = node.left
        base_name = (base.id if isinstance(base, ast.Name)
                     else base.attr if isinstance(base, ast.Attribute) else None)
        if isinstance(node.op, ast.Pow) and base_name in self.powers_of:
            self._hit(node, f"computes {ast.unparse(node)}")
        self.generic_visit(node)


def forbidden_uses(text, rule, package=None, path="<source>"):
    """[(line, what)] for every use in a Python source of what rule forbids."""
    finder = _Finder(rule, package)
    finder.visit(ast.parse(text, path))
    return sorted(finder.found)


def check_given_files(files, rule, package=None):
    """files: {relative path: text as released}. The problems as 'path:line: what'
    (none when the assignment has no rule)."""
    if rule is None:
        return []
    problems = []
    for rel, text in sorted(files.items()):
        for line, what in forbidden_uses(text, rule, package, rel):
            problems.append(f"{rel}:{line}: {what}")
    return problems
