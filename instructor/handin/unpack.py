"""Find the hand-ins in a folder and unpack one safely.

A hand-in is a zip named `<assignment id>_<student_id>.zip` (as the release's
collect script writes it) or `<student_id>.zip`, holding paths relative to the
assignment folder: the notebook and the package's `**/*.py` (the spec names
both). A zip of the whole folder (one top-level folder around them) is accepted
too.

Zips are untrusted. Only the notebook and the package's .py files are taken
out; nothing is written outside the destination folder; entries with absolute
paths, `..`, links or special file types are skipped (and reported); the
number of entries, the size of each file taken out and the total are limited,
counting the bytes actually written (a zip can lie about sizes), so a zip bomb
stops early.
"""
import hashlib
import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field

from instructor.assignment import ASSIGNMENT_ID, COLLECT_SCRIPT, ID_PATTERN, NOTEBOOK, PACKAGE
from instructor.sandbox.limits import format_size

USE_COLLECT = f" (use {COLLECT_SCRIPT})" if COLLECT_SCRIPT else ""
JUNK_PARTS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints"}


class HandinError(Exception):
    """The hand-in cannot be graded at all; the message is for the student and the CSV."""


@dataclass
class UnpackLimits:
    max_handin: int = 50 << 20       # size of the zip file
    max_unpacked: int = 200 << 20    # bytes taken out of it, in total
    max_file: int = 100 << 20        # bytes of one file taken out
    max_entries: int = 5000          # entries in the zip


@dataclass
class Handin:
    """A hand-in found in the submissions folder (its bytes are read only to grade it)."""
    student_id: str
    path: str
    mtime: float
    sha256: str
    size: int                                   # bytes of the zip: checked before reading it
    notes: list = field(default_factory=list)  # e.g. about a second hand-in of the same student

    def read(self, limits):
        """The zip's bytes; HandinError if it is larger than limits.max_handin."""
        check_handin_size(self.size, limits)
        with open(self.path, "rb") as f:
            return f.read()


def check_handin_size(size, limits):
    if size > limits.max_handin:
        raise HandinError(f"the hand-in is {format_size(size)}, more than the limit of "
                          f"{format_size(limits.max_handin)}; hand in only the notebook and "
                          f"{PACKAGE}/*.py{USE_COLLECT}")


def student_id_from_name(filename):
    """'<assignment id>_alice.zip' or 'alice.zip' -> 'alice'; None if no valid id."""
    base = os.path.basename(filename)
    if not base.lower().endswith(".zip"):
        return None
    stem = base[:-4]
    prefix = ASSIGNMENT_ID + "_"
    if stem.startswith(prefix) and ID_PATTERN.match(stem[len(prefix):]):
        return stem[len(prefix):]
    return stem if ID_PATTERN.match(stem) else None


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def collect(folder):
    """(hand-ins by student id, problems): problems are (file name, message) for zips
    that cannot be attributed to a student.

    Two zips for the same student (<assignment id>_alice.zip and alice.zip): the one
    modified last is graded, the other one is ignored and named in the notes;
    on equal times the one named like the collect script names it wins.
    """
    found, problems = {}, []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not name.lower().endswith(".zip") or name.startswith("."):
            continue
        if not os.path.isfile(path):
            problems.append((name, "not a regular file"))
            continue
        sid = student_id_from_name(name)
        if sid is None:
            problems.append((name, "cannot tell the student id from the file name (expected "
                                   f"{ASSIGNMENT_ID}_<student_id>.zip or <student_id>.zip)"))
            continue
        st = os.stat(path)
        found.setdefault(sid, []).append(Handin(sid, path, st.st_mtime, sha256_of(path), st.st_size))
    chosen = {}
    for sid, handins in found.items():
        # newest first; on a tie prefer the <assignment id>_<student id>.zip name
        handins.sort(key=lambda h: (h.mtime, os.path.basename(h.path).startswith(ASSIGNMENT_ID + "_")),
                     reverse=True)
        best = handins[0]
        for other in handins[1:]:
            same = " (same content)" if other.sha256 == best.sha256 else ""
            best.notes.append(f"{len(handins)} hand-ins for this student: graded "
                              f"{os.path.basename(best.path)} (the newest), ignored "
                              f"{os.path.basename(other.path)}{same}")
        chosen[sid] = best
    return chosen, problems


def _safe_name(name):
    """The entry's path split into parts, or None if it could leave the folder."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return parts


def _wanted(parts):
    """Is this entry (parts relative to the assignment folder) one we take out?"""
    if any(p in JUNK_PARTS or p.startswith(".") for p in parts):
        return False
    if len(parts) == 1:
        return parts[0].endswith(".ipynb")
    return parts[0] == PACKAGE and parts[-1].endswith(".py")


def unpack(data, dest, limits=UnpackLimits()):
    """Take the notebook(s) and the package's .py files out of a zip into dest.

    data is the zip's bytes (or the path of a zip file).

    Returns (files, notes, problems): the relative paths written, remarks for the
    student (a folder around everything, files ignored), and problems (entries
    skipped as unsafe or unreadable). Raises HandinError when there is nothing to
    grade: not a zip, too big, empty, a zip bomb.
    """
    if isinstance(data, (bytes, bytearray)):
        check_handin_size(len(data), limits)
        source = io.BytesIO(data)
    else:
        check_handin_size(os.path.getsize(data), limits)
        source = data
    try:
        z = zipfile.ZipFile(source)
        infos = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise HandinError(f"the hand-in is not a readable zip file ({e})") from None
    notes, skipped = [], []
    with z:
        if len(infos) > limits.max_entries:
            raise HandinError(f"the zip has {len(infos)} entries, more than the limit of "
                              f"{limits.max_entries}")
        entries = []
        for info in infos:
            parts = _safe_name(info.filename)
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if parts is None:
                skipped.append(f"{info.filename} (a path outside the assignment folder)")
            elif info.is_dir():
                continue
            elif kind == stat.S_IFLNK:
                skipped.append(f"{info.filename} (a symbolic link)")
            elif kind not in (0, stat.S_IFREG):
                skipped.append(f"{info.filename} (not a regular file)")
            elif info.flag_bits & 0x1:
                skipped.append(f"{info.filename} (encrypted)")
            else:
                entries.append((parts, info))
        if not entries and not skipped:
            raise HandinError("the zip is empty")
        # A zip of the assignment folder itself: strip the one folder around everything.
        tops = {parts[0] for parts, _ in entries if parts[0] not in JUNK_PARTS}
        if (len(tops) == 1 and PACKAGE not in tops
                and not any(len(p) == 1 for p, _ in entries)):
            top = tops.pop()
            entries = [(p[1:], i) for p, i in entries if p[0] == top and len(p) > 1]
            notes.append(f"the files were inside a folder '{top}/' in the zip; graded them as if "
                         "they were at the top")
        take = {}
        for parts, info in entries:
            if _wanted(parts):
                take["/".join(parts)] = info   # a repeated name: the last one wins, like unzip
        ignored = len(entries) - len(take)
        declared = sum(i.file_size for i in take.values())
        if declared > limits.max_unpacked:
            raise HandinError(f"the notebook and .py files unpack to {format_size(declared)}, more "
                              f"than the limit of {format_size(limits.max_unpacked)}")
        written, total = [], 0
        for rel, info in sorted(take.items()):
            target = os.path.join(dest, *rel.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            n = 0
            try:
                with z.open(info) as src, open(target, "wb") as out:
                    while True:
                        block = src.read(1 << 20)
                        if not block:
                            break
                        n += len(block)
                        total += len(block)
                        if n > limits.max_file or total > limits.max_unpacked:
                            raise HandinError(
                                f"{rel} unpacks to more than "
                                f"{format_size(min(limits.max_file, limits.max_unpacked))} "
                                "(a zip bomb?)")
                        out.write(block)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError,
                    NotImplementedError) as e:
                # NotImplementedError: a compression method Python lacks
                skipped.append(f"{rel} (cannot be read from the zip: {e})")
                os.remove(target)
                continue
            written.append(rel)
    problems = []
    if skipped:
        problems.append("skipped in the zip: " + "; ".join(skipped[:10])
                     + (f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""))
    if ignored:
        notes.append(f"ignored {ignored} other file(s) in the zip (only {NOTEBOOK} and "
                     f"{PACKAGE}/**/*.py are graded)")
    if not written:
        raise HandinError(f"the zip holds neither {NOTEBOOK} nor any {PACKAGE}/*.py file")
    return written, notes, problems
