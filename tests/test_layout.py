"""The code's shape, as the redesign promised it: no import cycle among the
instructor's modules, one Limits, a short checks module for students."""
import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent


def modules(package):
    """{dotted name: path} of a package's modules."""
    found = {}
    for path in sorted((REPO / package).rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name, path, known):
    """The modules of `known` that the module imports, anywhere in its code (also inside
    functions: a deferred import is still an edge of the graph)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            # `from pkg import sub` imports the submodule, not pkg's __init__ for it.
            subs = {f"{base}.{a.name}" for a in node.names} & set(known)
            targets |= subs or {base}
    edges = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            edges.add(target)
    return edges


def cycles(graph):
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_instructor_package_has_no_import_cycle():
    known = modules("instructor")
    assert "instructor.grade.batch" in known
    graph = {name: imported(name, path, known) for name, path in known.items()}
    assert "instructor.sandbox.limits" in graph["instructor.boundary.jail"]
    assert cycles(graph) == []


def test_there_is_one_limits_dataclass():
    """One Limits for the kernel and the worker; the protocol's and the unpacker's
    sizes have their own names."""
    named = [f"{path.relative_to(REPO)}:{node.name}"
             for path in sorted((REPO / "instructor").rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.ClassDef) and node.name.endswith("Limits")]
    assert [n for n in named if n.endswith(":Limits")] == ["instructor/grade/job.py:Limits"]
    assert sorted(n.split(":")[1] for n in named) == ["Limits", "MessageLimits", "UnpackLimits"]


def test_the_students_checks_module_is_short():
    lines = (REPO / "cs231n" / "checks.py").read_text().splitlines()
    assert len(lines) <= 300, len(lines)
