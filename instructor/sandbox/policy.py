"""Which sandbox a grading run uses: the jail, or nothing only when asked for.

    mode = choose_sandbox(args.sandbox)      # "bwrap" or "none"; SandboxError if neither

--sandbox auto (the default) and --sandbox bwrap both need a working jail
(boundary.jail.bwrap_available builds one and runs a program in it); without
one the run stops before grading anything, with what to install. Grading
without isolation needs --sandbox none, and then every hand-in's log and CSV
row carries BARE_NOTE.
"""
from instructor.boundary.jail import bwrap_available

BARE_NOTE = ("graded WITHOUT a sandbox (--sandbox none): the hand-in's code ran with the "
             "grader's rights and could have read or changed anything the grader can")


class SandboxError(RuntimeError):
    """No sandbox can run here and grading bare was not asked for."""


def choose_sandbox(requested):
    """'auto' | 'bwrap' | 'none' -> 'bwrap' or 'none'."""
    if requested == "none":
        return "none"
    if requested not in ("auto", "bwrap"):
        raise SandboxError(f"unknown --sandbox {requested!r} (use auto, bwrap or none)")
    probe = bwrap_available()
    if not probe:
        raise SandboxError(
            f"no working sandbox, so nothing was graded: {probe.reason}.\n"
            "The grader runs every hand-in in a bubblewrap jail; it needs Linux, the "
            "'bubblewrap' package (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf "
            "install bubblewrap) and root (a dedicated uid per hand-in, a size-limited "
            "tmpfs).\nTo grade without any isolation anyway (only in a throw-away container "
            "or VM that holds nothing else), pass --sandbox none.")
    return "bwrap"
