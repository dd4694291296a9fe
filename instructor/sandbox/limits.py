"""Limits and isolation for running untrusted hand-ins (Linux).

Used by the batch (grade/batch.py, grade/executor.py: one worker process per
hand-in), the worker (grade/one.py) and kernel_launcher.py (the notebook
kernel of a hand-in):

- resource limits (setrlimit) on the kernel: address space (memory), size of
  any file it writes, no core dumps;
- bubblewrap (`bwrap`), when it is installed and works here, for the kernel:
  the whole file system read-only, the instructor's files, the other hand-ins
  and the grade store hidden, only the hand-in's own folder writable, no
  network, its own process tree that dies with the grader;
- process hygiene: a worker dies with its parent, and collects and kills every
  process its hand-in left behind, even ones that detached themselves.
"""
import ctypes
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text):
    """'4G', '512M', '100k', '1048576' -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"not a size: {text!r} (use e.g. 4G, 512M, 100K)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def format_size(n):
    """1048576 -> '1 MB', 2106543 -> '2.0 MB' (binary units)."""
    for unit in ("T", "G", "M", "K"):
        if n >= _UNITS[unit]:
            value = n / _UNITS[unit]
            return f"{value:g} {unit}B" if n % _UNITS[unit] == 0 else f"{value:.1f} {unit}B"
    return f"{n} bytes"


def _prctl(option, value):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def die_with_parent(sig=signal.SIGKILL):
    """Ask the kernel to send sig to this process when its parent exits."""
    return _prctl(PR_SET_PDEATHSIG, int(sig))


def become_subreaper():
    """Orphaned descendants get reparented to this process instead of init,
    so that kill_descendants() can find the ones that detached themselves."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def _children_map():
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read().decode("latin1")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    return children


def kill_descendants(root=None, rounds=20):
    """SIGKILL every descendant of root (default: this process); returns how many."""
    if not os.path.isdir("/proc"):
        return 0
    root = os.getpid() if root is None else root
    killed = 0
    for _ in range(rounds):
        children = _children_map()
        todo, found = [root], []
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        while True:  # reap our own (and adopted) zombies
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
    return killed


def kill_orphans(keep):
    """SIGKILL the children of this process that are not in keep, with their
    descendants: with become_subreaper(), what a killed worker left running."""
    if not os.path.isdir("/proc"):
        return 0
    strays = [pid for pid in _children_map().get(os.getpid(), []) if pid not in keep]
    killed = 0
    for pid in strays:
        killed += kill_descendants(pid, rounds=3)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            killed += 1
        except (ProcessLookupError, ChildProcessError):
            pass
    return killed


def apply_kernel_limits(memory_bytes=0, file_bytes=0, open_files=0):
    """setrlimit for this process (and what it executes): 0 means unchanged."""
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if file_bytes:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    if open_files:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        limit = open_files if hard == resource.RLIM_INFINITY else min(open_files, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


_BWRAP_BASE = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
               "--unshare-uts", "--unshare-net", "--ro-bind", "/", "/", "--dev", "/dev",
               "--proc", "/proc"]


def bwrap_path():
    return shutil.which("bwrap")


def bwrap_works():
    """True if bubblewrap is installed and can build our sandbox on this machine
    (it needs user namespaces or root)."""
    exe = bwrap_path()
    if not exe:
        return False
    cmd = [exe, *_BWRAP_BASE, *_cap_drop(), "--tmpfs", "/tmp", "true"]
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _cap_drop():
    # Run as root, bwrap keeps root's capabilities inside the sandbox, with which a
    # process could remount the read-only file system; drop them.
    return ["--cap-drop", "ALL"] if os.geteuid() == 0 else []


def _under(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def bwrap_command(hide, read_only, writable, cwd):
    """The bwrap argv prefix (up to and including '--').

    hide: folders and files made invisible (an empty folder, /dev/null);
    read_only: paths shown again read-only (when under a hidden folder);
    writable: folders the sandbox may write to (the hand-in's own);
    cwd: the working directory inside.
    """
    cmd = [bwrap_path(), *_BWRAP_BASE, *_cap_drop()]
    hidden = []
    for path in hide:
        if not os.path.lexists(path):
            continue
        path = os.path.realpath(path)
        if os.path.isdir(path):
            cmd += ["--tmpfs", path]
        else:
            cmd += ["--ro-bind", "/dev/null", path]
        hidden.append(path)
    for path in read_only:
        if os.path.exists(path) and any(_under(path, h) for h in hidden):
            real = os.path.realpath(path)
            cmd += ["--ro-bind", real, real]
    for path in writable:
        real = os.path.realpath(path)
        cmd += ["--bind", real, real]
    cmd += ["--chdir", os.path.realpath(cwd), "--"]
    return cmd


def python_paths():
    """What the kernel's Python needs to read: its installation and packages (not
    the grader's whole import path, which includes this repository)."""
    import site
    import sysconfig
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(sysconfig.get_paths().values())
    paths.update(site.getsitepackages())
    return sorted(p for p in paths if p and os.path.isdir(p))
