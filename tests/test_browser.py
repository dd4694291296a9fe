"""The student's flow in a real browser: JupyterLab, Run All, and nbgrader's Validate button.

The release is copied, filled in with the instructor's solution, and opened in
JupyterLab started as the students' README says (JUPYTER_CONFIG_PATH=jupyter_config),
with a small synthetic CIFAR-10. Headless Chromium, driven by Playwright, runs all
cells, saves, and presses Validate: the solved notebook passes; with the
regularization gradient doubled, the dialog names the failing check. Screenshots
go to build/browser/ for review. nbgrader's Validate handler holds up the whole
server while it runs: the slowest /api/status answer during each Validate is
written to build/browser/timings.json with the other measured times (recorded,
never asserted).

Needs Playwright for Python and a Chromium (Debian's `chromium`, or CHROMIUM=path);
without them the tests are skipped with the reason.
"""
import importlib.metadata
import json
import re
import shutil
import threading
import time

import pytest

import browser
from helpers import REPO, release_dist

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REASON = browser.missing_browser()
needs_browser = pytest.mark.skipif(REASON is not None, reason=f"browser test skipped: {REASON}")

SHOTS = REPO / "build" / "browser"
CONFIG_SOURCE = REPO / "instructor" / "data" / "release" / "jupyter_config"
# What nbgrader 0.9's Validate dialog says for a notebook whose tests all pass.
SUCCESS = "Success! Your notebook passes all the tests."
# The known mistake: the regularization part of the naive gradient doubled.
STUDENT_FILE = "cs231n/classifiers/softmax.py"
CORRECT, MISTAKE = "dW = dW / num_train + 2 * reg * W", "dW = dW / num_train + 4 * reg * W"
FAILING_TEST = "test_naive_grad"
# A diagnosis of that mistake speaks of the regularization gradient and of its factor.
DIAGNOSIS = re.compile(r"regulari[sz]ation.{0,200}(twice|double|2 \* reg \* W|factor)",
                       re.I | re.S)
# nbgrader's instructor tools that students must not see (frontend and server).
INSTRUCTOR_MENU = "Nbgrader"
INSTRUCTOR_URLS = ["/formgrader", "/assignments", "/courses", "/formgraders"]
# nbgrader's default of 30 s per cell would make Validate interrupt the sweep on a
# slow or busy machine and report "sweep at least a 2 x 2 grid"; the students'
# nbgrader_config.py must allow what the grader allows.
MIN_CELL_TIMEOUT = 300
# A 2 x 2 sweep instead of the solution's larger grid: the same checks, in less time.
SMALL_GRID = "learning_rates = [1e-6, 2e-6]\nregularization_strengths = [1e3, 3e3]\n"
JUPYTER_PACKAGES = ["jupyterlab", "notebook", "nbgrader", "ipykernel"]


def docstring_of(nb, grade_id):
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join(cell["source"]).strip().splitlines()[0]


def release_copy(tmp_path_factory):
    """A copy of the release, with the release's Jupyter config (added if the build lacks it)."""
    folder = tmp_path_factory.mktemp("student") / "softmax"
    shutil.copytree(release_dist(tmp_path_factory) / "softmax", folder)
    if not (folder / "jupyter_config").exists():
        shutil.copytree(CONFIG_SOURCE, folder / "jupyter_config")
    if not (folder / "nbgrader_config.py").exists():
        # Until the release ships the students' nbgrader_config.py: the setting it needs.
        (folder / "nbgrader_config.py").write_text(
            f"c = get_config()  # noqa: F821\nc.Execute.timeout = {MIN_CELL_TIMEOUT}\n")
    return folder


class StatusProbe(threading.Thread):
    """Requests /api/status over and over while running; keeps the slowest answer time."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.slowest, self.count, self._done = server, 0.0, 0, threading.Event()

    def run(self):
        while not self._done.is_set():
            start = time.monotonic()
            self.server.get("/api/status", timeout=600)
            self.slowest = max(self.slowest, time.monotonic() - start)
            self.count += 1
            self._done.wait(0.2)

    def stop(self):
        self._done.set()
        self.join()


def press_validate(page, server, name, timings):
    """Validate with a status probe running; (the dialog's text, nbgrader's result classes)."""
    probe = StatusProbe(server)
    probe.start()
    dialog, seconds = browser.validate(page)
    probe.stop()
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    # nbgrader marks the result with one of these classes inside the dialog
    state = [c for c in ("validation-success", "validation-failed")
             if dialog.locator("." + c).count()]
    result = dialog.locator(".jp-Dialog-body").inner_text(), state
    dialog.locator(".jp-mod-accept").click()
    dialog.wait_for(state="detached")
    timings[name] = {"validate_s": round(seconds, 1), "slowest_status_s": round(probe.slowest, 2),
                     "status_requests": probe.count}
    return result


@pytest.fixture(scope="module")
def flow(tmp_path_factory, synthetic_cifar):
    """The whole student flow, once; returns what each step showed."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    folder = release_copy(tmp_path_factory)
    browser.solve_release(str(folder), str(REPO), shorter=("learning_rates", SMALL_GRID))
    home = tmp_path_factory.mktemp("jupyter-home")
    seen, timings, start = {}, {}, time.monotonic()
    server = browser.Jupyter(str(folder), str(home), env={"CIFAR10_DIR": str(synthetic_cifar)})
    try:
        with sync_playwright() as p:
            context = browser.open_browser(p, str(home / "chromium-profile"))
            page = context.new_page()
            page.goto(server.lab_url("softmax.ipynb"))
            browser.wait_notebook_ready(page)
            page.screenshot(path=str(SHOTS / "opened.png"))
            seen["menus"] = browser.menu_labels(page)
            seen["validate_buttons"] = page.locator(
                ".jp-NotebookPanel-toolbar .jp-ToolbarButtonComponent", has_text="Validate").count()
            seen["sidebar_tabs"] = page.locator(".jp-SideBar .lm-TabBar-tab").evaluate_all(
                "tabs => tabs.map(t => t.title || t.getAttribute('title') || t.textContent)")
            seen["urls"] = {u: server.get(u)[0] for u in INSTRUCTOR_URLS}

            nb = json.loads((folder / "softmax.ipynb").read_text())
            n_code = sum(c["cell_type"] == "code" for c in nb["cells"])
            t = time.monotonic()
            browser.menu(page, "Run", "Run All Cells")
            browser.wait_run_all(page, n_code)
            timings["run_all_s"] = round(time.monotonic() - t, 1)
            browser.save(page)
            page.screenshot(path=str(SHOTS / "ran.png"))
            seen["saved"] = json.loads((folder / "softmax.ipynb").read_text())

            seen["solved"] = press_validate(page, server, "validate_solved", timings)
            browser.replace_once(str(folder / STUDENT_FILE), CORRECT, MISTAKE)
            seen["mistake"] = press_validate(page, server, "validate_mistake", timings)
            context.close()
    finally:
        server.stop()
    seen["log"] = server.log()
    seen["failing_docstring"] = docstring_of(nb, FAILING_TEST)
    seen["has_checks"] = (folder / "cs231n" / "checks.py").exists()
    timings["flow_s"] = round(time.monotonic() - start, 1)
    timings["versions"] = {n: importlib.metadata.version(n) for n in JUPYTER_PACKAGES + ["jupyter_server"]}
    (SHOTS / "timings.json").write_text(json.dumps(timings, indent=1) + "\n")
    print("browser flow timings:", timings)
    return seen


@needs_browser
def test_instructor_tools_are_hidden_and_validate_is_there(flow):
    assert INSTRUCTOR_MENU not in flow["menus"], flow["menus"]
    assert "Run" in flow["menus"] and "Kernel" in flow["menus"], flow["menus"]
    assert flow["validate_buttons"] == 1
    assert not any("Assignment" in (t or "") for t in flow["sidebar_tabs"]), flow["sidebar_tabs"]
    # the server side is off too: nbgrader's instructor handlers are not there
    assert all(code == 404 for code in flow["urls"].values()), flow["urls"]
    assert "formgrader | extension was successfully loaded" not in flow["log"]
    assert "validate_assignment | extension was successfully loaded" in flow["log"]


@needs_browser
def test_run_all_runs_every_cell_and_saves(flow):
    code = [c for c in flow["saved"]["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), "a code cell was not run"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, errors[0]


@needs_browser
def test_validate_passes_the_solved_notebook(flow):
    text, state = flow["solved"]
    assert SUCCESS in text, text
    assert state == ["validation-success"]


@needs_browser
def test_validate_names_the_failing_check(flow):
    text, state = flow["mistake"]
    assert SUCCESS not in text and state == ["validation-failed"], text
    assert flow["failing_docstring"] in text, text


@needs_browser
def test_validate_shows_the_diagnosis(flow):
    if not flow["has_checks"]:
        pytest.skip("the release has no cs231n/checks.py yet: no diagnosis to look for")
    text, _ = flow["mistake"]
    assert DIAGNOSIS.search(text), text


def test_the_jupyter_under_test_is_what_the_release_allows(tmp_path_factory):
    """The server of these tests comes from this environment: its Jupyter packages must be
    versions the release's requirements.txt allows, or the test proves nothing for students."""
    from importlib.metadata import version
    from packaging.requirements import Requirement

    lines = (release_dist(tmp_path_factory) / "softmax" / "requirements.txt").read_text().splitlines()
    reqs = {r.name: r for r in (Requirement(l) for l in lines if l.strip() and not l.startswith("#"))}
    for name in JUPYTER_PACKAGES:
        assert name in reqs, f"the release's requirements.txt does not name {name}"
        assert reqs[name].specifier.contains(version(name), prereleases=True), (
            f"{name} {version(name)} is installed, the release allows {reqs[name].specifier}")


def test_students_config_lets_validate_run_as_long_as_the_grader(tmp_path_factory):
    from traitlets.config.loader import PyFileConfigLoader

    path = release_dist(tmp_path_factory) / "softmax" / "nbgrader_config.py"
    if not path.exists():
        pytest.skip("the release has no nbgrader_config.py for students yet")
    timeout = PyFileConfigLoader(path.name, str(path.parent)).load_config().Execute.get("timeout", 30)
    assert timeout is None or timeout >= MIN_CELL_TIMEOUT, (
        f"{path.name}: Execute.timeout is {timeout}; Validate would interrupt slow cells")


@needs_browser
def test_without_the_config_the_instructor_tools_show(tmp_path_factory):
    """The control: the same release started without JUPYTER_CONFIG_PATH shows nbgrader's
    instructor menu, so the test above can fail."""
    from playwright.sync_api import sync_playwright

    folder = release_copy(tmp_path_factory)
    home = tmp_path_factory.mktemp("jupyter-home-plain")
    server = browser.Jupyter(str(folder), str(home), config_path=None)
    try:
        assert server.get("/formgrader")[0] != 404
        with sync_playwright() as p:
            context = browser.open_browser(p, str(home / "chromium-profile"))
            page = context.new_page()
            page.goto(server.lab_url(""))
            page.locator(".lm-MenuBar-itemLabel", has_text=INSTRUCTOR_MENU).wait_for(timeout=120000)
            page.screenshot(path=str(SHOTS / "without_config.png"))
            context.close()
    finally:
        server.stop()
