"""The sandboxed worker and the trusted proxies (run here without the jail).

Each test compares a proxy with the real function imported in this process, on
seeded data, so the proxies are held to the calling contract of the checks."""
import ast
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cs231n.classifiers import Softmax
from cs231n.classifiers.softmax import softmax_loss_naive, softmax_loss_vectorized
from cs231n import contract
from instructor.boundary import client as client_mod
from instructor.boundary import protocol
from instructor.boundary.client import (InvalidAnswer, StudentError, WorkerClient,
                                        WorkerCrashed, WorkerTimeout)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = {"softmax_loss_naive": softmax_loss_naive,
        "softmax_loss_vectorized": softmax_loss_vectorized}


def make_package(folder, softmax_extra="", linear_extra=""):
    """A copy of the cs231n package, with code appended to softmax.py or
    linear_classifier.py (a later def replaces the given one)."""
    shutil.copytree(os.path.join(ROOT, "cs231n"), folder / "cs231n",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name, extra in (("softmax.py", softmax_extra), ("linear_classifier.py", linear_extra)):
        if extra:
            with open(folder / "cs231n" / "classifiers" / name, "a") as f:
                f.write("\n\n" + extra + "\n")
    return str(folder)


def data(seed, N=6, D=5, C=3, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return ((0.01 * rng.standard_normal((D, C))).astype(dtype),
            rng.standard_normal((N, D)).astype(dtype), rng.integers(0, C, size=N))


def loss_proxy(client, name):
    """The proxy of a loss function of the spec."""
    return client.function("cs231n.classifiers.softmax", name)


def classifier(client):
    """The proxy class of the spec's classifier."""
    return client.object_class("cs231n.classifiers.linear_classifier", "Softmax", ("W",),
                               ("train", "predict", "sample_batch"))


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    with WorkerClient(make_package(tmp_path_factory.mktemp("honest")), timeout=60) as c:
        yield c


@pytest.mark.parametrize("name", sorted(REAL))
@pytest.mark.parametrize("reg", [0.0, 0.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_proxy_answers_like_the_real_function(honest, name, reg, dtype):
    W, X, y = data(len(name) + int(reg * 10), dtype=dtype)
    loss, dW = loss_proxy(honest, name)(W, X, y, reg)
    want_loss, want_dW = REAL[name](W, X, y, reg)
    # Another process may sum in another order (BLAS threads): equal to rounding.
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert type(loss) is type(want_loss) and loss == pytest.approx(want_loss, rel=tol)
    assert dW.dtype == want_dW.dtype
    np.testing.assert_allclose(dW, want_dW, rtol=tol, atol=tol * 1e-3)
    assert loss_proxy(honest, name).__name__ == name


def test_sample_batch_proxy_draws_the_same_batch_and_advances_the_generator(honest):
    _, X, y = data(1, N=50)
    mine, theirs = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(3):
        got = classifier(honest)(0).sample_batch(X, y, 8, mine)
        want = Softmax().sample_batch(X, y, 8, theirs)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        assert mine.bit_generator.state == theirs.bit_generator.state
    assert mine.random() == theirs.random()


@pytest.mark.parametrize("bit_generator", ["MT19937", "Philox", "SFC64"])
def test_sample_batch_proxy_keeps_other_bit_generators(honest, bit_generator):
    _, X, y = data(2, N=30)
    mine = np.random.Generator(getattr(np.random, bit_generator)(3))
    theirs = np.random.Generator(getattr(np.random, bit_generator)(3))
    np.testing.assert_array_equal(classifier(honest)(0).sample_batch(X, y, 4, mine)[1],
                                  Softmax().sample_batch(X, y, 4, theirs)[1])
    assert mine.integers(1 << 30) == theirs.integers(1 << 30)


@pytest.mark.parametrize("seed", [0, 5])
def test_classifier_proxy_trains_and_predicts_like_softmax(honest, seed):
    _, X, y = data(seed, N=40, D=6, C=4)
    proxy, real = classifier(honest)(seed), Softmax(seed=seed)
    kw = dict(learning_rate=1e-2, reg=1e-3, num_iters=7, batch_size=5, verbose=False)
    history = proxy.train(X, y, **kw)
    assert history == real.train(X, y, **kw) and all(type(v) is float for v in history)
    np.testing.assert_array_equal(proxy.W, real.W)
    np.testing.assert_array_equal(proxy.predict(X), real.predict(X))
    # W can be assigned, as checks do, and predict uses it.
    proxy.W = real.W = np.eye(6, 4)
    np.testing.assert_array_equal(proxy.predict(X), real.predict(X))
    # Training again continues from the assigned weights.
    np.testing.assert_array_equal(proxy.train(X, y, num_iters=2), real.train(X, y, num_iters=2))
    np.testing.assert_array_equal(proxy.W, real.W)


def test_predict_without_weights_raises_what_the_real_one_raises(honest):
    _, X, _ = data(3)
    with pytest.raises(RuntimeError) as got:
        classifier(honest)(0).predict(X)
    with pytest.raises(RuntimeError) as want:
        Softmax(0).predict(X)
    assert type(got.value).__name__ == "RuntimeError" and str(got.value) == str(want.value)


MUTATE = """
def softmax_loss_naive(W, X, y, reg):
    X *= 2
    y[0] = 1
    return 1.5, np.zeros_like(W)
"""


def test_in_place_changes_are_mirrored_into_the_callers_arrays(tmp_path):
    W, X, y = data(4)
    X0, y0, W0 = X.copy(), y.copy(), W.copy()
    with WorkerClient(make_package(tmp_path, MUTATE)) as c:
        assert loss_proxy(c, "softmax_loss_naive")(W, X, y, 0.1)[0] == 1.5
    np.testing.assert_array_equal(X, 2 * X0)
    assert y[0] == 1 and np.array_equal(y[1:], y0[1:])
    np.testing.assert_array_equal(W, W0)


CENTER = """
_given_train = LinearClassifier.train
def _centering_train(self, X, y, *args, **kwargs):
    X -= X.mean(axis=0)
    return _given_train(self, X, y, *args, **kwargs)
LinearClassifier.train = _centering_train
_given_predict = LinearClassifier.predict
def _scaling_predict(self, X):
    X *= 0.5
    return _given_predict(self, X)
LinearClassifier.predict = _scaling_predict
"""


def test_in_place_changes_in_train_and_predict_are_mirrored_too(tmp_path):
    _, X, y = data(11, N=12)
    X_real = X.copy()
    with WorkerClient(make_package(tmp_path, linear_extra=CENTER)) as c:
        proxy = classifier(c)(1)
        proxy.train(X, y, num_iters=2, batch_size=3)
        proxy.predict(X)
    X_real -= X_real.mean(axis=0)
    X_real *= 0.5
    np.testing.assert_array_equal(X, X_real)


def test_read_only_arguments_stay_read_only_for_student_code(tmp_path):
    W, X, y = data(4)
    X.flags.writeable = False
    with WorkerClient(make_package(tmp_path, MUTATE)) as c:
        with pytest.raises(ValueError, match="read-only") as info:
            loss_proxy(c, "softmax_loss_naive")(W, X, y, 0.1)
    assert isinstance(info.value, StudentError)


NOT_DONE = """
def softmax_loss_vectorized(W, X, y, reg):
    helper_that_raises()

def helper_that_raises():
    raise NotImplementedError("fill in softmax_loss_vectorized " + "x" * 5000)

class WrongShape(ValueError):
    pass

def softmax_loss_naive(W, X, y, reg):
    raise WrongShape("the shapes are wrong")
"""


def test_student_exceptions_keep_type_name_message_and_only_student_frames(tmp_path):
    W, X, y = data(5)
    with WorkerClient(make_package(tmp_path, NOT_DONE)) as c:
        with pytest.raises(NotImplementedError) as info:
            loss_proxy(c, "softmax_loss_vectorized")(W, X, y, 0.0)
        e = info.value
        assert type(e).__name__ == "NotImplementedError" and isinstance(e, StudentError)
        assert str(e).startswith("fill in softmax_loss_vectorized xxx") and len(str(e)) < 2200
        assert [line.split(" in ")[1].split(":")[0] for line in e.student_traceback] == \
            ["softmax_loss_vectorized", "helper_that_raises"]
        assert all(line.startswith("cs231n/classifiers/softmax.py:")
                   for line in e.student_traceback)
        with pytest.raises(ValueError, match="the shapes are wrong") as info:
            loss_proxy(c, "softmax_loss_naive")(W, X, y, 0.0)
        assert type(info.value).__name__ == "WrongShape"
        assert not isinstance(info.value, NotImplementedError)


def test_a_syntax_error_in_the_hand_in_comes_back_as_the_students(tmp_path):
    with WorkerClient(make_package(tmp_path, "def broken(:\n")) as c:
        with pytest.raises(SyntaxError) as info:
            loss_proxy(c, "softmax_loss_naive")(*data(0), 0.0)
    assert type(info.value).__name__ == "SyntaxError"


NOISY = """
import os, sys
def softmax_loss_naive(W, X, y, reg):
    print("CSB1 noise on stdout")
    print("noise on stderr", file=sys.stderr)
    os.write(1, b"CSB1" + bytes(100))
    os.write(2, b"CSB1" + bytes(100))
    return 2.5, W * 3
"""


def test_what_student_code_prints_cannot_reach_the_answer_and_is_logged_capped(tmp_path):
    W, X, y = data(6)
    log = tmp_path / "worker.log"
    with WorkerClient(make_package(tmp_path, NOISY), log_path=str(log)) as c:
        for _ in range(3):
            loss, dW = loss_proxy(c, "softmax_loss_naive")(W, X, y, 0.0)
            assert loss == 2.5 and np.array_equal(dW, W * 3)
    text = log.read_bytes()
    assert b"CSB1 noise on stdout" in text and b"noise on stderr" in text


def test_log_keeps_the_first_mebibyte(tmp_path):
    flood = ("def softmax_loss_naive(W, X, y, reg):\n"
             "    for i in range(20):\n        print(str(i % 10) * 99999)\n"
             "    return 1.0, W\n")
    log = tmp_path / "worker.log"
    with WorkerClient(make_package(tmp_path, flood), log_path=str(log)) as c:
        loss_proxy(c, "softmax_loss_naive")(*data(0), 0.0)
        loss_proxy(c, "softmax_loss_naive")(*data(0), 0.0)
    text = log.read_text()
    assert len(text) == 1 << 20                       # 4 MB printed
    assert text.startswith("0" * 99999 + "\n" + "1" * 99999)


HOSTILE = """
import os
def softmax_loss_naive(W, X, y, reg):
    while True:
        pass

def softmax_loss_vectorized(W, X, y, reg):
    os._exit(3)
"""


def test_a_hanging_or_dying_worker_is_replaced_and_the_error_names_the_function(tmp_path):
    W, X, y = data(7)
    with WorkerClient(make_package(tmp_path, HOSTILE), timeout=2) as c:
        with pytest.raises(WorkerTimeout, match="softmax_loss_naive"):
            loss_proxy(c, "softmax_loss_naive")(W, X, y, 0.0)
        with pytest.raises(WorkerCrashed, match="softmax_loss_vectorized.*exit status 3"):
            loss_proxy(c, "softmax_loss_vectorized")(W, X, y, 0.0)
        assert c.restarts == 2
        _, X2, y2 = data(8, N=20)
        assert classifier(c)(0).sample_batch(X2, y2, 3, np.random.default_rng(0))[0].shape == (3, 5)


def test_cpu_limit_stops_a_worker_that_spins(tmp_path):
    spin = "def softmax_loss_naive(W, X, y, reg):\n    while True:\n        pass\n"
    with WorkerClient(make_package(tmp_path, spin), cpu_seconds=1, timeout=600) as c:
        with pytest.raises(WorkerCrashed, match="CPU time limit of 1 s"):
            loss_proxy(c, "softmax_loss_naive")(*data(0), 0.0)


def test_memory_limit_applies_to_student_code(tmp_path):
    big = ("def softmax_loss_naive(W, X, y, reg):\n"
           "    return float(np.ones(1 << 31).sum()), W\n")
    with WorkerClient(make_package(tmp_path, big), memory_bytes=1 << 30) as c:
        with pytest.raises(MemoryError) as info:
            loss_proxy(c, "softmax_loss_naive")(*data(0), 0.0)
    assert isinstance(info.value, StudentError)


LOSS_RETURNS = [
    "return 1.0, np.zeros((2, 2))",              # dW of the wrong shape
    "return 'low', W",                            # a string for the loss
    "return 1.0, [object()]",                     # objects for dW
    "return 1.0",                                 # one value
    "return [np.float32(1.5), np.zeros_like(W)]",  # a list, a float32 scalar: accepted
    "return (np.array(2.0), np.zeros_like(W, dtype=np.float32))",  # 0-d array, float32 dW
    "return np.float64(1.0), np.zeros_like(W, dtype=np.int64)",    # integer dW
    "return None, None",
    "return {'loss': 1.0}",
    "return (1.0, np.zeros_like(W), 3)",
]


def _verdict(fn, W, X, y):
    """What the contract says of fn's answer: the standard form, or the refusal."""
    try:
        loss, dW = contract.loss_and_gradient(fn(W.copy(), X.copy(), y.copy(), 0.0), W)
        return ("accepted", loss, dW.tolist())
    except contract.ContractError as e:
        # An object that cannot cross (a dict) is described by its type name only.
        return ("refused", str(e).split("; it returned")[0])


@pytest.mark.parametrize("body", LOSS_RETURNS)
def test_the_contract_judges_a_proxys_answer_exactly_as_a_local_call(tmp_path, body):
    """The worker sends back what the function returned, of the same kinds (a list stays a
    list, a float32 scalar a float32 scalar), so the grader is neither more lenient nor
    stricter than the notebook's checks."""
    source = f"def softmax_loss_naive(W, X, y, reg):\n    {body}\n"
    namespace = {"np": np}
    exec(source, namespace)
    W, X, y = data(0)
    with WorkerClient(make_package(tmp_path, source)) as c:
        remote = _verdict(loss_proxy(c, "softmax_loss_naive"), W, X, y)
    assert remote == _verdict(namespace["softmax_loss_naive"], W, X, y)


@pytest.mark.parametrize("body", ["return X[:1], y[:1]", "return [X[:4], y[:4]]",
                                  "return X[:4], y[:4].astype(float)", "return X[:4]"])
def test_a_minibatch_is_judged_by_the_contract_as_in_the_notebook(tmp_path, body):
    source = (f"def _odd(self, X, y, batch_size, rng):\n    {body}\n"
              "LinearClassifier.sample_batch = _odd\n")
    X, y = data(0, N=10)[1:]

    def judge(out):
        try:
            return [a.tolist() for a in contract.minibatch(out, 4, X.shape[1])]
        except contract.ContractError as e:
            return str(e)
    local = {"X": X, "y": y}
    exec(f"def odd(X, y):\n    {body}\n", local)
    with WorkerClient(make_package(tmp_path, linear_extra=source)) as c:
        remote = classifier(c)(0).sample_batch(X, y, 4, np.random.default_rng(0))
    assert judge(remote) == judge(local["odd"](X, y))


def test_the_worker_runs_from_its_files_alone(tmp_path):
    """Copied away from the grader, worker.py needs only its neighbours (the sandbox's
    list, client.WORKER_FILES) beside it, its package gate included."""
    alone = tmp_path / "alone"
    alone.mkdir()
    names = sorted(os.path.basename(p) for p in client_mod.WORKER_FILES)
    assert names == ["gate.py", "protocol.py", "worker.py"]
    for name in names:
        shutil.copy(os.path.join(ROOT, "instructor", "boundary", name), alone / name)
    package = make_package(tmp_path)
    req_r, req_w = os.pipe()
    ans_r, ans_w = os.pipe()
    gate = '{"allowed": ["numpy"], "message": "no {name} here"}'
    proc = subprocess.Popen([sys.executable, "-I", str(alone / "worker.py"), "--package-dir",
                             package, "--fds", f"{req_r},{ans_w}", "--gate", gate],
                            pass_fds=(req_r, ans_w), cwd=str(tmp_path))
    os.close(req_r)
    os.close(ans_w)
    W, X, y = data(9)
    os.write(req_w, protocol.encode(
        {"op": "call", "target": {"module": "cs231n.classifiers.softmax",
                                  "name": "softmax_loss_naive"},
         "args": [{"array": "W"}, {"array": "X"}, {"array": "y"}, {"value": 0.1}]},
        {"W": W, "X": X, "y": y}))
    os.close(req_w)
    with os.fdopen(ans_r, "rb") as f:
        answer, arrays = protocol.read_message(f.read)
    assert proc.wait(timeout=60) == 0
    assert answer["ok"] and answer["result"]["value"]["t"] == "tuple"
    assert answer["result"]["value"]["items"][0]["v"] == softmax_loss_naive(W, X, y, 0.1)[0]


@pytest.mark.parametrize("name", ["worker.py", "protocol.py", "gate.py"])
def test_sandbox_side_files_import_no_grader_code(name):
    tree = ast.parse(open(os.path.join(ROOT, "instructor", "boundary", name)).read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or "").split(".")[0])
    allowed = set(sys.stdlib_module_names) | {"numpy", "protocol", "."}
    assert imported <= allowed, imported - allowed


def test_bad_requests_are_reported_as_the_graders_not_the_students(honest):
    with pytest.raises(client_mod.BoundaryError, match="unknown operation"):
        honest.call("nothing", {"op": "nothing"}, {})
    with pytest.raises(client_mod.BoundaryError, match="missing array 'y'"):
        honest.call("softmax_loss_naive",
                    {"op": "call", "target": {"module": "cs231n.classifiers.softmax",
                                              "name": "softmax_loss_naive"},
                     "args": [{"array": "W"}, {"array": "X"}, {"array": "y"}]},
                    {"W": np.zeros((2, 2)), "X": np.zeros((2, 2))})


def test_arguments_that_cannot_be_sent_are_refused_before_sending(honest):
    W, X, y = data(0)
    with pytest.raises(TypeError, match="numeric array"):
        loss_proxy(honest, "softmax_loss_naive")(W, X, y.astype(object), 0.0)
    with pytest.raises(TypeError, match="Generator"):
        classifier(honest)(0).sample_batch(X, y, 2, np.random.RandomState(0))
    with pytest.raises(AttributeError, match="svm_loss_naive"):
        loss_proxy(honest, "svm_loss_naive")(W, X, y, 0.0)


ODD = """
import sys
def softmax_loss_naive(W, X, y, reg):
    {raise_it}
"""


@pytest.mark.parametrize("raise_it,name,base", [
    ("bytes([255]).decode('utf-8')", "UnicodeDecodeError", ValueError),
    ("sys.exit(3)", "SystemExit", None),
    ("raise KeyboardInterrupt", "KeyboardInterrupt", None),
    ("open('/nonexistent/file')", "FileNotFoundError", FileNotFoundError),
    ("{}['missing']", "KeyError", KeyError),
])
def test_every_student_exception_type_comes_back_by_name_and_never_stops_the_grader(
        tmp_path, raise_it, name, base):
    with WorkerClient(make_package(tmp_path, ODD.format(raise_it=raise_it))) as c:
        with pytest.raises(StudentError) as info:
            loss_proxy(c, "softmax_loss_naive")(*data(0), 0.0)
    assert type(info.value).__name__ == name
    assert isinstance(info.value, Exception)          # never SystemExit/KeyboardInterrupt
    if base is not None:
        assert isinstance(info.value, base)


def test_a_spent_budget_stops_the_running_call_and_refuses_the_next(tmp_path):
    """A call running past the hand-in's total budget is stopped as "too slow" although it
    is well inside the per-call limit; later calls fail at once, without a worker."""
    source = "def softmax_loss_naive(W, X, y, reg):\n    while True:\n        pass\n"
    with WorkerClient(make_package(tmp_path, source), timeout=60, budget=1) as c:
        with pytest.raises(client_mod.BudgetSpent, match="too slow"):
            loss_proxy(c, "softmax_loss_naive")(*data(0), 0.0)
        assert c.proc is None
        with pytest.raises(client_mod.BudgetSpent, match="too slow"):
            loss_proxy(c, "softmax_loss_vectorized")(*data(0), 0.0)
        assert c.proc is None


def test_list_returns_and_numpy_scalars_cross_as_they_are(tmp_path):
    source = ("def softmax_loss_naive(W, X, y, reg):\n"
              "    return [np.float32(2.5), np.zeros_like(W)]\n")
    with WorkerClient(make_package(tmp_path, source)) as c:
        out = loss_proxy(c, "softmax_loss_naive")(*data(0), 0.0)
    assert type(out) is list and type(out[0]) is np.float32 and out[0] == 2.5
