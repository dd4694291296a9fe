"""Start the Python kernel of a hand-in with its limits, in bubblewrap if asked.

    python -m instructor.sandbox.kernel_launcher SETTINGS.json -f CONNECTION_FILE [kernel args]

It is the command of the kernel spec that grade/one.py writes for each hand-in;
Jupyter runs it in place of `python -m ipykernel_launcher`. SETTINGS.json (also
written by grade/one.py) holds the limits, the kernel's environment and, for
the sandbox, the bwrap command prefix. The launcher applies the limits to
itself and then replaces itself with the kernel, which inherits them.
"""
import json
import os
import signal
import sys

from instructor.sandbox.limits import apply_kernel_limits, die_with_parent


def main(argv):
    with open(argv[0], encoding="utf-8") as f:
        settings = json.load(f)
    # If the grader dies, so does the kernel (bwrap's --die-with-parent does the
    # same for what runs inside it).
    die_with_parent(signal.SIGKILL)
    apply_kernel_limits(settings.get("memory", 0), settings.get("file_size", 0),
                        settings.get("open_files", 0))
    cmd = [settings["python"], "-m", "ipykernel_launcher", *argv[1:]]
    cmd = settings.get("wrapper", []) + cmd
    os.execve(cmd[0], cmd, settings["env"])


if __name__ == "__main__":
    main(sys.argv[1:])
