"""Shared fixtures: a small synthetic CIFAR-10 in the official format, the student
release built once per session, and batches graded once for several test files (the
builders behind them are in helpers.py and tests/corpus/variants.py)."""
import os

import pytest

from cifar_fixture import write_cifar
from helpers import grade_small_class, release_dist, run_autograde


@pytest.fixture(scope="session")
def synthetic_cifar(tmp_path_factory):
    """A cifar-10-batches-py folder: 5 x 400 training and 400 test images."""
    folder, raw = write_cifar(tmp_path_factory.mktemp("cifar"), n_per_batch=400, n_test=400)
    return folder


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    """The folder with softmax/ and softmax.zip (`python -m instructor release`)."""
    return release_dist(tmp_path_factory)


@pytest.fixture(scope="session")
def small_class(tmp_path_factory, synthetic_cifar, dist):
    """(submissions folder, OUT, process) of a batch of three: sol, bug, rel (helpers.py)."""
    return grade_small_class(tmp_path_factory, synthetic_cifar, dist)


@pytest.fixture(scope="session")
def corpus_batch(tmp_path_factory, synthetic_cifar, dist):
    """The corpus (tests/corpus/variants.py) and two copies of the trusted phase's recorder
    graded in ONE batch: default limits, the namespaces tier, no HIDDEN_SEED (each hand-in
    draws its own hidden problems). {"subs", "out", "proc", "names": {variant: id}}; the
    tests that use it skip where bubblewrap cannot run."""
    from variants import RECORDERS, Ctx, build_all, recorder_handin
    subs = tmp_path_factory.mktemp("corpus")
    names = build_all(dist, subs, synthetic_cifar)
    for sid in RECORDERS:
        recorder_handin(Ctx(dist, synthetic_cifar), subs / f"softmax_{sid}.zip")
    out = tmp_path_factory.mktemp("corpus-grading") / "out"
    seed = os.environ.pop("HIDDEN_SEED", None)
    try:
        proc = run_autograde(subs, out, "--jobs", "2", "--sandbox", "namespaces",
                             synthetic=synthetic_cifar, timeout=3600)
    finally:
        if seed is not None:
            os.environ["HIDDEN_SEED"] = seed
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"subs": subs, "out": out, "proc": proc, "names": names}
