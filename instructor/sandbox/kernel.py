"""The room a hand-in's notebook kernel runs in: the jail, or (explicitly) none.

    with KernelRoom(job, bundle, work, notebook_dir, submitted, source, keep) as room:
        os.environ.update(room.jupyter_env())       # kernel spec + runtime folder
        ... nbgrader autograde, KernelManager.connection_file = room.connection_file
        log += room.kernel_output()                  # the tail of the kernel's stdout/stderr

On entering, the folder the notebook runs in (notebook_dir, nbgrader's
autograded folder) is filled the way nbgrader fills it: the hand-in's files,
then the instructor's copies of every file except the ones students edit
(keep). Then a box (sandbox/box.py) of the job's tier (Options.sandbox:
namespaces, uid or none) is built over it, with the job's limits:

- namespaces: the kernel sees the interpreter and its packages, the data set
  (read-only) and a private copy of notebook_dir, nothing else of the machine; no
  network; its own pid and ipc namespaces; one tmpfs of Limits.disk bytes for the
  copy, /tmp and /dev/shm; at most Limits.processes processes;
- uid: the kernel runs under a slot's own uid in a private copy of notebook_dir,
  the instructor's files, OUT and the submissions unreadable to it, no sockets but
  Unix ones, at most Limits.processes processes;
- none (only ever on explicit request): as the grader's user, rlimits only.

Files the kernel writes stay in the box: nbgrader's autograded folder on the
grader's side holds only what nbgrader put there (the hand-in's files and the
graded notebook), so nothing a hand-in writes while it runs reaches OUT. When
the room closes, everything the hand-in started is killed, however it detached
itself, and the box's folders go.

The kernel itself is started by kernel_launcher.py (the kernel spec's command),
which applies the limits and the launcher settings written here.
"""
import contextlib
import os
import shutil
import sys
import tempfile

from instructor.assignment import spec as assignment_spec
from instructor.assignment import write_json
from instructor.sandbox.box import Box
from instructor.sandbox.files import regular_files, tail, write_files
from instructor.sandbox.limits import kill_descendants

KERNEL_NAME = "jailed-grader"
# The folder holding the instructor package (the checkout, or site-packages when installed).
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNEL_OUTPUT_KEPT = 64 << 10     # bytes of the kernel's own stdout/stderr kept for the log
STATE_NOTE = "jail-state"         # in the worker's folder: its box's folders on the host


def release_leftovers(work):
    """Unmount and remove the folders of a box whose worker was killed before it could
    (grade_one calls this when a worker has ended, however it ended)."""
    from instructor.boundary.jail import _umount
    try:
        with open(os.path.join(work, STATE_NOTE), encoding="utf-8") as f:
            state = f.read().strip()
    except OSError:
        return
    name = os.path.basename(state)
    if state and name.startswith(("jail-", "box-")) and os.path.isdir(state):
        if name.startswith("jail-"):
            _umount(state)
        shutil.rmtree(state, ignore_errors=True)


def stage_folder(submitted, source, dest, keep):
    """Fill dest as nbgrader autograde fills its folder: the hand-in's non-notebook
    files, then the instructor's (source) files except the paths in keep. Only
    regular files are read."""
    not_nb = lambda rel: not rel.endswith(".ipynb")
    write_files(dest, regular_files(submitted, not_nb))
    write_files(dest, regular_files(source, lambda rel: not_nb(rel) and rel not in keep))


class KernelRoom:
    def __init__(self, job, bundle, work, notebook_dir, submitted, source, keep):
        self.job, self.bundle, self.work = job, bundle, work
        self.notebook_dir = os.path.realpath(notebook_dir)
        self.submitted, self.source, self.keep = submitted, source, set(keep)
        self.box = None
        self._stack = None

    # ---- entering and leaving -----------------------------------------------------------
    def __enter__(self):
        stage_folder(self.submitted, self.source, self.notebook_dir, self.keep)
        self._stack = contextlib.ExitStack()
        try:
            from instructor.boundary.client import WORKER_FILES
            self.box = box = self._stack.enter_context(Box(
                self.job.options.sandbox, self.notebook_dir, self.job.limits,
                data_dir=self.bundle.data_dir, deny=self.bundle.hide,
                reachable=list(WORKER_FILES)))   # the trusted worker's, beside it
            self.runtime_dir = box.runtime_dir
            leftover = box.mounted or (box.state_dir if box.tier == "uid" else None)
            if leftover:
                with open(os.path.join(self.work, STATE_NOTE), "w", encoding="utf-8") as f:
                    f.write(leftover)
            # Outside every folder the box shows; with the namespaces tier as root in its
            # tmpfs: what the kernel writes to its stdout counts against the disk limit.
            self.output_log = os.path.join(box.state_dir, "kernel-output.log")
            self._copy_mpl_cache(os.path.join(box.seed_tmp, "matplotlib"))
            self._write_spec()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc):
        try:
            # The kernel is shut down by now; anything left of it (bwrap and its
            # namespace, or a bare kernel's strays) goes before the tmpfs does.
            kill_descendants()
            self._kernel_output = tail(self.output_log, KERNEL_OUTPUT_KEPT)
        finally:
            self._stack.close()

    def kernel_output(self):
        """The end of what the kernel wrote to its own stdout/stderr (not to cells)."""
        text = getattr(self, "_kernel_output", None)
        if text is None:
            text = tail(self.output_log, KERNEL_OUTPUT_KEPT)
        return text

    def _copy_mpl_cache(self, dest):
        cache = self.bundle.mpl_cache
        if not cache or not os.path.isdir(cache):
            return
        write_files(dest, regular_files(cache))
        self.box.give(dest)

    # ---- the kernel spec ----------------------------------------------------------------
    @property
    def connection_file(self):
        return os.path.join(self.runtime_dir, "kernel.json")

    def jupyter_env(self):
        """What jupyter_client in the grader needs to find the kernel spec and put the
        connection file and sockets where the kernel can reach them."""
        return {"JUPYTER_PATH": os.path.join(self.work, "jupyter"),
                "JUPYTER_RUNTIME_DIR": self.runtime_dir,
                "JUPYTER_CONFIG_DIR": os.path.join(self.work, "jupyter-config")}

    def kernel_env(self):
        threads = self.job.options.threads
        if self.box.process_limit():
            # BLAS threads count against the process limit, next to the kernel's own.
            threads = max(1, min(threads, self.job.limits.processes // 8))
        # The notebook finds the data set by the variable its spec names.
        return self.box.env(threads=threads, NBGRADER_EXECUTION="autograde",
                            **assignment_spec().dataset_env(self.bundle.data_dir))

    def launcher_settings(self):
        limits, box = self.job.limits, self.box
        settings = {"python": box.python, "env": self.kernel_env(),
                    "memory": limits.memory, "file_size": limits.max_file_write,
                    "open_files": 1024, "output_log": self.output_log,
                    "wrapper": box.command(cwd=box.folder), "uid": box.uid,
                    "processes": limits.processes if box.process_limit() else 0,
                    # a normal user's namespaces: the limit counts the user's own processes too
                    "processes_on_top": box.tier == "namespaces" and box.uid is None}
        return settings

    def _write_spec(self):
        path = os.path.join(self.work, "kernel_settings.json")
        write_json(path, self.launcher_settings())
        spec_dir = os.path.join(self.work, "jupyter", "kernels", KERNEL_NAME)
        os.makedirs(spec_dir, exist_ok=True)
        write_json(os.path.join(spec_dir, "kernel.json"), {
            "argv": [sys.executable, "-m", "instructor.sandbox.kernel_launcher", path,
                     "-f", "{connection_file}"],
            # Where the launcher (not the kernel: it gets a clean environment) finds this package.
            "env": {"PYTHONPATH": PACKAGE_ROOT},
            "display_name": "jailed grader", "language": "python",
            # An interrupt as a message reaches the kernel in its own pid namespace too.
            "interrupt_mode": "message",
        })
