"""The one place that reads nbgrader's markers: solution regions and hidden tests.

    python -m instructor strip FILE.py      # prints the student version of FILE.py

Used by the release build (stripping the package's .py files, the leak scan),
the solved hand-in (filling solution regions) and the feedback page (removing
hidden tests). nbgrader clears solutions only in notebooks and copies every
other file as it is, so the release build strips the package's .py files with
strip_solutions(). A region is

    <indent>### BEGIN SOLUTION
    ...
    <indent>### END SOLUTION

and becomes, at the indentation of the BEGIN line, a stub of the form nbgrader
writes in notebooks (stub_lines), naming what to write and where:

    <indent># YOUR CODE HERE
    <indent>raise NotImplementedError("loss is not written yet: "
    <indent>                          "fill in its TODO in pkg/model.py")

The function is the one around the region (Class.method for a method); the
notebook's cells get the same form with "this cell" and the notebook's name
(notebook_stub), which the release build checks against nbgrader's code stub.

Anything unusual is an error rather than a guess, since a guess could leak a
solution: nested or unbalanced markers, a marker with other text on its line,
hidden-test markers in a .py file, a result that no longer compiles.
"""
import re

BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"
HIDDEN = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
HIDDEN_BEGIN, HIDDEN_END = HIDDEN
MARKERS = (BEGIN, END, HIDDEN_BEGIN, HIDDEN_END)
STUB_COMMENT = "# YOUR CODE HERE"
HIDDEN_NOTE = "# (hidden tests: not shown)"
_MARKER = re.compile(r"^(?P<indent>[ \t]*)#+[ \t]*(?P<what>BEGIN|END) SOLUTION[ \t]*$")


def stub_lines(what, where, indent=""):
    """The lines that replace a solution region: a comment, then an error that says
    what is not written yet and where its TODO is (no quotes in what or where)."""
    raise_ = f'{indent}raise NotImplementedError('
    return [f"{indent}{STUB_COMMENT}",
            f'{raise_}"{what} is not written yet: "',
            f'{" " * len(raise_)}"fill in its TODO in {where}")']


def notebook_stub(notebook):
    """The stub of a notebook's solution cells (nbgrader's ClearSolutions.code_stub)."""
    return "\n".join(stub_lines("this cell", notebook))


def enclosing_name(lines, index):
    """'function' or 'Class.method' around line index, by indentation; None outside."""
    def indent_of(line):
        return len(line) - len(line.lstrip())
    level, names = indent_of(lines[index]), []
    for line in reversed(lines[:index]):
        m = re.match(r"[ \t]*(def|class)[ \t]+(\w+)", line)
        if m and indent_of(line) < level:
            names.insert(0, m.group(2))
            level = indent_of(line)
    return ".".join(names) or None


class MarkerError(ValueError):
    """A source file whose solution markers cannot be stripped safely."""


def solution_regions(text, path="<source>"):
    """[(begin_index, end_index, indent)] of the marker lines (0-based line numbers)."""
    regions, begin, indent = [], None, ""
    for i, line in enumerate(text.splitlines()):
        for word in HIDDEN:
            if word in line:
                raise MarkerError(f"{path}:{i + 1}: '{word}' in a Python file; hidden tests "
                                  "belong in the notebook's test cells")
        if BEGIN not in line and END not in line:
            continue
        m = _MARKER.match(line)
        if m is None:
            raise MarkerError(f"{path}:{i + 1}: a solution marker must be alone on its line "
                              f"('### BEGIN SOLUTION' / '### END SOLUTION'), got: {line.strip()!r}")
        if m.group("what") == "BEGIN":
            if begin is not None:
                raise MarkerError(f"{path}:{i + 1}: BEGIN SOLUTION inside the region opened "
                                  f"at line {begin + 1} (missing END SOLUTION?)")
            begin, indent = i, m.group("indent")
        else:
            if begin is None:
                raise MarkerError(f"{path}:{i + 1}: END SOLUTION without a BEGIN SOLUTION before it")
            regions.append((begin, i, indent))
            begin = None
    if begin is not None:
        raise MarkerError(f"{path}:{begin + 1}: BEGIN SOLUTION is never closed by END SOLUTION")
    return regions


def strip_solutions(text, path="<source>"):
    """(student_text, solution_lines): the file with every region replaced by the stub,
    and the lines that were removed (without the markers)."""
    regions = solution_regions(text, path)
    if not regions:
        return text, []
    lines = text.splitlines(keepends=True)
    out, removed, pos = [], [], 0
    for begin, end, indent in regions:
        out.extend(lines[pos:begin])
        what = enclosing_name([line.rstrip("\n") for line in lines], begin) or "this part"
        out.extend(f"{line}\n" for line in stub_lines(what, path, indent))
        removed.extend(line.rstrip("\n") for line in lines[begin + 1:end])
        pos = end + 1
    out.extend(lines[pos:])
    student = "".join(out)
    try:
        compile(student, path, "exec")
    except SyntaxError as e:
        raise MarkerError(f"{path}: the student version does not compile "
                          f"(line {e.lineno}: {e.msg}); check the indentation of the markers") from None
    return student, removed


def between_markers(source, begin, end, placeholder=None):
    """(inside, outside): the lines of source between begin/end marker lines, and the rest.
    A placeholder, if given, goes into outside where each region begins."""
    inside, outside, on = [], [], False
    for line in source.splitlines():
        if begin in line:
            on = True
            if placeholder is not None:
                outside.append(placeholder)
        elif end in line:
            on = False
        elif on:
            inside.append(line)
        else:
            outside.append(line)
    return inside, outside


def hidden_lines(source):
    """The non-trivial lines of the hidden test regions of a cell's source."""
    inside, _ = between_markers(source, HIDDEN_BEGIN, HIDDEN_END)
    return [line.strip() for line in inside if len(line.strip()) >= 8]


def remove_hidden_region(source):
    """The source with each hidden test region replaced by HIDDEN_NOTE."""
    return "\n".join(between_markers(source, HIDDEN_BEGIN, HIDDEN_END, HIDDEN_NOTE)[1])


_CELL_REGION = re.compile(r"[ \t]*#+[ \t]*BEGIN SOLUTION[ \t]*\n(.*?)[ \t]*#+[ \t]*END SOLUTION[ \t]*(?:\n|\Z)",
                          re.S)


def fill_solution_regions(source, fill=None):
    """A notebook cell's source with each solution region's markers removed and its
    inside kept, as a student who replaced the stub would leave it; fill, if given,
    replaces the inside instead."""
    return _CELL_REGION.sub(lambda m: m.group(1) if fill is None else fill, source)

