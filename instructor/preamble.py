"""The one option read before any module loads the assignment's spec.

`python -m instructor --assignment DIR COMMAND ...` grades, releases or checks
the assignment of folder DIR (its assignment_spec.py) instead of this
repository's: the option sets ASSIGNMENT_DIR, which every stage (and every
process it starts) reads through instructor.assignment.spec(). This module
imports nothing of the assignment.
"""
import os
import sys

OPTION = "--assignment"
SPEC_FILE = "assignment_spec.py"    # instructor.assignment.model.SPEC_FILE


def take_assignment_option(argv):
    """Remove `--assignment DIR` (or `--assignment=DIR`) from argv, given before the
    command, and set ASSIGNMENT_DIR to DIR; exit 2 with a clear message if DIR is not
    an assignment folder."""
    for i, arg in enumerate(argv[1:], start=1):
        if not arg.startswith("-"):
            return            # the command: its own options come after it
        if arg == OPTION or arg.startswith(OPTION + "="):
            if arg == OPTION:
                if i + 1 >= len(argv):
                    _fail(f"{OPTION} needs a folder (one with {SPEC_FILE})")
                folder, taken = argv[i + 1], 2
            else:
                folder, taken = arg.partition("=")[2], 1
            if not os.path.isfile(os.path.join(folder, SPEC_FILE)):
                _fail(f"{OPTION} {folder}: not an assignment folder (it has no {SPEC_FILE})")
            os.environ["ASSIGNMENT_DIR"] = os.path.abspath(folder)
            del argv[i:i + taken]
            return


def _fail(message):
    print(f"python -m instructor: error: {message}", file=sys.stderr)
    sys.exit(2)
