"""Jail slots: each hand-in graded at the same time on this machine gets its own.

    with jail_slot() as slot:          # 0, 1, 2, ...
        Jail(..., slot=slot)

A jail runs student code under uid UID_BASE + slot, and its process limit
(RLIMIT_NPROC) counts every process of that uid: two hand-ins sharing a slot
would share one limit, and one could see the other's processes die. A slot is
held by an exclusive lock on a file (flock), so it is free again the moment the
process holding it ends, however it ends, and workers of several batches on one
machine never take the same slot.
"""
import contextlib
import fcntl
import os
import stat
import tempfile

from instructor.boundary.jail import JailError
from instructor.sandbox.limits import processes_of

SLOTS = 100           # uids 61000..61099 with the jail's default uid_base
UID_BASE = 61000      # boundary.jail.Jail's default
LOCK_DIR = os.path.join(tempfile.gettempdir(), "grader-jail-slots")


def _lock_dir():
    os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
    info = os.lstat(LOCK_DIR)
    # /tmp is shared: a folder someone else made (or a symlink) could hand out slots.
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise JailError(f"{LOCK_DIR} is not a private folder of this user; remove it")
    return LOCK_DIR


def _runs_processes(uid):
    return bool(processes_of(uid))


@contextlib.contextmanager
def jail_slot(count=SLOTS, uid_base=UID_BASE):
    """Hold the lowest free slot number until the block ends."""
    folder = _lock_dir()
    for n in range(count):
        fd = os.open(os.path.join(folder, f"slot-{n}.lock"),
                     os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if _runs_processes(uid_base + n):   # taken by a jail that does not lock slots
            os.close(fd)
            continue
        try:
            yield n
        finally:
            os.close(fd)
        return
    raise JailError(f"all {count} jail slots are in use: grade fewer hand-ins at a time")
