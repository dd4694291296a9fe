"""The room a hand-in's notebook kernel runs in: the jail, or (explicitly) none.

    with KernelRoom(job, bundle, work, notebook_dir, submitted, source, keep) as room:
        os.environ.update(room.jupyter_env())       # kernel spec + runtime folder
        ... nbgrader autograde, KernelManager.connection_file = room.connection_file
        log += room.kernel_output()                  # the tail of the kernel's stdout/stderr

On entering, the folder the notebook runs in (notebook_dir, nbgrader's
autograded folder) is filled the way nbgrader fills it: the hand-in's files,
then the instructor's copies of every file except the ones students edit
(keep). With the sandbox (Options.sandbox == "bwrap") a boundary.jail.Jail is
then built over it, in a slot of its own (slots.py):

- the kernel sees the interpreter and its packages, the data set (read-only)
  and a private copy of notebook_dir, nothing else of the machine; no network;
  its own pid and ipc namespaces; only stdin/stdout/stderr as descriptors;
- processes: at most Limits.processes of the slot's uid (RLIMIT_NPROC);
- disk: the copy of notebook_dir, /tmp, /dev/shm, the runtime folder (the
  connection file and the ipc sockets) and the kernel's own stdout/stderr log
  share one tmpfs of Limits.disk bytes;
- files the kernel writes stay in the jail: nbgrader's autograded folder on the
  grader's side holds only what nbgrader put there (the hand-in's files and the
  graded notebook), so nothing a hand-in writes while it runs reaches OUT;
- when the room closes, the kernel's pid namespace is gone with everything the
  hand-in started, however it detached itself, and the tmpfs is unmounted.

Without it (Options.sandbox == "none", only ever on explicit request) the
kernel runs as the grader's user with the setrlimit limits only.

The kernel itself is started by kernel_launcher.py (the kernel spec's command),
which applies the limits and the launcher settings written here.
"""
import contextlib
import os
import shutil
import sys
import tempfile

from instructor.assignment import REPO_ROOT, write_json
from instructor.sandbox.files import regular_files, tail, write_files
from instructor.sandbox.limits import kill_descendants

KERNEL_NAME = "softmax-grader"
KERNEL_OUTPUT_KEPT = 64 << 10     # bytes of the kernel's own stdout/stderr kept for the log
STATE_NOTE = "jail-state"         # in the worker's folder: where its jail's tmpfs is mounted


def release_leftovers(work):
    """Unmount and remove the tmpfs of a jail whose worker was killed before it could
    (grade_one calls this when a worker has ended, however it ended)."""
    from instructor.boundary.jail import _umount
    try:
        with open(os.path.join(work, STATE_NOTE), encoding="utf-8") as f:
            state = f.read().strip()
    except OSError:
        return
    if state and os.path.basename(state).startswith("jail-") and os.path.isdir(state):
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
        self.jailed = job.options.sandbox == "bwrap"
        self.jail = None
        self._stack = None

    # ---- entering and leaving -----------------------------------------------------------
    def __enter__(self):
        from instructor.boundary.jail import Jail, JailLimits
        from instructor.sandbox.slots import jail_slot
        stage_folder(self.submitted, self.source, self.notebook_dir, self.keep)
        self._stack = contextlib.ExitStack()
        try:
            if self.jailed:
                slot = self._stack.enter_context(jail_slot())
                limits = JailLimits(processes=self.job.limits.processes,
                                    disk_bytes=self.job.limits.disk)
                self.jail = self._stack.enter_context(Jail(
                    self.notebook_dir, data_dir=self.bundle.data_dir, deny=self.bundle.hide,
                    slot=slot, limits=limits))
                self.runtime_dir = self.jail.runtime_dir
                with open(os.path.join(self.work, STATE_NOTE), "w", encoding="utf-8") as f:
                    f.write(self.jail.state_dir)
                # Root's, outside every folder the jail shows, but in its tmpfs: what
                # the kernel writes to its stdout counts against the disk limit.
                self.output_log = os.path.join(self.jail.state_dir, "kernel-output.log")
                self._copy_mpl_cache(os.path.join(self.jail.state_dir, "tmp", "matplotlib"),
                                     self.jail.uid)
            else:
                self.runtime_dir = tempfile.mkdtemp(prefix="grader-")  # short: socket paths
                self._stack.callback(shutil.rmtree, self.runtime_dir, ignore_errors=True)
                self.output_log = os.path.join(self.work, "kernel-output.log")
                kdir = os.path.join(self.work, "kernel")
                for d in ("home", "tmp"):
                    os.makedirs(os.path.join(kdir, d), exist_ok=True)
                self._copy_mpl_cache(os.path.join(kdir, "matplotlib"), None)
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

    def _copy_mpl_cache(self, dest, uid):
        cache = self.bundle.mpl_cache
        if not cache or not os.path.isdir(cache):
            return
        files = regular_files(cache)
        write_files(dest, files)
        if uid is not None:
            for root, dirs, names in os.walk(dest):
                for name in [*dirs, *names, ""]:
                    os.chown(os.path.join(root, name) if name else root, uid, uid)

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
        job, bundle = self.job, self.bundle
        threads = job.options.threads
        if self.jailed:
            home = tmp = "/tmp"
            mpl, ipython = "/tmp/matplotlib", "/tmp/ipython"
            # BLAS threads count against the process limit, next to the kernel's own.
            threads = max(1, min(threads, job.limits.processes // 8))
        else:
            kdir = os.path.join(self.work, "kernel")
            home, tmp = os.path.join(kdir, "home"), os.path.join(kdir, "tmp")
            mpl, ipython = os.path.join(kdir, "matplotlib"), os.path.join(kdir, "ipython")
        env = {
            "PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/local/bin:/usr/bin:/bin",
            "HOME": home, "TMPDIR": tmp, "MPLCONFIGDIR": mpl, "MPLBACKEND": "agg",
            "IPYTHONDIR": ipython, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "CIFAR10_DIR": bundle.data_dir,
            "NBGRADER_EXECUTION": "autograde",
        }
        for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # machine-specific BLAS fixes
            if name in os.environ:
                env[name] = os.environ[name]
        return env

    def launcher_settings(self):
        limits = self.job.limits
        settings = {"python": sys.executable, "env": self.kernel_env(),
                    "memory": limits.memory, "file_size": limits.max_file_write,
                    "open_files": 1024, "output_log": self.output_log}
        if self.jailed:
            settings["wrapper"] = self.jail.command(cwd=self.notebook_dir)
            settings["processes"] = limits.processes
            settings["uid"] = self.jail.uid
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
            "env": {"PYTHONPATH": REPO_ROOT},
            "display_name": "softmax grader", "language": "python",
            # An interrupt as a message reaches the kernel in its own pid namespace too.
            "interrupt_mode": "message",
        })
