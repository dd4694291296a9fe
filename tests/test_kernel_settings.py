"""The kernel's settings outside the student's files: one BLAS thread and encrypted
channels for `make run` (tools/run_notebook.py), for nbgrader's Validate (the release's
nbgrader_config.py) and for JupyterLab's kernels (the release's jupyter_config/)."""
import json
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers import REPO
from tools import run_notebook

RELEASE = REPO / "instructor" / "data" / "release"
SETTINGS = {
    "nbgrader_config.py": "KernelManager",                     # Validate, nbgrader validate
    "jupyter_config/jupyter_server_config.py": "MappingKernelManager",   # JupyterLab
}
TCP_WARNING = "without encryption"
# What a settings file leaves in the environment and the config of the process loading it.
LOAD = r"""
import json, os, sys
from traitlets.config.loader import PyFileConfigLoader
path = sys.argv[1]
cfg = PyFileConfigLoader(os.path.basename(path), path=os.path.dirname(path)).load_config()
print(json.dumps({"env": {v: os.environ.get(v) for v in sys.argv[2:]},
                  "config": {k: dict(v) for k, v in cfg.items() if k.endswith("KernelManager")}}))
"""


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in run_notebook.BLAS_THREAD_VARIABLES
           and k not in ("JUPYTER_CONFIG_PATH", "JUPYTER_CONFIG_DIR")}
    env.update(extra)
    return env


def load_settings(rel, **env):
    out = subprocess.run([sys.executable, "-c", LOAD, str(RELEASE / rel),
                          *run_notebook.BLAS_THREAD_VARIABLES], env=clean_env(**env),
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def make_run_blas_threads():
    """The --blas-threads default of tools/run_notebook.py (what `make run` uses)."""
    source = (REPO / "tools" / "run_notebook.py").read_text()
    default = re.search(r'"--blas-threads", type=int, default=(\d+)', source)
    assert default, "tools/run_notebook.py has no --blas-threads default"
    return int(default.group(1))


@pytest.mark.parametrize("rel", SETTINGS)
def test_release_settings_give_the_kernel_make_runs_blas_threads(rel):
    loaded = load_settings(rel)
    threads = str(make_run_blas_threads())
    assert loaded["env"] == {v: threads for v in run_notebook.BLAS_THREAD_VARIABLES}


@pytest.mark.parametrize("rel", SETTINGS)
@pytest.mark.parametrize("mine", ["3", "8"])
def test_release_settings_keep_a_thread_count_the_student_exported(rel, mine):
    loaded = load_settings(rel, OPENBLAS_NUM_THREADS=mine)
    assert loaded["env"]["OPENBLAS_NUM_THREADS"] == mine
    assert loaded["env"]["OMP_NUM_THREADS"] == str(make_run_blas_threads())


@pytest.mark.parametrize("rel, section", SETTINGS.items())
def test_release_settings_encrypt_the_kernels_channels(rel, section):
    import zmq
    loaded = load_settings(rel)
    if not zmq.has("curve"):
        pytest.skip("this pyzmq has no CurveZMQ: the settings leave encryption off")
    assert loaded["config"] == {section: {"transport_encryption": "auto"}}


def test_the_classes_that_start_kernels_read_those_settings():
    """nbgrader's Execute builds a KernelManager subclass from its config; jupyter_server's
    kernels come from a MappingKernelManager subclass: both read the setting."""
    import zmq
    if not zmq.has("curve"):
        pytest.skip("this pyzmq has no CurveZMQ")
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
    from traitlets.config import Config
    cfg = Config()
    cfg.KernelManager.transport_encryption = "auto"
    cfg.MappingKernelManager.transport_encryption = "auto"
    assert AsyncKernelManager(config=cfg).transport_encryption == "auto"
    assert AsyncMappingKernelManager(config=cfg).transport_encryption == "auto"
    assert run_notebook.kernel_manager().transport_encryption == "auto"


SERVER = r"""
import json, os, sys
from jupyter_server.serverapp import ServerApp
app = ServerApp()
app.load_config_file()
print(json.dumps({"env": {v: os.environ.get(v) for v in sys.argv[1:]},
                  "kernels": dict(app.config.get("MappingKernelManager", {})),
                  "extensions": dict(app.config.ServerApp.get("jpserver_extensions", {}))}))
"""


def test_jupyter_started_with_the_release_config_path_reads_the_settings(tmp_path):
    """`JUPYTER_CONFIG_PATH=jupyter_config jupyter lab` (the students' README): the server
    reads jupyter_config/ as a whole, the .py settings beside the .json ones."""
    env = clean_env(JUPYTER_CONFIG_PATH=str(RELEASE / "jupyter_config"),
                    JUPYTER_CONFIG_DIR=str(tmp_path / "no-user-config"))
    out = subprocess.run([sys.executable, "-c", SERVER, *run_notebook.BLAS_THREAD_VARIABLES],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert set(loaded["env"].values()) == {str(make_run_blas_threads())}
    assert loaded["extensions"]["nbgrader.server_extensions.formgrader"] is False
    import zmq
    assert loaded["kernels"] == ({"transport_encryption": "auto"} if zmq.has("curve") else {})


def test_settings_are_not_in_the_students_files():
    """The student's room stays plain: no thread or BLAS settings in what they read."""
    student = [REPO / "softmax.ipynb", *(REPO / "cs231n").rglob("*.py")]
    for path in student:
        text = path.read_text()
        for var in run_notebook.BLAS_THREAD_VARIABLES + ["threadpool", "transport_encryption"]:
            assert var not in text, f"{path.relative_to(REPO)} mentions {var}"


# ---- the kernels themselves (slow: they start kernels) -----------------------------------
PROBE = ("import os, numpy\n"
         "from threadpoolctl import threadpool_info\n"
         "blas = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
         "assert blas and max(blas) == 1, (blas, os.environ.get('OPENBLAS_NUM_THREADS'))\n")


def probe_notebook():
    cell = new_code_cell(PROBE, metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "grade_id": "blas", "points": 1,
        "schema_version": 3}})
    return new_notebook(cells=[new_markdown_cell("# probe"), cell],
                        metadata={"kernelspec": {"name": "python3", "language": "python",
                                                 "display_name": "Python 3"}})


@pytest.mark.slow
def test_nbgrader_validate_honours_the_release_settings(tmp_path):
    """`nbgrader validate` run in a folder with the release's nbgrader_config.py (as the
    Validate button is): the kernel has one BLAS thread, and no TCP warning is printed."""
    shutil.copy(RELEASE / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    nbformat.write(probe_notebook(), tmp_path / "probe.ipynb")
    env = clean_env(JUPYTER_CONFIG_DIR=str(tmp_path / "no-user-config"),
                    PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", "probe.ipynb"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "Success!" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert TCP_WARNING not in proc.stderr + proc.stdout
    # Without the settings the same kernel takes the library's default (more than one
    # thread on a machine with several cores): the probe can tell.
    if (os.cpu_count() or 1) > 1:
        os.remove(tmp_path / "nbgrader_config.py")
        bare = subprocess.run([sys.executable, "-m", "nbgrader", "validate", "probe.ipynb"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert "Success!" not in bare.stdout and "AssertionError" in bare.stdout


SERVER_KERNEL = r"""
import asyncio, sys
from jupyter_server.serverapp import ServerApp
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

app = ServerApp()
app.load_config_file()          # what `jupyter lab` reads before it starts kernels


async def main():
    mkm = AsyncMappingKernelManager(config=app.config)
    kernel_id = await mkm.start_kernel(kernel_name="python3")
    client = mkm.get_kernel(kernel_id).client()
    client.start_channels()
    await client.wait_for_ready(timeout=120)
    reply = await client.execute_interactive(sys.argv[1], timeout=120,
                                             output_hook=lambda msg: None)
    print("STATUS", reply["content"]["status"], reply["content"].get("evalue", ""))
    client.stop_channels()
    await mkm.shutdown_all()

asyncio.run(main())
"""


@pytest.mark.slow
def test_jupyterlab_kernels_get_the_settings(tmp_path):
    """A kernel started by the server's kernel manager, with the server's settings read
    from jupyter_config/ as `jupyter lab` reads them: one BLAS thread, no TCP warning."""
    env = clean_env(JUPYTER_CONFIG_PATH=str(RELEASE / "jupyter_config"),
                    JUPYTER_CONFIG_DIR=str(tmp_path / "no-user-config"))
    proc = subprocess.run([sys.executable, "-c", SERVER_KERNEL, PROBE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert "STATUS ok" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert TCP_WARNING not in proc.stderr
    # Without the settings, the same kernel fails the probe (more than one BLAS thread
    # on a machine with several cores) and warns about TCP: the test can tell.
    if (os.cpu_count() or 1) > 1:
        env.pop("JUPYTER_CONFIG_PATH")
        bare = subprocess.run([sys.executable, "-c", SERVER_KERNEL, PROBE], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
        assert "STATUS error" in bare.stdout, bare.stdout[-2000:] + bare.stderr[-2000:]


@pytest.fixture(scope="module")
def make_run(synthetic_cifar, tmp_path_factory):
    """tools/run_notebook.py on the committed notebook and the synthetic data set."""
    out = tmp_path_factory.mktemp("run")
    env = clean_env(CIFAR10_DIR=str(synthetic_cifar), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "run_notebook.py"),
                           str(REPO / "softmax.ipynb"), "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=900)
    return proc, out


@pytest.mark.slow
def test_make_run_prints_no_tcp_warning(make_run):
    proc, _ = make_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert TCP_WARNING not in proc.stderr + proc.stdout
    assert "validation accuracy:" in proc.stdout


@pytest.mark.slow
def test_make_run_writes_an_offline_page(make_run):
    pytest.importorskip("latex2mathml")
    from test_offline_pages import page_facts
    proc, out = make_run
    page = (out / "softmax.html").read_text(encoding="utf-8")
    facts = page_facts(page)
    assert facts.remote == [] and "mathjax" not in page.lower()
    assert page.count("<math ") > 20 and 'class="tex"' not in page
    executed = nbformat.read(out / "softmax.executed.ipynb", as_version=4)
    figures = sum("image/png" in o.get("data", {}) for c in executed.cells
                  if c.cell_type == "code" for o in c.outputs)
    assert figures >= 4
    assert len(facts.alts) >= figures and all(a and a.strip() for a in facts.alts)
