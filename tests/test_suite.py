"""The trusted grader's checks per test cell (instructor/checks/suite.py): the solution
passes every cell, each known mistake fails the right cell with its diagnosis, hidden
checks tell nothing of themselves, and grade_cell never raises."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from cs231n import checks
from cs231n.classifiers import Softmax
from cs231n.classifiers.softmax import softmax_loss_naive, softmax_loss_vectorized
from cs231n.data_utils import get_CIFAR10_data
from instructor.boundary.client import WorkerCrashed, WorkerTimeout
from instructor.boundary.results import NotebookResults
from instructor.checks import hidden, mistakes, suite

REPO = Path(__file__).resolve().parents[1]
GRID = [(1e-5, 1e2), (1e-5, 1e3), (2e-5, 1e2), (2e-5, 1e3)]   # short runs: a quick sweep
SWEEP_TRAINING = {"num_iters": 60, "batch_size": 100}


@pytest.fixture(autouse=True)
def short_retraining(monkeypatch):
    """The grader retrains the best setting as the sweep above trained it (short runs)."""
    from instructor.checks import common
    real = common.bar
    short = {"retrain_iters": SWEEP_TRAINING["num_iters"],
             "retrain_batch": SWEEP_TRAINING["batch_size"]}
    monkeypatch.setattr(common, "bar", lambda g, n: short.get(n, real(g, n)))


def auto_graded_cells():
    nb = json.loads((REPO / "softmax.ipynb").read_text())
    return [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade")
            and not c["metadata"]["nbgrader"].get("solution")]


def test_auto_tests_cover_exactly_the_notebooks_auto_graded_cells():
    assert list(suite.AUTO_TESTS) == auto_graded_cells()
    for grade_id, tests in suite.AUTO_TESTS.items():
        assert tests, grade_id
        flags = [getattr(t, "hidden", False) for t in tests]
        assert flags == sorted(flags), f"{grade_id}: visible checks come before hidden ones"


def test_the_notebook_holds_no_hidden_tests():
    text = (REPO / "softmax.ipynb").read_text()
    assert "HIDDEN TESTS" not in text
    for line in hidden_lines():
        assert line not in text


# ---- the grader's data ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def notebook_data(synthetic_cifar):
    return get_CIFAR10_data(cifar10_dir=str(synthetic_cifar))


@pytest.fixture(scope="module")
def trusted(synthetic_cifar):
    return suite.load_trusted_data(str(synthetic_cifar))


def test_trusted_data_is_the_notebooks_preprocessing(trusted, notebook_data):
    for name in ["X_val", "y_val", "X_test", "y_test"]:
        ours, theirs = getattr(trusted, name), notebook_data[name]
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, name
        assert np.array_equal(ours, theirs), name


def test_trusted_data_reads_cifar10_dir(synthetic_cifar, monkeypatch, trusted):
    monkeypatch.setenv("CIFAR10_DIR", str(synthetic_cifar))
    assert np.array_equal(suite.load_trusted_data().X_val, trusted.X_val)


def test_trusted_data_of_a_missing_folder_fails_clearly(tmp_path):
    from cs231n.data_utils import DatasetError
    with pytest.raises(DatasetError, match="not found"):
        suite.load_trusted_data(str(tmp_path / "nothing"))


# ---- the solution ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sweep(notebook_data):
    """The notebook's sweep with the solution on a small grid: (namespace, best classifier)."""
    d = notebook_data
    results, best_val, best = {}, -1.0, None
    for lr, reg in GRID:
        clf = Softmax(seed=0)
        clf.train(d["X_train"], d["y_train"], learning_rate=lr, reg=reg, **SWEEP_TRAINING)
        val = float(np.mean(clf.predict(d["X_val"]) == d["y_val"]))
        results[(lr, reg)] = (float(np.mean(clf.predict(d["X_train"]) == d["y_train"])), val)
        if val > best_val:
            best_val, best = val, clf
    test_accuracy = float(np.mean(best.predict(d["X_test"]) == d["y_test"]))
    return dict(results=results, best_val=best_val, best_softmax=best,
                test_accuracy=test_accuracy)


def solution(trusted, namespace, **functions):
    return suite.subject_from_functions(results=namespace, data=trusted, **functions)


@pytest.mark.parametrize("grade_id", list(suite.AUTO_TESTS))
def test_the_solution_passes_every_cell(grade_id, trusted, sweep):
    verdict = suite.grade_cell(grade_id, solution(trusted, sweep))
    assert verdict == suite.Verdict(grade_id, True, ""), verdict.message


def test_each_check_of_the_solution_passes_on_its_own(trusted, sweep):
    subject = solution(trusted, sweep)
    for tests in suite.AUTO_TESTS.values():
        for check in tests:
            assert check(subject) is None


# ---- known mistakes -------------------------------------------------------------------------
def expected_cells(function):
    return {"softmax_loss_naive": "test_naive_loss",
            "softmax_loss_vectorized": "test_vectorized"}[function]


def shows_in_the_loss(mistake):
    """Whether a known mistake changes the loss on some probe (else only the gradient)."""
    prints = checks.load_check_data()["content"]["loss"]["fingerprints"].values()
    known = [p for p in prints if mistake in p]
    return not known or any(p[mistake]["loss"] != p["correct"]["loss"] for p in known)


@pytest.mark.parametrize("which", ["loss_naive", "loss_vectorized"])
@pytest.mark.parametrize("mistake", sorted(mistakes.LOSS_MISTAKES))
def test_a_loss_mistake_fails_its_cell_with_its_diagnosis(mistake, which, trusted, sweep):
    subject = solution(trusted, sweep, **{which: mistakes.LOSS_MISTAKES[mistake]})
    name = "softmax_" + which
    verdicts = {g: suite.grade_cell(g, subject) for g in suite.AUTO_TESTS}
    cell = expected_cells(name)
    if which == "loss_naive" and not shows_in_the_loss(mistake):
        # The naive loss and its gradient are tested by two cells: a mistake only in
        # the gradient costs the gradient's cell, not the loss's as well.
        assert verdicts["test_naive_loss"].passed, verdicts["test_naive_loss"].message
        cell = "test_naive_grad"
    assert not verdicts[cell].passed
    assert verdicts[cell].message.startswith(f"{name}: ")
    assert checks.MISTAKES[mistake] in verdicts[cell].message
    # The other loss function's cell, training and the notebook values are untouched.
    other = "test_vectorized" if which == "loss_naive" else "test_naive_loss"
    for g in [other, "test_sgd", "test_sweep", "test_accuracy"]:
        assert verdicts[g].passed, (g, verdicts[g].message)


@pytest.mark.parametrize("mistake", ["reg_grad_double", "grad_sign", "onehot_missing"])
def test_a_naive_gradient_mistake_fails_the_gradient_cell(mistake, trusted, sweep):
    subject = solution(trusted, sweep, loss_naive=mistakes.LOSS_MISTAKES[mistake])
    verdict = suite.grade_cell("test_naive_grad", subject)
    assert not verdict.passed
    assert checks.MISTAKES[mistake] in verdict.message
    assert suite.grade_cell("test_naive_loss", subject).passed


@pytest.mark.parametrize("mistake", sorted(mistakes.TRAIN_MISTAKES))
def test_a_training_mistake_fails_test_sgd_with_its_diagnosis(mistake, trusted, sweep):
    subject = solution(trusted, sweep, make_classifier=mistakes.TRAIN_MISTAKES[mistake],
                       sample_batch=Softmax(0).sample_batch)
    verdict = suite.grade_cell("test_sgd", subject)
    assert not verdict.passed
    assert checks.MISTAKES[mistake] in verdict.message, verdict.message


@pytest.mark.parametrize("mistake", sorted(mistakes.PREDICT_MISTAKES))
def test_a_predict_mistake_fails_test_sgd_with_its_diagnosis(mistake, trusted, sweep):
    class Wrong(Softmax):        # trains right, predicts with the mistake
        def predict(self, X):
            return mistakes.PREDICT_MISTAKES[mistake](self, X)
    subject = solution(trusted, sweep, make_classifier=Wrong)
    verdict = suite.grade_cell("test_sgd", subject)
    assert not verdict.passed
    assert checks.MISTAKES[mistake] in verdict.message, verdict.message


@pytest.mark.parametrize("variant", sorted(mistakes.SAMPLE_BATCH_MISTAKES))
def test_a_sample_batch_mistake_fails_test_sgd(variant, trusted, sweep):
    subject = solution(trusted, sweep, sample_batch=mistakes.SAMPLE_BATCH_MISTAKES[variant])
    verdict = suite.grade_cell("test_sgd", subject)
    assert not verdict.passed
    assert verdict.message.startswith("sample_batch")


def test_the_untouched_release_says_what_is_missing(trusted):
    def stub(*args, **kwargs):
        raise NotImplementedError()
    subject = suite.subject_from_functions(loss_naive=stub, loss_vectorized=stub,
                                           sample_batch=stub, data=trusted,
                                           results=NotebookResults(
                                               best_val=-1.0, results={},
                                               problems={"best_W": "best_softmax is None"}))
    verdicts = {g: suite.grade_cell(g, subject) for g in suite.AUTO_TESTS}
    for cell, name in [("test_naive_loss", "softmax_loss_naive"),
                       ("test_naive_grad", "softmax_loss_naive"),
                       ("test_vectorized", "softmax_loss_vectorized"),
                       ("test_sgd", "sample_batch")]:
        assert verdicts[cell].message.startswith(f"{name} is not implemented yet: fill in its "
                                                 "TODO in cs231n/"), verdicts[cell].message
    assert "2 x 2 grid" in verdicts["test_sweep"].message
    assert "best_softmax is None" in verdicts["test_accuracy"].message


# ---- notebook-level values ------------------------------------------------------------------
def test_a_forged_best_val_fails_the_sweep(trusted, sweep):
    forged = dict(sweep, best_val=0.99)
    verdict = suite.grade_cell("test_sweep", solution(trusted, forged))
    assert not verdict.passed and "best_val" in verdict.message


def test_weights_that_do_not_classify_fail_sweep_and_accuracy(trusted, sweep):
    class Untrained:
        W = np.zeros_like(sweep["best_softmax"].W)
    weak = dict(sweep, best_softmax=Untrained, best_val=0.99)
    subject = solution(trusted, weak)
    for cell in ["test_sweep", "test_accuracy"]:
        verdict = suite.grade_cell(cell, subject)
        assert not verdict.passed and "accuracy" in verdict.message


def test_a_sweep_below_the_hidden_bar_is_told_without_the_bar(trusted, sweep, monkeypatch):
    real = hidden.bar
    monkeypatch.setattr(hidden, "bar", lambda g, n: 0.999 if n == "sweep_bar" else real(g, n))
    verdict = suite.grade_cell("test_sweep", solution(trusted, sweep))
    assert not verdict.passed and "not high enough" in verdict.message
    assert "0.999" not in verdict.message


@pytest.mark.parametrize("shape", [(5, 10), (3073,), (3073, 1)])
def test_weights_of_the_wrong_shape_fail_clearly(trusted, sweep, shape):
    class Odd:
        W = np.zeros(shape)
    verdict = suite.grade_cell("test_accuracy", solution(trusted, dict(sweep, best_softmax=Odd)))
    assert not verdict.passed and "best_softmax.W has shape" in verdict.message


def test_without_notebook_results_the_cells_fail_clearly(trusted):
    subject = suite.subject_from_functions(data=trusted)
    for cell in ["test_sweep", "test_accuracy"]:
        verdict = suite.grade_cell(cell, subject)
        assert not verdict.passed and "could not be read" in verdict.message


# ---- hidden checks --------------------------------------------------------------------------
def hidden_lines():
    """Distinctive code lines of hidden.py (what must never reach a student)."""
    text = (REPO / "instructor" / "checks" / "hidden.py").read_text()
    given = {line.strip() for path in (REPO / "cs231n").rglob("*.py")
             for line in path.read_text().splitlines()}
    lines = {line.strip() for line in text.splitlines()} - given
    return sorted(s for s in lines if len(s) >= 16
                  and not s.startswith(('"', "#", "def ", "import ", "from ")))


def hidden_numbers():
    """The numbers of the hidden problems: their probe inputs and fingerprints."""
    numbers = set()

    def walk(node):
        if isinstance(node, float) and node not in (0.0, 1.0, -1.0, 1000.0, -1000.0):
            numbers.add(f"{node:.6g}")
        elif isinstance(node, (list, dict)):
            for v in (node.values() if isinstance(node, dict) else node):
                walk(v)
    walk(hidden.hidden_data()["content"])
    return numbers


def loop_vectorized(W, X, y, reg):
    """The solution's values, computed with a loop (the no-loops check's target)."""
    loss, dW = softmax_loss_vectorized(W, X, y, reg)
    for _ in range(1):
        pass
    return loss, dW


# (grade_id, functions) where only a hidden check fails.
HIDDEN_ONLY = {
    "hidden_loss": ("test_vectorized", dict(loss_vectorized=lambda W, X, y, reg: (
        softmax_loss_vectorized(W, X, y, reg) if W.shape[0] < 8 else (1.5, W * 0.0)))),
    "hidden_raises": ("test_naive_loss", dict(loss_naive=lambda W, X, y, reg: (
        softmax_loss_naive(W, X, y, reg) if W.shape[0] < 8
        else (_ for _ in ()).throw(ValueError(f"I got W = {W.tolist()}"))))),
    "hidden_loops": ("test_vectorized", dict(sources={
        "cs231n/classifiers/softmax.py": "def softmax_loss_vectorized(W, X, y, reg):\n"
                                         "    for i in range(X.shape[0]):\n        pass\n"})),
}


@pytest.mark.parametrize("case", sorted(HIDDEN_ONLY))
def test_hidden_checks_fail_without_telling_their_code_or_numbers(case, trusted, sweep):
    grade_id, functions = HIDDEN_ONLY[case]
    subject = solution(trusted, sweep, **functions)
    visible = [t for t in suite.AUTO_TESTS[grade_id] if not getattr(t, "hidden", False)]
    for check in visible:
        check(subject)           # the visible checks pass: a hidden one fails the cell
    verdict = suite.grade_cell(grade_id, subject)
    assert not verdict.passed and verdict.message
    for line in hidden_lines():
        assert line not in verdict.message
    numbers = re.findall(r"-?\d+\.\d+(?:e-?\d+)?", verdict.message)
    assert not set(numbers) & hidden_numbers(), verdict.message
    assert "I got W" not in verdict.message
    if case == "hidden_loops":
        assert "loop" in verdict.message


@pytest.mark.parametrize("mistake", ["reg_grad_half", "no_shift", "grad_sign"])
def test_a_mistake_seen_only_by_hidden_probes_is_named_without_numbers(mistake, trusted,
                                                                       sweep):
    wrong = mistakes.LOSS_MISTAKES[mistake]

    def loss_fn(W, X, y, reg):   # right on the shipped probes, wrong on bigger ones
        return (softmax_loss_vectorized if W.shape[0] < 8 else wrong)(W, X, y, reg)
    verdict = suite.grade_cell("test_vectorized", solution(trusted, sweep,
                                                           loss_vectorized=loss_fn))
    assert not verdict.passed
    assert checks.MISTAKES[mistake] in verdict.message
    assert len(verdict.message.splitlines()) <= 2, verdict.message
    assert not set(re.findall(r"-?\d+\.\d+", verdict.message)) & hidden_numbers()


# ---- grade_cell never raises ----------------------------------------------------------------
def raising(error):
    def fn(*args, **kwargs):
        raise error
    return fn


class Junk:
    def __getattr__(self, name):
        raise RuntimeError("junk")

    def __repr__(self):
        raise RuntimeError("no repr either")


class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("no message")


BAD = {
    "raises": raising(ZeroDivisionError("oops")),
    "junk": lambda *a, **k: Junk(),
    "none": lambda *a, **k: None,
    "strings": lambda *a, **k: ("loss", "dW"),
    "nan": lambda W, X, y, reg: (float("nan"), np.full(W.shape, np.nan)),
    "exit": raising(SystemExit(3)),
    "bad_str": raising(BadStr()),
    "timeout": raising(WorkerTimeout("no answer within 60 s")),
    "crashed": raising(WorkerCrashed("worker ended with signal 9")),
}


@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("grade_id", list(suite.AUTO_TESTS))
def test_grade_cell_never_raises(kind, grade_id, trusted, sweep):
    fn = BAD[kind]
    subject = solution(trusted, sweep, loss_naive=fn, loss_vectorized=fn, sample_batch=fn,
                       make_classifier=fn)
    verdict = suite.grade_cell(grade_id, subject)
    assert isinstance(verdict, suite.Verdict) and verdict.grade_id == grade_id
    if grade_id not in ("test_sweep", "test_accuracy"):   # these only read numbers
        assert not verdict.passed and verdict.message
    if kind == "timeout" and not verdict.passed:
        assert "did not finish in the time allowed" in verdict.message
    if kind == "crashed" and not verdict.passed:
        assert "crashed" in verdict.message


def test_a_worker_timeout_like_exception_is_named_a_timeout(trusted, sweep):
    class WorkerTimeout(Exception):     # the name is what counts, from any module
        pass
    subject = solution(trusted, sweep, loss_vectorized=raising(WorkerTimeout("60 s")))
    verdict = suite.grade_cell("test_vectorized", subject)
    assert verdict.message.startswith("softmax_loss_vectorized did not finish in the time")


def test_junk_notebook_results_fail_clearly(trusted):
    junk = NotebookResults(best_val=0.5, best_W=np.zeros((2, 2)), results={(1.0, 2.0): (0.5, 0.5)})
    for cell in ["test_sweep", "test_accuracy"]:
        verdict = suite.grade_cell(cell, suite.subject_from_functions(results=junk, data=trusted))
        assert not verdict.passed and verdict.message


def test_an_unknown_cell_is_a_failed_verdict(trusted, sweep):
    verdict = suite.grade_cell("test_nothing", solution(trusted, sweep))
    assert not verdict.passed and "test_nothing" in verdict.message


def test_a_spent_time_budget_fails_the_cell_as_too_slow(trusted, sweep):
    from instructor.boundary.client import BudgetSpent
    subject = solution(trusted, sweep, loss_vectorized=raising(BudgetSpent("all used")))
    verdict = suite.grade_cell("test_vectorized", subject)
    assert not verdict.passed and "too slow" in verdict.message


@pytest.fixture
def fresh_hidden(monkeypatch):
    """hidden.py's per-run problems drawn anew, and again after the test."""
    hidden._hidden_data.cache_clear()
    yield monkeypatch
    hidden._hidden_data.cache_clear()


def test_hidden_problems_differ_between_runs_unless_a_seed_is_fixed(fresh_hidden):
    fresh_hidden.delenv(hidden.SEED_VARIABLE, raising=False)
    first = hidden.hidden_data()
    hidden._hidden_data.cache_clear()
    second = hidden.hidden_data()
    assert first["content"] != second["content"]
    fresh_hidden.setenv(hidden.SEED_VARIABLE, "12345")
    hidden._hidden_data.cache_clear()
    fixed = hidden.hidden_data()
    hidden._hidden_data.cache_clear()
    assert hidden.hidden_data() == fixed


@pytest.mark.parametrize("seed", [1, 2024, 987654321])
def test_the_solution_passes_the_hidden_checks_whatever_the_seed(trusted, sweep, seed,
                                                                  fresh_hidden):
    fresh_hidden.setenv(hidden.SEED_VARIABLE, str(seed))
    subject = solution(trusted, sweep)
    for grade_id in ("test_naive_loss", "test_naive_grad", "test_vectorized", "test_sgd"):
        verdict = suite.grade_cell(grade_id, subject)
        assert verdict.passed, (seed, verdict.message)


@pytest.mark.parametrize("mistake", ["loss_not_averaged", "grad_sign", "reg_grad_half",
                                     "modifies_X"])
def test_a_hidden_failure_names_the_mistake_and_shows_no_numbers(trusted, sweep, mistake,
                                                                 fresh_hidden):
    fresh_hidden.setenv(hidden.SEED_VARIABLE, "77")
    wrong = mistakes.LOSS_MISTAKES[mistake]
    error = None
    try:
        hidden.vectorized_hidden_problems(suite.subject_from_functions(loss_vectorized=wrong))
    except checks.CheckFailed as e:
        error = e
    assert error is not None
    from instructor.grade.verdicts import _hidden_message
    message = _hidden_message(error, suite.spec())
    assert message.startswith("softmax_loss_vectorized: ")
    assert not re.search(r"\d\.\d|\(\d+, \d+\)", message), message


@pytest.mark.parametrize("forge", ["other_weights", "scaled", "wrong_best_key"])
def test_weights_not_from_the_students_training_earn_nothing(trusted, sweep, forge):
    """best_softmax.W must be what the student's classifier trains with the best setting
    of results: weights fitted elsewhere (or results naming another setting) fail."""
    W = sweep["best_softmax"].W
    results = dict(sweep["results"])
    if forge == "other_weights":
        rng = np.random.default_rng(5)
        W = W + 0.05 * np.abs(W).mean() * rng.standard_normal(W.shape)
    elif forge == "scaled":
        W = 1.5 * W
    else:   # the best validation accuracy moved to a setting that did not train best_W
        best = max(results, key=lambda k: results[k][1])
        other = next(k for k in results if k != best)
        results[other] = (results[other][0], 1.0)

    class Forged:
        pass
    Forged.W = W
    subject = solution(trusted, dict(sweep, best_softmax=Forged, results=results))
    for cell in ["test_sweep", "test_accuracy"]:
        verdict = suite.grade_cell(cell, subject)
        assert not verdict.passed, (cell, forge)
        assert "not what your Softmax(seed=0) learns" in verdict.message or \
            "not above" in verdict.message or "not high enough" in verdict.message


def test_the_retraining_runs_once_per_hand_in(trusted, sweep):
    calls = []

    def counting(seed=None):
        clf = Softmax(seed)
        calls.append(seed)
        return clf
    subject = solution(trusted, sweep, make_classifier=counting)
    calls.clear()
    assert suite.grade_cell("test_sweep", subject).passed
    assert suite.grade_cell("test_accuracy", subject).passed
    assert calls == [0]
