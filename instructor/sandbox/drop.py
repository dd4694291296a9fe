"""The first step of every process in the `uid` tier (sandbox/box.py), as root:

    python -I -S drop.py UID CWD COMMAND [ARGS...]

refuses every socket but a Unix one (a seccomp filter, where the machine has
one written for it), sets no_new_privs, drops to UID (no supplementary groups),
enters CWD with umask 077 and replaces itself with COMMAND. Nothing of the
student's is imported: -I -S, and only this package's seccomp module.
"""
import os
import sys


def main(argv):
    uid, cwd, cmd = int(argv[0]), argv[1], argv[2:]
    if uid <= 0:
        sys.exit("drop: refusing to run as root")
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.dirname(os.path.dirname(here)))
    from instructor.sandbox import seccomp
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
