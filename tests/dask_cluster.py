"""A real local Dask cluster for tests: a scheduler and worker processes started
with `python -m dask scheduler|worker`, as an instructor starts them by hand."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def installed_grader():
    """Where this Python imports a grader from in any folder without PYTHONPATH (make
    setup installs the project editable), or None."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", "import instructor; print(instructor.__file__)"],
                         cwd="/", env=env, capture_output=True, text=True)
    return Path(run.stdout.strip()).resolve() if run.returncode == 0 else None


def installed():
    """True if this Python imports this checkout's grader from any folder."""
    where = installed_grader()
    return where is not None and where.is_relative_to(REPO)


def project_env(**extra):
    """The environment of a scheduler or worker started outside the project's folder:
    no PYTHONPATH where the project is installed (as the README starts them); else
    (a checkout without make setup) PYTHONPATH set to it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if not installed():
        env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


class LocalDaskCluster:
    """Scheduler and workers as subprocesses; add_worker(env) starts one more."""

    def __init__(self, folder, scheduler_imports_grader=True):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.workers = {}                 # name -> Popen
        info = self.folder / "scheduler.json"
        # The scheduler unpickles the tasks, so it imports the grader too.
        if scheduler_imports_grader:
            env = project_env()
        else:   # a Python that has not got the project: none on its path
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            env["PYTHONNOUSERSITE"] = "1"
        self.scheduler = self._start("scheduler", ["--scheduler-file", info, "--host",
                                                   "127.0.0.1", "--port", "0",
                                                   "--no-dashboard"], env)
        self.address = json.loads(self._wait_for(info).read_text())["address"]

    def _start(self, name, args, env):
        log = open(self.folder / f"{name}.log", "wb")
        return subprocess.Popen([sys.executable, "-m", "dask", name.split("-")[0], *map(str, args)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=self.folder, start_new_session=True)

    def _wait_for(self, path, timeout=120):
        deadline = time.monotonic() + timeout
        while not path.exists() or not path.read_text().strip():
            assert time.monotonic() < deadline, f"{path} never appeared"
            time.sleep(0.2)
        return path

    def add_worker(self, name, cifar_dir):
        """A worker process (no nanny: killing it kills the worker) with one thread,
        started in a folder of its own (not the project's) with CIFAR10_DIR=cifar_dir."""
        env = project_env(CIFAR10_DIR=str(cifar_dir))
        env.pop("DASK_SCHEDULER_ADDRESS", None)
        local = self.folder / name
        self.workers[name] = self._start(
            f"worker-{name}", [self.address, "--name", name, "--nthreads", "1", "--no-nanny",
                               "--local-directory", local, "--host", "127.0.0.1"], env)
        return self.workers[name]

    def wait_for_workers(self, n, timeout=120):
        from distributed import Client
        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(n, timeout=timeout)

    def kill(self, name):
        self.workers[name].send_signal(signal.SIGKILL)
        self.workers[name].wait()

    def close(self):
        for proc in [*self.workers.values(), self.scheduler]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.workers.values(), self.scheduler]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def log(self, name):
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""
