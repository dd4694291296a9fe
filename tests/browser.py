"""Drive the student's JupyterLab in headless Chromium, for tests/test_browser.py.

A real JupyterLab server (from this Python's environment) is started on a free
localhost port with a token, in a folder prepared like a student's, and the
system's Chromium is driven by Playwright. Playwright's own browser download is
not used: CHROMIUM (environment) or `chromium` on PATH is the browser.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def missing_browser():
    """Why the browser test cannot run here, or None if it can."""
    try:
        import playwright.sync_api  # noqa: F401 (only whether it imports)
    except ImportError:
        return "Playwright for Python is not installed (pip install -r requirements-dev.txt)"
    if not chromium_path():
        return "no Chromium found (install Debian's chromium package, or set CHROMIUM)"
    return None


def chromium_path():
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return path if path and os.access(path, os.X_OK) else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- a student's folder ------------------------------------------------------------------
_REGION = re.compile(r"[ \t]*### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n?", re.S)


def solve_release(folder, repo, shorter=None):
    """Fill in folder (a copy of the release) with the instructor's solution, in place.

    The notebook's solution cells take the solution notebook's source, each solution
    region replaced by its inside (as a student would write it); shorter, if given,
    is (text, grid lines): in a region containing text, the lines assigning
    learning_rates and regularization_strengths become those grid lines (a smaller
    hyperparameter grid). Each .py file of the
    release that has a stub gets the repository's file.
    """
    nb_path = os.path.join(folder, "softmax.ipynb")
    with open(nb_path, encoding="utf-8") as f:
        nb = json.load(f)
    with open(os.path.join(repo, "softmax.ipynb"), encoding="utf-8") as f:
        answers = {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"])
                   for c in json.load(f)["cells"]}

    def inside(m):
        region = m.group(1)
        if shorter and shorter[0] in region:
            # Only the grid's lines change; the student's loop around them stays.
            region, n = re.subn(r"^learning_rates = .*\n^regularization_strengths = .*\n",
                                lambda _: shorter[1], region, flags=re.M)
            assert n == 1, "the solution's sweep has no grid lines to shorten"
        return region

    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            cell["source"] = _REGION.sub(inside, answers[meta["grade_id"]])
    with open(nb_path, "w", encoding="utf-8") as f:
        json.dump(nb, f, indent=1)
    for root, _, names in os.walk(os.path.join(folder, "cs231n")):
        for name in names:
            path = os.path.join(root, name)
            if not name.endswith(".py"):
                continue
            with open(path, encoding="utf-8") as f:
                stub = "raise NotImplementedError" in f.read()
            if stub:
                shutil.copyfile(os.path.join(repo, os.path.relpath(path, folder)), path)


def replace_once(path, old, new):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert text.count(old) == 1, f"{path}: expected {old!r} once"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))


# ---- the server --------------------------------------------------------------------------
class Jupyter:
    """`jupyter lab` started in folder as the students' README says; stop() ends it."""

    def __init__(self, folder, home, env=None, config_path="jupyter_config"):
        self.folder, self.port, self.token = folder, free_port(), os.urandom(12).hex()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, **(env or {}))
        # The student's command sets JUPYTER_CONFIG_PATH; the rest keeps the tester's
        # own Jupyter settings, runtime files and workspaces out of the run.
        env.pop("JUPYTER_CONFIG_PATH", None)
        if config_path:
            env["JUPYTER_CONFIG_PATH"] = config_path
        for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                         ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"), ("IPYTHONDIR", "ipython")]:
            env[var] = os.path.join(home, sub)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={self.port}",
               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={self.token}",
               "--ServerApp.port_retries=0", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
               "jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log_path = os.path.join(home, "jupyter.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self._wait_ready(120)

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.get("/api/status")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer within {timeout} s:\n{self.log()}")

    def get(self, path, timeout=10):
        """(HTTP status, body) of GET path with the token."""
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def lab_url(self, path):
        return f"{self.url}/lab/tree/{path}?token={self.token}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


# ---- the browser -------------------------------------------------------------------------
def open_browser(playwright, profile):
    """A headless Chromium context with a fresh profile folder."""
    return playwright.chromium.launch_persistent_context(
        profile, executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS,
        viewport={"width": 1400, "height": 1000})


def menu(page, top, item):
    """Click a main-menu entry, e.g. menu(page, "Run", "Run All Cells")."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()


def menu_labels(page):
    return [t.strip() for t in page.locator(".lm-MenuBar-itemLabel").all_inner_texts()]


def wait_notebook_ready(page, timeout_s=120):
    """Wait for the notebook to render and its kernel to be idle."""
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_s * 1000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=timeout_s * 1000)


def wait_run_all(page, n_code_cells, timeout_s=600):
    """Wait until every code cell shows an execution count ([1]:, [2]:, ...)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # textContent, not innerText: cells scrolled out of view are not rendered.
        prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_text_contents()
        done = [p for p in prompts if re.fullmatch(r"\[\d+\]:", p.strip())]
        if len(prompts) == n_code_cells and len(done) == n_code_cells:
            return
        page.wait_for_timeout(500)
    raise TimeoutError(f"Run All did not finish in {timeout_s} s: prompts {prompts}")


def save(page):
    """Save the notebook (File > Save Notebook) and wait until it is no longer dirty."""
    menu(page, "File", "Save Notebook")
    page.wait_for_selector(".jp-mod-current.jp-mod-dirty", state="detached", timeout=30000)


def validate(page, timeout_s=600):
    """Press nbgrader's Validate button; (its result dialog, seconds until it showed)."""
    start = time.monotonic()
    page.locator(".jp-NotebookPanel-toolbar .jp-ToolbarButtonComponent",
                 has_text="Validate").click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=timeout_s * 1000)
    seconds = time.monotonic() - start
    return dialog, seconds
