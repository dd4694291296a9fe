"""`python -m instructor [--assignment DIR] COMMAND`: see cli.py.

--assignment DIR is read before anything else: every stage reads the spec of the
assignment folder it names (as if ASSIGNMENT_DIR=DIR were set)."""
import sys

from instructor.preamble import take_assignment_option

take_assignment_option(sys.argv)

from instructor.cli import main  # noqa: E402 (after the assignment folder is known)

sys.exit(main())
