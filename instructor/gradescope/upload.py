"""A student's Gradescope upload as the bytes of a hand-in zip.

Gradescope puts what the student uploaded into /autograder/submission: the
files themselves (the notebook and the package, perhaps inside one folder),
or a zip, which Gradescope may or may not have unpacked. The grader takes
hand-ins as zips (handin/unpack.py applies all the rules and limits), so the
files are packed into one here, in memory, under the same limits; an uploaded
zip is passed on as it is.

Uploads with nothing to grade are refused here with a message for the student
(HandinError), before any notebook runs.
"""
import io
import os
import tempfile
import zipfile

from instructor.assignment import NOTEBOOK, PACKAGE, SKIP_DIRS
from instructor.assignment import spec as assignment_spec
from instructor.handin.unpack import JUNK_PARTS, HandinError, check_handin_size, unpack
from instructor.sandbox.limits import format_size

WHAT_TO_UPLOAD = assignment_spec().how_to_hand_in


def _visible(names):
    return sorted(n for n in names if not n.startswith(".") and n not in JUNK_PARTS)


def _looks_like_assignment(folder):
    names = _visible(os.listdir(folder))
    return any(n.endswith(".ipynb") for n in names) or os.path.isdir(os.path.join(folder, PACKAGE))


def find_base(folder):
    """(folder holding the assignment's files or None, [zip paths], notes)."""
    if not os.path.isdir(folder):
        raise HandinError("the submission folder is missing")
    names = _visible(os.listdir(folder))
    if not names:
        raise HandinError("the submission is empty")
    if _looks_like_assignment(folder):
        return folder, [], []
    dirs = [n for n in names if os.path.isdir(os.path.join(folder, n))
            and not os.path.islink(os.path.join(folder, n))]
    files = [n for n in names if n not in dirs]
    if len(dirs) == 1 and _looks_like_assignment(os.path.join(folder, dirs[0])):
        return (os.path.join(folder, dirs[0]), [],
                [f"your files were inside a folder '{dirs[0]}/'; graded them as if they were "
                 "at the top"])
    zips = [os.path.join(folder, n) for n in files if n.lower().endswith(".zip")
            and os.path.isfile(os.path.join(folder, n))]
    return None, zips, []


def pack_files(base, limits):
    """(zip bytes, notes): the notebooks at base's top and the package's .py files
    (base/PACKAGE/**/*.py), within limits."""
    wanted, ignored = [], 0
    for root, dirs, names in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and d not in JUNK_PARTS
                         and not d.startswith("."))
        rel_root = os.path.relpath(root, base)
        parts = [] if rel_root == "." else rel_root.split(os.sep)
        for name in sorted(names):
            path = os.path.join(root, name)
            rel = "/".join(parts + [name])
            take = ((not parts and name.endswith(".ipynb"))
                    or (parts and parts[0] == PACKAGE and name.endswith(".py")))
            if take and not name.startswith(".") and os.path.isfile(path) and not os.path.islink(path):
                wanted.append((rel, path))
            elif not name.startswith("."):
                ignored += 1
    if len(wanted) > limits.max_entries:
        raise HandinError(f"the upload has {len(wanted)} files, more than the limit of "
                          f"{limits.max_entries}")
    total = 0
    for rel, path in wanted:
        size = os.path.getsize(path)
        total += size
        if size > limits.max_file:
            raise HandinError(f"{rel} is {format_size(size)}, more than the limit of "
                              f"{format_size(limits.max_file)} per file")
        if total > limits.max_unpacked:
            raise HandinError(f"the notebook and .py files are more than "
                              f"{format_size(limits.max_unpacked)} in total")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for rel, path in wanted:
            z.write(path, rel)
    notes = []
    if ignored:
        notes.append(f"ignored {ignored} other file(s) in the upload (only {NOTEBOOK} and "
                     f"{PACKAGE}/**/*.py are graded)")
    return buf.getvalue(), notes


def check_has_notebook(data, limits):
    """Unpack the zip once, as the grader will, to refuse early what it cannot grade."""
    with tempfile.TemporaryDirectory(prefix="upload-check-") as tmp:
        written, _, _ = unpack(data, tmp, limits)
    if not any("/" not in f and f.endswith(".ipynb") for f in written):
        raise HandinError(f"the zip holds no notebook ({NOTEBOOK})")


def upload_as_zip(folder, limits):
    """(zip bytes, name of the upload, notes) for the submission folder.

    limits is an unpack.UnpackLimits. Raises HandinError, with a message for the
    student, when there is nothing to grade."""
    base, zips, notes = find_base(folder)
    if base is not None:
        data, more = pack_files(base, limits)
        if not any("/" not in n and n.endswith(".ipynb") for n in zipfile.ZipFile(io.BytesIO(data)).namelist()):
            raise HandinError(f"no notebook ({NOTEBOOK}) was found in the upload")
        return data, "upload", notes + more
    if not zips:
        raise HandinError(f"no notebook ({NOTEBOOK}) and no zip were found in the upload")
    if len(zips) > 1:
        raise HandinError("the upload holds several zips ("
                          + ", ".join(os.path.basename(z) for z in zips) + "); upload only one")
    path = zips[0]
    check_handin_size(os.path.getsize(path), limits)
    with open(path, "rb") as f:
        data = f.read()
    check_has_notebook(data, limits)
    return data, os.path.basename(path), notes
