"""Start the Python kernel of a hand-in with its limits, in its jail if it has one.

    python -m instructor.sandbox.kernel_launcher SETTINGS.json -f CONNECTION_FILE [kernel args]

It is the command of the kernel spec that sandbox/kernel.py writes for each
hand-in; Jupyter runs it in place of `python -m ipykernel_launcher`.
SETTINGS.json (written by KernelRoom) holds the limits, the kernel's
environment, the file that takes the kernel's own stdout/stderr and, for the
jail, its command prefix (bwrap, then the drop to the slot's uid) and uid. The
launcher applies the limits to itself and then replaces itself with the
kernel, which inherits them.
"""
import json
import os
import signal
import sys

from instructor.sandbox.limits import apply_kernel_limits, die_with_parent, tasks_of


def main(argv):
    with open(argv[0], encoding="utf-8") as f:
        settings = json.load(f)
    # If the grader dies, so does the kernel (bwrap's --die-with-parent does the
    # same for what runs inside it).
    die_with_parent(signal.SIGKILL)
    processes = settings.get("processes", 0)
    if processes and settings.get("processes_on_top"):
        processes += tasks_of(os.getuid())
    apply_kernel_limits(settings.get("memory", 0), settings.get("file_size", 0),
                        settings.get("open_files", 0), processes)
    uid = settings.get("uid")
    if uid is not None:
        # jupyter_client writes the connection file for its own user only (0600);
        # the kernel reads it as the slot's uid.
        os.chown(argv[argv.index("-f") + 1], uid, uid)
        # bwrap creates the folders above each bind with this umask: the slot's
        # uid must be able to cross them.
        os.umask(0o022)
    if settings.get("output_log"):
        # The kernel's own stdout/stderr (not its cells' output): into a file of
        # bounded size, never into the grader's log unbounded.
        fd = os.open(settings["output_log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    cmd = [settings["python"], "-m", "ipykernel_launcher", *argv[1:]]
    cmd = settings.get("wrapper", []) + cmd
    os.execve(cmd[0], cmd, settings["env"])


if __name__ == "__main__":
    main(sys.argv[1:])
