"""No file given to students computes what they must write: no exp, no log-softmax.

The exercise is the softmax loss and its gradient. A given file that calls an
exponential or a (log-)softmax, say a batched trainer written for speed, holds
the answer in plain sight. The release build parses every .py file of the
release (after its solution regions are stripped, so comments, docstrings and
the solutions themselves do not count) and stops, naming the file and line,
at

- a call of exp, expm1, exp2, logaddexp, logaddexp2, logsumexp, softmax or
  log_softmax, however it is reached: np.exp(...), math.exp(...),
  scipy.special.logsumexp(...), exp(...) after `from numpy import exp`, an
  alias of such an import, or getattr(np, "exp");
- a reference to one of them that is not called there (`f = np.exp`), and an
  import of one of them by name;
- a power of e (`np.e ** S`, `math.e ** S`).
"""
import ast

# Called or referenced, these compute an exponential or a (log-)softmax.
EXP_NAMES = {"exp", "expm1", "exp2", "logaddexp", "logaddexp2", "logsumexp", "log_softmax"}
# "softmax" is also the name of a module of the package: only a call counts.
CALL_NAMES = EXP_NAMES | {"softmax"}


class _Finder(ast.NodeVisitor):
    def __init__(self):
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
        return name if name in CALL_NAMES else None

    def visit_ImportFrom(self, node):
        for alias in node.names:
            if alias.name in CALL_NAMES:
                self.aliases[alias.asname or alias.name] = alias.name
                if alias.name in EXP_NAMES or node.module and "scipy" in node.module:
                    self._hit(node, f"imports {alias.name} from {node.module}")

    def visit_Call(self, node):
        self._called.add(id(node.func))
        name = self._name_of(node.func)
        if name:
            self._hit(node, f"calls {ast.unparse(node.func)}")
        elif (isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and node.args[1].value in CALL_NAMES):
            self._hit(node, f"calls {ast.unparse(node)}")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if id(node) not in self._called and node.attr in EXP_NAMES:
            self._hit(node, f"uses {ast.unparse(node)}")
        self.generic_visit(node)

    def visit_Name(self, node):
        name = self.aliases.get(node.id)
        if id(node) not in self._called and name in EXP_NAMES and isinstance(node.ctx, ast.Load):
            self._hit(node, f"uses {node.id} ({name})")

    def visit_BinOp(self, node):
        base = node.left
        is_e = (isinstance(base, ast.Name) and base.id == "e") or (
            isinstance(base, ast.Attribute) and base.attr == "e")
        if isinstance(node.op, ast.Pow) and is_e:
            self._hit(node, f"computes {ast.unparse(node)}")
        self.generic_visit(node)


def exp_calls(text, path="<source>"):
    """[(line, what)] for every exponential or (log-)softmax in a Python source."""
    finder = _Finder()
    finder.visit(ast.parse(text, path))
    return sorted(finder.found)


def check_given_files(files):
    """files: {relative path: text as released}. Returns the problems as 'path:line: what'."""
    problems = []
    for rel, text in sorted(files.items()):
        for line, what in exp_calls(text, rel):
            problems.append(f"{rel}:{line}: {what}")
    return problems
