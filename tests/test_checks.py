"""The diagnosing checks: each known mistake is named, the solution gets no hint."""
import ast
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from cs231n import checks
from cs231n.checks import CheckDataError, CheckFailed
from cs231n.classifiers import Softmax
from cs231n.classifiers.softmax import softmax_loss_naive, softmax_loss_vectorized
from instructor.checks import fingerprints, mistakes

REPO = Path(__file__).resolve().parents[1]
LOSS_NAMES = ["softmax_loss_naive", "softmax_loss_vectorized"]
SOLUTIONS = {"softmax_loss_naive": softmax_loss_naive,
             "softmax_loss_vectorized": softmax_loss_vectorized}

# Words the message of each mistake must contain, besides the function's name.
PHRASES = {
    "loss_not_averaged": ["loss is summed", "not averaged", "divide"],
    "grad_not_averaged": ["gradient is summed", "not averaged", "divided by n"],
    "reg_loss_missing": ["regularization is missing from the loss", "reg * sum(w**2)"],
    "reg_loss_half": ["regularization term of the loss is half"],
    "reg_loss_double": ["regularization term of the loss is twice"],
    "reg_loss_over_n": ["regularization term of the loss is divided by n"],
    "reg_grad_missing": ["regularization part of the gradient is missing", "2 * reg * w"],
    "reg_grad_half": ["regularization part of the gradient is half of what it should be",
                      "the derivative of reg * sum(w**2) with respect to w is 2 * reg * w"],
    "reg_grad_double": ["regularization part of the gradient is twice", "2 * reg * w"],
    "reg_grad_over_n": ["regularization part of the gradient is divided by n"],
    "no_shift": ["overflow", "subtract each row's largest score"],
    "global_shift": ["one maximum over the whole minibatch", "each row's own"],
    "grad_sign": ["wrong sign", "p_j - 1[j == y_i]"],
    "onehot_missing": ["never subtracts the one-hot label"],
    "onehot_all_classes": ["subtracts 1 at every class"],
    "onehot_label_columns": ["subtracts 1 in the wrong places", "p[:, y] -= 1"],
    "no_log_prob": ["log is missing from the loss"],
    "no_log_sum": ["log is missing from the loss", "log around the sum"],
    "loss_sign": ["loss has the wrong sign"],
    "log_of_probability": ["probability rounds to 0", "log(sum_j exp(s_j)) - s_{y_i}"],
    "modifies_W": ["changes its input w in place"],
    "modifies_X": ["changes its input x in place"],
}


def failure(check, *args, **kwargs):
    """The CheckFailed that check(*args, **kwargs) raises (the test fails if none)."""
    with pytest.raises(CheckFailed) as info:
        check(*args, **kwargs)
    return info.value


def flat(err):
    """The message of err on one line: messages are wrapped to fit a terminal."""
    return " ".join(str(err).split())


def assert_names(err, mistake, function, phrases=(), where=None):
    text = str(err)
    assert err.mistake == mistake, text
    assert err.function == function
    if mistake == "not_implemented":
        assert flat(err).startswith(f"{function} is not implemented yet: fill in its TODO in ")
    else:
        assert text.startswith(f"{function}: "), text
        assert "\nLook at: " in text, text
    for phrase in phrases:
        assert phrase in flat(err).lower(), f"{phrase!r} not in:\n{text}"
    if where:
        assert where in flat(err), text


def as_float32(loss_fn):
    """The same function computing in float32, as with the notebook's data."""
    def loss32(W, X, y, reg):
        return loss_fn(W.astype(np.float32), X.astype(np.float32), y, reg)
    return loss32


# ---------------------------------------------------------------- the loss

@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize("float32", [False, True])
def test_the_solution_passes_without_a_hint(name, float32):
    fn = SOLUTIONS[name]
    checks.check_softmax_loss(as_float32(fn) if float32 else fn, name=name)


def test_every_known_mistake_has_a_message_and_a_test():
    known = set(mistakes.LOSS_MISTAKES) | set(mistakes.SAMPLE_BATCH_MISTAKES) \
        | set(mistakes.TRAIN_MISTAKES) | set(mistakes.PREDICT_MISTAKES)
    named = {m for m in known if m in checks.MISTAKES}
    # The sample_batch variants are named by what they do wrong (several by one message).
    assert set(mistakes.LOSS_MISTAKES) <= named
    assert set(mistakes.TRAIN_MISTAKES) <= named
    assert set(mistakes.PREDICT_MISTAKES) <= named
    assert set(PHRASES) == set(mistakes.LOSS_MISTAKES)


@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize("mistake", sorted(mistakes.LOSS_MISTAKES))
def test_each_loss_mistake_is_named(mistake, name):
    err = failure(checks.check_softmax_loss, mistakes.LOSS_MISTAKES[mistake], name=name)
    assert_names(err, mistake, name, PHRASES[mistake],
                 where=f"{name} in cs231n/classifiers/softmax.py")


@pytest.mark.parametrize("mistake", ["reg_grad_half", "grad_sign", "onehot_label_columns",
                                     "no_shift", "global_shift", "loss_not_averaged"])
def test_a_mistake_computed_in_float32_is_still_named(mistake):
    err = failure(checks.check_softmax_loss, as_float32(mistakes.LOSS_MISTAKES[mistake]),
                  name="softmax_loss_vectorized")
    assert err.mistake == mistake, str(err)


def loop_loss(W, X, y, reg, shift=True, reg_grad=2.0, sign=1.0, onehot=True, average=True,
              log_p=False):
    """A loop-style softmax loss (as a student might write the naive one) with switches."""
    N, C = X.shape[0], W.shape[1]
    loss, dW = 0.0, np.zeros_like(W)
    for i in range(N):
        s = X[i].dot(W)
        if shift:
            s = s - np.max(s)
        e = np.exp(s)
        p = e / np.sum(e)
        loss += -np.log(p[y[i]]) if log_p else np.log(np.sum(e)) - s[y[i]]
        for j in range(C):
            dW[:, j] += sign * (p[j] - (onehot and j == y[i])) * X[i]
    loss = loss / N + reg * np.sum(W * W)
    if average:
        dW /= N
    dW += reg_grad * reg * W
    return loss, dW


@pytest.mark.parametrize("switches, mistake", [
    ({}, None),
    ({"shift": False}, "no_shift"),
    ({"reg_grad": 1.0}, "reg_grad_half"),
    ({"reg_grad": 0.0}, "reg_grad_missing"),
    ({"sign": -1.0}, "grad_sign"),
    ({"onehot": False}, "onehot_missing"),
    ({"average": False}, "grad_not_averaged"),
    ({"log_p": True}, "log_of_probability"),
])
def test_loops_are_diagnosed_like_arrays(switches, mistake):
    fn = lambda W, X, y, reg: loop_loss(W, X, y, reg, **switches)
    if mistake is None:
        checks.check_softmax_loss(fn, name="softmax_loss_naive")
    else:
        assert failure(checks.check_softmax_loss, fn).mistake == mistake


@pytest.mark.parametrize("first, second", [
    ("reg_grad_half", "no_shift"), ("reg_loss_missing", "grad_sign"),
    ("loss_not_averaged", "onehot_missing"), ("grad_not_averaged", "global_shift"),
])
def test_with_two_mistakes_a_structural_one_is_named(first, second):
    switches = {**mistakes.LOSS_MISTAKES[first].switches,
                **mistakes.LOSS_MISTAKES[second].switches}
    fn = lambda W, X, y, reg: mistakes.softmax_loss_variant(W, X, y, reg, **switches)
    assert failure(checks.check_softmax_loss, fn).mistake == first


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_not_implemented_says_so(name):
    def stub(W, X, y, reg):
        raise NotImplementedError()
    err = failure(checks.check_softmax_loss, stub, name=name)
    assert flat(err) == (f"{name} is not implemented yet: fill in its TODO in "
                        "cs231n/classifiers/softmax.py")
    assert err.mistake == "not_implemented"


def test_not_implemented_is_recognised_by_its_name_across_a_boundary():
    # A proxy re-raises the worker's exception as a class with the same name.
    RemoteError = type("NotImplementedError", (RuntimeError,), {})

    def remote(W, X, y, reg):
        raise RemoteError("")
    assert failure(checks.check_softmax_loss, remote).mistake == "not_implemented"


def test_the_untouched_initial_values_say_unfinished():
    err = failure(checks.check_softmax_loss, lambda W, X, y, reg: (0.0, np.zeros_like(W)))
    assert err.mistake == "not_implemented" and "TODO" in flat(err)


def test_other_exceptions_are_reported_with_type_and_message():
    def broken(W, X, y, reg):
        raise IndexError("index 7 is out of bounds for axis 1 with size 3")
    err = failure(checks.check_softmax_loss, broken, name="softmax_loss_vectorized")
    text = flat(err)
    assert err.mistake == "raised"
    assert "IndexError: index 7 is out of bounds for axis 1 with size 3" in text
    assert "softmax_loss_vectorized in cs231n/classifiers/softmax.py" in text


@pytest.mark.parametrize("returns, phrase", [
    (lambda W, X, y, reg: 1.0, "must return a tuple (loss, dw)"),
    (lambda W, X, y, reg: (1.0, None), "returned none for the gradient"),
    (lambda W, X, y, reg: (np.ones(X.shape[0]), np.zeros_like(W)), "single number"),
    (lambda W, X, y, reg: (1.0, np.zeros(W.shape, dtype=int)), "must hold floats"),
    (lambda W, X, y, reg: ("1.0", np.zeros_like(W)), "single number"),
])
def test_wrong_return_values_get_clear_messages(returns, phrase):
    err = failure(checks.check_softmax_loss, returns)
    assert err.mistake == "output"
    assert phrase in flat(err).lower(), str(err)


def test_an_error_only_in_float32_is_named():
    def half_precision_in_float32(W, X, y, reg):
        loss, dW = softmax_loss_vectorized(W, X, y, reg)
        if W.dtype == np.float32:
            dW = dW.astype(np.float16).astype(np.float32) * 1.01
        return loss, dW
    err = failure(checks.check_softmax_loss, half_precision_in_float32)
    assert err.mistake == "dtype" and "float32" in flat(err)


def test_an_unknown_gradient_error_is_compared_with_finite_differences():
    def off(W, X, y, reg):
        loss, dW = softmax_loss_vectorized(W, X, y, reg)
        dW = dW.copy()
        dW[1, 2] += 0.3
        return loss, dW
    err = failure(checks.check_softmax_loss, off)
    assert err.mistake == "grad_vs_loss"
    assert "W[1, 2]" in flat(err) and "finite differences" in flat(err)


def test_an_unknown_loss_error_shows_the_numbers():
    err = failure(checks.check_softmax_loss,
                  lambda W, X, y, reg: (lambda l, g: (l + 0.1, g))(*softmax_loss_vectorized(
                      W, X, y, reg)))
    assert err.mistake == "wrong" and "correct" in flat(err)


@pytest.mark.parametrize("seed", [0, 1])
def test_checks_leave_the_solution_and_global_state_alone(seed):
    rng = np.random.default_rng(seed)
    W, X = rng.standard_normal((7, 4)), rng.standard_normal((9, 7))
    y = rng.integers(0, 4, 9)
    before = softmax_loss_vectorized(W, X, y, 0.3)
    err_state, filters = np.geterr(), list(warnings.filters)
    checks.check_softmax_loss(softmax_loss_vectorized, "softmax_loss_vectorized")
    checks.check_train(Softmax)
    after = softmax_loss_vectorized(W, X, y, 0.3)
    assert before[0] == after[0] and np.array_equal(before[1], after[1])
    assert np.geterr() == err_state and list(warnings.filters) == filters


# ---------------------------------------------------------------- sample_batch

BATCH_NAMES = {
    "batch_labels_unrelated": "batch_labels",
    "batch_labels_first": "batch_labels",
    "batch_not_random": "batch_not_random",
    "batch_ignores_rng": "batch_ignores_rng",
    "batch_transposed": "batch_transposed",
    "batch_columns": "batch_columns",
    "batch_returns_none": "not_implemented",
}


@pytest.mark.parametrize("seed", [0, 5])
def test_the_solution_sample_batch_passes(seed):
    checks.check_sample_batch(Softmax().sample_batch, seed=seed)


@pytest.mark.parametrize("variant", sorted(mistakes.SAMPLE_BATCH_MISTAKES))
def test_each_sample_batch_mistake_is_named(variant):
    err = failure(checks.check_sample_batch, mistakes.SAMPLE_BATCH_MISTAKES[variant])
    assert_names(err, BATCH_NAMES[variant], "sample_batch",
                 where="cs231n/classifiers/linear_classifier.py")


def test_labels_of_other_rows_are_shown():
    err = failure(checks.check_sample_batch, mistakes.SAMPLE_BATCH_MISTAKES["batch_labels_first"])
    assert "do not belong to the rows" in flat(err) and "but y_batch[" in flat(err)


def test_sample_batch_that_changes_its_input_is_named():
    def shuffles(X, y, batch_size, rng):
        rng.shuffle(X)
        return X[:batch_size], y[:batch_size]
    assert failure(checks.check_sample_batch, shuffles).mistake == "modifies_X"


def test_sample_batch_not_implemented():
    def stub(X, y, batch_size, rng):
        raise NotImplementedError()
    assert flat(failure(checks.check_sample_batch, stub)) == (
        "sample_batch is not implemented yet: fill in its TODO in "
        "cs231n/classifiers/linear_classifier.py")


# ---------------------------------------------------------------- train and predict

@pytest.mark.parametrize("seed", [0, 3])
def test_the_solution_trains_and_predicts(seed):
    checks.check_train(Softmax, seed=seed)
    checks.check_predict(Softmax, seed=seed)


def test_the_plain_training_loop_of_the_mistakes_module_is_right():
    checks.check_train(lambda seed: mistakes.MistakeClassifier(seed))


@pytest.mark.parametrize("mistake", sorted(mistakes.TRAIN_MISTAKES))
def test_each_train_mistake_is_named(mistake):
    err = failure(checks.check_train, mistakes.TRAIN_MISTAKES[mistake])
    assert_names(err, mistake, "train", where="cs231n/classifiers/linear_classifier.py")


def test_train_not_implemented():
    class Unfinished(Softmax):
        def train(self, X, y, **kwargs):
            raise NotImplementedError()
    err = failure(checks.check_train, Unfinished)
    assert err.mistake == "not_implemented"
    assert str(err).startswith("train, or a function it calls, is not implemented yet")
    assert "softmax_loss_vectorized" in flat(err) and "sample_batch" in flat(err)


@pytest.mark.parametrize("mistake", sorted(mistakes.PREDICT_MISTAKES))
def test_each_predict_mistake_is_named(mistake):
    err = failure(checks.check_predict, mistakes.PREDICT_MAKERS[mistake])
    assert_names(err, mistake, "predict", where="cs231n/classifiers/linear_classifier.py")


def test_predict_over_the_wrong_axis_shows_the_shapes():
    text = flat(failure(checks.check_predict, mistakes.PREDICT_MAKERS["predict_wrong_axis"]))
    assert "axis=1" in text and "returned shape (3,)" in text and "expected (6,)" in text


# ---------------------------------------------------------------- the data file

def test_the_data_file_is_current():
    assert (REPO / "cs231n" / "check_data.json").read_text() == \
        fingerprints.render(fingerprints.build_check_data()), \
        "regenerate it: python -m instructor.checks.fingerprints cs231n/check_data.json"


def test_write_and_check_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "check_data.json"
    assert fingerprints.main([str(out)]) == 0
    assert fingerprints.main(["--check", str(out)]) == 0
    checks.load_check_data(str(out))
    out.write_text(out.read_text().replace("0.", "0.1", 1))
    assert fingerprints.main(["--check", str(out)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_the_shipped_predict_probe_tells_mistakes_apart():
    for probe in fingerprints.predict_probes():
        assert fingerprints.telling_predict_probe(np.array(probe["W"]), np.array(probe["X"]))


def test_the_module_runs_as_a_command_from_the_repository():
    r = subprocess.run([sys.executable, "-m", "instructor.checks.fingerprints", "--check",
                        "cs231n/check_data.json"], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "is current" in r.stdout


def test_changing_loaded_data_does_not_change_the_next_load():
    data = checks.load_check_data()
    data["content"]["loss"]["probes"].clear()
    assert checks.load_check_data()["content"]["loss"]["probes"]


@pytest.mark.parametrize("change, phrase", [
    (lambda d: d["content"]["loss"]["fingerprints"]["basic"]["correct"].update(loss=1.0),
     "changed or damaged"),
    (lambda d: d.update(format=0), "format 0"),
    (lambda d: d.pop("sha256"), "changed or damaged"),
])
def test_a_stale_or_edited_data_file_is_refused_clearly(tmp_path, change, phrase):
    data = json.loads((REPO / "cs231n" / "check_data.json").read_text())
    change(data)
    path = tmp_path / "check_data.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CheckDataError, match=phrase):
        checks.load_check_data(str(path))


def test_a_missing_data_file_is_refused_clearly(tmp_path):
    with pytest.raises(CheckDataError, match="cannot read the checks' data file"):
        checks.load_check_data(str(tmp_path / "nothing.json"))


def test_every_fingerprinted_mistake_stands_out_from_the_correct_output():
    data = checks.load_check_data()
    prints = data["content"]["loss"]["fingerprints"]
    for mistake in mistakes.FINGERPRINTED_LOSS_MISTAKES:
        gaps = []
        for probe in prints.values():
            for key in ("loss", "dW"):
                right, wrong = probe["correct"][key], probe[mistake][key]
                if (right is None) != (wrong is None):
                    gaps.append(np.inf)
                elif right is not None:
                    gaps.append(np.max(np.abs(np.subtract(right, wrong))))
        assert max(gaps) > 100 * checks.ATOL, mistake


def test_other_probe_sets_run_through_the_same_checks_without_showing_numbers():
    probes = fingerprints.loss_probes(seed=7, N=7, D=5, C=4, reg=0.5)
    data = fingerprints.build_check_data(probes, fingerprints.predict_probes(seed=9, N=8))
    data["hidden"] = True
    checks.check_softmax_loss(softmax_loss_naive, data=data)
    checks.check_predict(Softmax, data=data)
    for mistake in ["reg_grad_half", "onehot_label_columns", "global_shift"]:
        err = failure(checks.check_softmax_loss, mistakes.LOSS_MISTAKES[mistake], data=data)
        assert err.mistake == mistake
        assert "Seen on" not in flat(err)


# ---------------------------------------------------------------- the given file

@pytest.mark.parametrize("given", ["checks.py", "check_messages.py", "diagnosis.py",
                                   "gradient_check.py"])
def test_the_given_checks_compute_no_softmax(given):
    tree = ast.parse((REPO / "cs231n" / given).read_text())
    called = {node.func.attr if isinstance(node.func, ast.Attribute) else
              getattr(node.func, "id", None)
              for node in ast.walk(tree) if isinstance(node, ast.Call)}
    forbidden = {"exp", "log", "logsumexp", "log1p", "expm1", "exp2", "log2", "log10",
                 "softmax", "log_softmax"}
    assert not called & forbidden
    imported = {alias.name for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not any(name.startswith(("scipy", "cs231n", "instructor")) or "classifiers" in name
                   for name in imported), imported


# ---------------------------------------------------------------- across a process boundary

def _roundtrip(value):
    """A value as the other side of a data-only boundary would see it: a fresh copy."""
    if isinstance(value, np.ndarray):
        return np.array(value.tolist(), dtype=value.dtype).reshape(value.shape)
    if isinstance(value, np.random.Generator):
        rng = np.random.default_rng()
        rng.bit_generator.state = value.bit_generator.state
        return rng
    if isinstance(value, (tuple, list)):
        return type(value)(_roundtrip(v) for v in value)
    return value


def through_boundary(fn):
    """fn as a proxy would present it: copies in and out, in-place changes and the
    generator's state written back, exceptions re-created by type name and message."""
    def proxy(*args, **kwargs):
        copies = [_roundtrip(a) for a in args]
        kw = {k: _roundtrip(v) for k, v in kwargs.items()}
        try:
            return _roundtrip(fn(*copies, **kw))
        except Exception as e:
            raise type(type(e).__name__, (Exception,), {})(str(e)) from None
        finally:
            for original, copy in zip(args, copies):
                if isinstance(original, np.ndarray):
                    original[...] = copy
                elif isinstance(original, np.random.Generator):
                    original.bit_generator.state = copy.bit_generator.state
    return proxy


class ProxyClassifier:
    """A classifier reached only through the calls of the checks' contract."""

    def __init__(self, make, seed):
        self._real = make(seed)
        self.train = through_boundary(self._real.train)
        self.predict = through_boundary(self._real.predict)

    @property
    def W(self):
        return _roundtrip(self._real.W)

    @W.setter
    def W(self, value):
        self._real.W = _roundtrip(value)


def proxy_maker(make):
    return lambda seed: ProxyClassifier(make, seed)


@pytest.mark.parametrize("mistake", [None, "reg_grad_half", "global_shift", "modifies_W",
                                     "modifies_X", "onehot_all_classes"])
def test_loss_checks_work_the_same_through_a_proxy(mistake):
    fn = softmax_loss_naive if mistake is None else mistakes.LOSS_MISTAKES[mistake]
    if mistake is None:
        checks.check_softmax_loss(through_boundary(fn))
    else:
        assert failure(checks.check_softmax_loss, through_boundary(fn)).mistake == mistake


@pytest.mark.parametrize("variant", [None, "batch_labels_first", "batch_ignores_rng",
                                     "batch_not_random"])
def test_sample_batch_checks_work_the_same_through_a_proxy(variant):
    if variant is None:
        checks.check_sample_batch(through_boundary(Softmax().sample_batch))
    else:
        err = failure(checks.check_sample_batch,
                      through_boundary(mistakes.SAMPLE_BATCH_MISTAKES[variant]))
        assert err.mistake == BATCH_NAMES[variant]


@pytest.mark.parametrize("mistake", [None, "sgd_climbs", "sgd_ignores_learning_rate",
                                     "predict_wrong_axis"])
def test_train_and_predict_checks_work_the_same_through_a_proxy(mistake):
    make = {None: Softmax, **mistakes.TRAIN_MISTAKES, **mistakes.PREDICT_MAKERS}[mistake]
    check = checks.check_predict if str(mistake).startswith("predict") else checks.check_train
    if mistake is None:
        checks.check_train(proxy_maker(make))
        checks.check_predict(proxy_maker(make))
    else:
        assert failure(check, proxy_maker(make)).mistake == mistake


def test_not_implemented_is_recognised_through_a_proxy():
    def stub(W, X, y, reg):
        raise NotImplementedError()
    assert failure(checks.check_softmax_loss, through_boundary(stub)).mistake == "not_implemented"


def test_a_loss_that_changes_its_labels_is_named():
    def sorts_labels(W, X, y, reg):
        y.sort()
        return softmax_loss_vectorized(W, X, y, reg)
    assert failure(checks.check_softmax_loss, sorts_labels).mistake == "modifies_y"
