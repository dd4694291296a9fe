"""Replace the solution regions of a Python source file with nbgrader's stub.

    python instructor/strip_solutions.py FILE.py      # prints the student version

nbgrader clears solutions only in notebooks and copies every other file as it
is, so the release build strips the package's .py files with this module. A
region is

    <indent>### BEGIN SOLUTION
    ...
    <indent>### END SOLUTION

and becomes, at the indentation of the BEGIN line, the stub nbgrader writes in
notebooks:

    <indent># YOUR CODE HERE
    <indent>raise NotImplementedError()

Anything unusual is an error rather than a guess, since a guess could leak a
solution: nested or unbalanced markers, a marker with other text on its line,
hidden-test markers in a .py file, a result that no longer compiles.
"""
import re
import sys

BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"
HIDDEN = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
_MARKER = re.compile(r"^(?P<indent>[ \t]*)#+[ \t]*(?P<what>BEGIN|END) SOLUTION[ \t]*$")


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
        out.extend(f"{indent}{stub}\n" for stub in STUB)
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


def main(argv):
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8") as f:
            text = f.read()
        sys.stdout.write(strip_solutions(text, argv[0])[0])
    except (OSError, UnicodeDecodeError, MarkerError) as e:
        print(f"strip_solutions.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
