"""Run a command as in a Docker-like container: root without CAP_SYS_ADMIN, and a
seccomp filter refusing new namespaces and mounts (as Docker's default profile).

    python tests/container_sim.py COMMAND [ARGS...]

Needs root on Linux (x86_64 or aarch64). Everything the command starts inherits
both; nothing of the machine changes.
"""
import ctypes
import importlib.util
import os
import sys


def _load_seccomp():
    """The grader's seccomp module, loaded by path: run as a script (some tests clear
    PYTHONPATH on purpose), nothing else of the grader needs to be importable."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(repo, "instructor", "sandbox", "seccomp.py")
    spec = importlib.util.spec_from_file_location("_container_sim_seccomp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


seccomp = _load_seccomp()

PR_CAPBSET_DROP = 24
CAP_SYS_ADMIN = 21


def enter():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot drop CAP_SYS_ADMIN (not root?)")
    seccomp.install(seccomp.refuse_namespaces())


def usable():
    """'' if this machine can simulate the container, else why not."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "needs root on Linux"
    if not seccomp.supported():
        return "no seccomp filter is written for this machine's architecture"
    return ""


if __name__ == "__main__":
    enter()
    os.execvp(sys.argv[1], sys.argv[1:])
