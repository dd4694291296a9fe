"""Copying files out of a hand-in's folders without ever opening anything else.

A hand-in's folder may hold named pipes, sockets, device nodes or symlinks (its
code ran there). Opening a FIFO for reading blocks until someone writes to it,
which is how a single hand-in could stall a whole batch (shutil.copytree and
shutil.copy open it). Every copy here opens with O_NOFOLLOW | O_NONBLOCK and
checks that what it opened is a regular file before reading a byte.
"""
import os
import stat

SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints"}


def read_regular(path, max_bytes=None):
    """The bytes of path if it is a regular file (not a link, pipe, socket or
    device) of at most max_bytes; None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        if max_bytes is not None and info.st_size > max_bytes:
            return None
        return f.read()


def regular_files(folder, wanted=lambda rel: True):
    """{relative path with '/': bytes} of the regular files under folder that
    wanted(rel) accepts; folders reached through a symlink are not entered."""
    files = {}
    for root, dirs, names in os.walk(folder):   # os.walk does not follow symlinked folders
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            if wanted(rel):
                data = read_regular(path)
                if data is not None:
                    files[rel] = data
    return files


def write_files(dest, files, mode=0o644):
    """Write {rel: bytes} under dest (made as needed)."""
    for rel, data in files.items():
        path = os.path.join(dest, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)


def tail(path, max_bytes):
    """The last max_bytes of a regular file, as text ('' if there is none)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            return ""
        if info.st_size > max_bytes:
            f.seek(info.st_size - max_bytes)
            head = f"[{info.st_size - max_bytes} bytes cut]\n"
        else:
            head = ""
        return head + f.read(max_bytes).decode("utf-8", "replace")
