"""What the softmax assignment is made of: names and paths shared by every stage
(release, hand-in, grade, feedback), and the few helpers they all use to read
its configuration and write their files.
"""
import json
import os
import re

INSTRUCTOR_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(INSTRUCTOR_DIR)

ASSIGNMENT_ID = "softmax"          # nbgrader's assignment name
NOTEBOOK = "softmax.ipynb"         # the one notebook of the assignment
PACKAGE = "cs231n"                 # the Python package students receive

# Files copied into the release as they are (paths relative to the repository).
RELEASE_EXTRAS = [
    "get_datasets.sh",
    "requirements.txt",
    "collectSubmission.sh",
    "datasets/README.md",
    "datasets/.gitignore",
]
DATA_DIR = os.path.join(INSTRUCTOR_DIR, "data")
# Every file in here is copied into the release's root as it is (the students'
# README.md, their nbgrader_config.py, Jupyter settings).
RELEASE_DATA_DIR = os.path.join(DATA_DIR, "release")
# The instructor's nbgrader settings: release build and grader.
NBGRADER_CONFIG = os.path.join(DATA_DIR, "nbgrader_config.py")

# Student ids: the rule collectSubmission.sh enforces.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints"}


def package_py_files(root):
    """The .py files of the package under root, as sorted '/'-separated relative paths."""
    found = []
    for folder, dirs, names in os.walk(os.path.join(root, PACKAGE)):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(names):
            if name.endswith(".py") and not name.startswith("."):
                found.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return found


def package_sources(root):
    """{relative path: text} of the package's .py files under root."""
    sources = {}
    for rel in package_py_files(root):
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            sources[rel] = f.read()
    return sources


def load_nbgrader_config():
    """nbgrader_config.py, loaded as nbgrader would (a traitlets Config)."""
    from traitlets.config.loader import PyFileConfigLoader
    return PyFileConfigLoader(os.path.basename(NBGRADER_CONFIG),
                              path=os.path.dirname(NBGRADER_CONFIG)).load_config()


def write_text(path, text):
    """Write through a temporary file and a rename: a reader never sees half a file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path, data):
    write_text(path, json.dumps(data, indent=1, sort_keys=True))
