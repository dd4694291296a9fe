"""`python -m instructor COMMAND`: see cli.py."""
import sys

from instructor.cli import main

sys.exit(main())
