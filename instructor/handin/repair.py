"""Make a hand-in gradable as far as it can be: its notebook read whatever state it
is in, and each student file importable at least as far as its starter version."""
import ast
import json
import os
import shutil

from instructor.assignment import NOTEBOOK, PACKAGE


class Notes(list):
    """Remarks about a hand-in, for the CSV and the feedback; problem() adds one that
    makes the status graded-with-problems (something repaired, or a limit hit)."""

    problems = 0

    def problem(self, text):
        self.append(text)
        self.problems += 1


def read_student_notebook(folder, written, notes):
    """The hand-in's notebook cells (list), or None; notes say what was wrong."""
    import nbformat
    name = NOTEBOOK
    if NOTEBOOK not in written:
        others = [f for f in written if "/" not in f and f.endswith(".ipynb")]
        if len(others) == 1:
            name = others[0]
            notes.problem(f"the hand-in has no {NOTEBOOK}; graded {name} in its place")
        else:
            what = f" (but {', '.join(others)}, so which one?)" if others else ""
            notes.problem(f"the hand-in has no {NOTEBOOK}{what}: your Python files were graded "
                         "with the starter notebook, so its cells for your work are empty")
            return None
    with open(os.path.join(folder, name), "rb") as f:
        raw = f.read()
    try:
        return nbformat.reads(raw.decode("utf-8"), as_version=4).cells
    except Exception as e:  # invalid JSON, not UTF-8, not a notebook
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    try:  # valid JSON that nbformat rejects: take the cells if there are any
        data = json.loads(raw.decode("utf-8"))
        if isinstance(data, dict) and isinstance(data.get("cells"), list):
            notes.problem(f"{name} is not a valid notebook ({reason[:200]}); graded the cells it has")
            return data["cells"]
    except (ValueError, UnicodeDecodeError):
        pass
    notes.problem(f"{name} cannot be read ({reason[:200]}): your Python files were graded with "
                 "the starter notebook, so its cells for your work are empty")
    return None


def _top_level_names(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def repair_student_file(rel, folder, starter_folder, notes):
    """Make a student file importable at least as far as the starter version is:
    missing or not compiling -> starter version; top-level functions or classes
    that the starter has and the hand-in lacks -> appended from the starter."""
    path = os.path.join(folder, rel)
    with open(os.path.join(starter_folder, rel), encoding="utf-8") as f:
        starter = f.read()
    if not os.path.isfile(path):
        notes.problem(f"{rel} is missing from the hand-in: graded with its starter version")
        shutil.copy(os.path.join(starter_folder, rel), path)
        return
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        tree = ast.parse(text, rel)
        compile(tree, rel, "exec")
    except (SyntaxError, ValueError, UnicodeDecodeError) as e:
        where = f"line {e.lineno}: {e.msg}" if isinstance(e, SyntaxError) else str(e)[:200]
        notes.problem(f"{rel} does not compile ({where}): graded with its starter version, "
                     "so the tests of its functions fail")
        shutil.copy(os.path.join(starter_folder, rel), path)
        return
    starter_tree = ast.parse(starter, rel)
    have = _top_level_names(tree)
    lines = starter.splitlines()
    added = []
    for node in starter_tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name not in have:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            added.append((node.name, "\n".join(lines[start - 1:node.end_lineno])))
    if added:
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n\n# Added by the grader from the starter code (missing from the hand-in):\n")
            for _, code in added:
                f.write("\n\n" + code + "\n")
        notes.problem(f"{rel} lacks {', '.join(n for n, _ in added)}: added the starter "
                     "version (which raises NotImplementedError)")


def restore_given_files(folder, release_dir, student_files, notes):
    """Make every file of the package in folder the release's, except the students' own.

    Only the files students edit (student_files, the ones with TODO regions) come from
    the hand-in. Any other .py file of the package that the hand-in brought is replaced
    by the release's copy if it differs, or removed if the release has no such file (so
    neither the notebook's kernel nor the grader's worker can import it); a given file
    the hand-in left out is copied from the release. Each change is named in the notes
    (a plain note: the student loses nothing by it), so a zip with only the notebook and
    the edited files grades like the full one."""
    from instructor.assignment import package_py_files
    keep = set(student_files)
    given = [rel for rel in package_py_files(release_dir) if rel not in keep]
    replaced, removed = [], []
    top = os.path.join(folder, PACKAGE)
    for root, dirs, names in os.walk(top, topdown=False):
        for name in sorted(names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            if rel in keep:
                continue
            if rel in given:
                if not _same_file(path, os.path.join(release_dir, rel)):
                    replaced.append(rel)
                continue         # copied from the release below
            os.remove(path)
            if name.endswith(".py"):
                removed.append(rel)
        for d in dirs:           # folders the release does not have, now empty
            sub = os.path.join(root, d)
            if not os.path.islink(sub) and os.path.isdir(sub) and not os.listdir(sub):
                os.rmdir(sub)
    for rel in given:
        target = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target) and not os.path.isfile(target):
            shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)
        shutil.copyfile(os.path.join(release_dir, rel), target)
    if replaced:
        notes.append(f"given file(s) {', '.join(sorted(replaced))} differ from the "
                     "assignment's: graded with the original(s) (only "
                     f"{' and '.join(sorted(keep))} are yours to change)")
    if removed:
        notes.append(f"file(s) {', '.join(sorted(removed))} are not part of the assignment: "
                     "left out of grading (the notebook and the grader use only the "
                     "assignment's files and yours)")
    return replaced, removed


def _same_file(a, b):
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False
