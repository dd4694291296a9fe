"""Which assignment the tools work on.

spec(folder=None) -> AssignmentSpec: FOLDER's (its assignment_spec.py), else the
folder named by $ASSIGNMENT_DIR (`python -m instructor --assignment DIR` sets it),
else this repository's own (softmax.py). Specs are loaded once per process.
"""
import functools
import os

from . import softmax
from .model import ENV_VAR, load_spec

# The folder that holds this repository's assignment (its notebook and package).
HERE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@functools.lru_cache(maxsize=None)
def _spec(folder):
    if folder is None:
        return softmax.SPEC.validate()
    return load_spec(folder)


def spec(folder=None):
    """The assignment's spec: FOLDER's, else $ASSIGNMENT_DIR's, else this repository's."""
    folder = folder or os.environ.get(ENV_VAR) or None
    if folder and os.path.realpath(folder) == os.path.realpath(HERE):
        folder = None
    return _spec(os.path.realpath(folder) if folder else None)
