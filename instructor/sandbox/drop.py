"""The first step of every process in the `uid` tier (sandbox/box.py), as root:

    python -I -S drop.py UID CWD COMMAND [ARGS...]

refuses every socket but a Unix one (a seccomp filter, where the machine has
one written for it), sets no_new_privs, drops to UID (no supplementary groups),
enters CWD with umask 077 and replaces itself with COMMAND. Nothing of the
student's is imported: -I -S, and only this package's seccomp module.
"""
import importlib.util
import os
import sys


def _neighbour(name):
    """The module NAME.py beside this file, loaded by path: this process runs with
    -I -S, so neither the project nor site-packages is on its import path."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")
    spec = importlib.util.spec_from_file_location(f"_sandbox_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv):
    uid, cwd, cmd = int(argv[0]), argv[1], argv[2:]
    if uid <= 0:
        sys.exit("drop: refusing to run as root")
    seccomp = _neighbour("seccomp")
    if seccomp.supported():
        seccomp.install(seccomp.refuse_sockets())
    os.umask(0o077)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        sys.exit("drop: the uid did not change")
    os.chdir(cwd)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
