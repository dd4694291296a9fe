"""The package gate: in grading, a hand-in imports only what a student's machine has.

A student's environment made from the assignment's requirements.txt has those
packages, what they need, and Python's standard library; the grader's own
environment has more (nbgrader's tools, scikit-learn, dask, ...). With the gate
installed, importing any other *installed* package fails as it would on the
student's machine, with a message that says what grading has. Modules outside
site-packages (the hand-in's own package) are not affected.

One gate for both places student code runs: the notebook's kernel gets this
file's source as text and runs install() before the first cell (grade/execute.py),
the trusted checks' worker loads it by path, beside itself, before it imports
the student's package (worker.py). It depends on the standard library only. It
stops accidents, not attacks: student code could remove it.
"""
import importlib.abc
import importlib.machinery
import os
import sys


def _installed(origin):
    """Whether a module's file lies in an installed distribution's folder."""
    parts = set(os.path.normpath(origin or "").split(os.sep))
    return bool(parts & {"site-packages", "dist-packages"})


class PackageGate(importlib.abc.MetaPathFinder):
    def __init__(self, allowed, message):
        self.allowed = (set(allowed) | set(sys.stdlib_module_names)
                        | set(sys.builtin_module_names))
        self.message = message

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if path is not None or top in self.allowed or top in sys.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(top)
        if spec is None:
            return None                  # not there at all: Python's own error
        where = spec.origin or next(iter(spec.submodule_search_locations or []), "")
        if not _installed(where):
            return None
        raise ModuleNotFoundError(self.message.format(name=top), name=fullname)


def install(allowed, message):
    """Refuse imports of installed top-level packages not in allowed (message may use
    {name}); the standard library and what is already imported stay importable."""
    sys.meta_path.insert(0, PackageGate(allowed, message))
