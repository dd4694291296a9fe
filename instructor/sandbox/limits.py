"""Resource limits and process hygiene for grading untrusted hand-ins (Linux).

Used by the batch (grade/batch.py: one worker process per hand-in), the worker
(grade/one.py) and kernel_launcher.py (the notebook kernel of a hand-in):

- resource limits (setrlimit) on the kernel: address space (memory), size of
  any file it writes, open files, no core dumps; on the worker itself: its
  address space (limit_own_memory), so that a hand-in's outputs cannot make the
  grader's own process grow without bound;
- process hygiene: a worker dies with its parent, and collects and kills every
  process its hand-in left behind, even ones that detached themselves (without
  a jail; in a jail the pid namespace does it, see kernel.py);
- the minimal environment boxed code gets (minimal_env), in every tier.

The isolation itself (an allow-list file system, no network, own namespaces,
a process and disk limit per hand-in) is instructor/boundary/jail.py.
"""
import ctypes
import os
import re
import resource
import signal
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


# ---- the one /proc scanner ---------------------------------------------------------------
def scan_processes():
    """[(pid, ppid, real uid, threads, state)] of every process this one can see in
    /proc (processes that end while it reads are left out); state 'Z': a zombie."""
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as f:
                fields = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
            found.append((int(name), int(fields[b"PPid"]), int(fields[b"Uid"].split()[0]),
                          int(fields[b"Threads"]), fields[b"State"].split()[0].decode()))
        except (OSError, KeyError, IndexError, ValueError):
            continue
    return found


def processes_of(uid):
    """The pids of the running processes (zombies left out) whose real uid is uid."""
    return [pid for pid, _, u, _, state in scan_processes() if u == uid and state != "Z"]


def tasks_of(uid):
    """Processes and threads of uid: what RLIMIT_NPROC counts."""
    return sum(n for _, _, u, n, _ in scan_processes() if u == uid)


def kill_uid(uid, rounds=20):
    """SIGKILL every process of uid (never root's) until none is left; returns how many."""
    if uid == 0:
        raise ValueError("refusing to kill root's processes")
    killed = 0
    for _ in range(rounds):
        pids = processes_of(uid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)
    return killed


def _children_map():
    children = {}
    for pid, ppid, _, _, _ in scan_processes():
        children.setdefault(ppid, []).append(pid)
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


def _set_both(which, value):
    """Soft and hard limit to value; without the right to raise the hard limit
    (not root), the lower of value and the current hard limit."""
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        hard = resource.getrlimit(which)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))


def limit_own_memory(memory_bytes):
    """Cap this process's address space: the grader's worker for one hand-in.
    0: unchanged. Only the soft limit: the kernel it starts sets its own limit
    (--memory, possibly higher), which raising a hard limit would forbid without
    CAP_SYS_RESOURCE (containers often drop it, even for root)."""
    if memory_bytes:
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        if hard != resource.RLIM_INFINITY:
            memory_bytes = min(int(memory_bytes), hard)
        resource.setrlimit(resource.RLIMIT_AS, (int(memory_bytes), hard))


def apply_kernel_limits(memory_bytes=0, file_bytes=0, open_files=0, processes=0):
    """setrlimit for this process (and what it executes): 0 means unchanged.
    processes: RLIMIT_NPROC, which counts the processes and threads of the real
    uid the kernel ends up with (the jail's slot uid; root ignores it)."""
    if memory_bytes:
        _set_both(resource.RLIMIT_AS, int(memory_bytes))
    if processes:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    if file_bytes:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    if open_files:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        limit = open_files if hard == resource.RLIM_INFINITY else min(open_files, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def minimal_env(tmp, threads=1, **extra):
    """The environment of boxed code: nothing of the grader's, tmp as HOME and TMPDIR."""
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/local/bin:/usr/bin:/bin",
           "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "MPLCONFIGDIR": os.path.join(tmp, "matplotlib"), "MPLBACKEND": "agg",
           "IPYTHONDIR": os.path.join(tmp, "ipython"),
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
           # BLAS threads count against the process limit: keep them few.
           "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):   # machine-specific BLAS fixes
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    return env
