"""Shared fixtures: a small synthetic CIFAR-10 in the official format, and the student
release built once per session (the builders behind them are in helpers.py)."""
import pytest

from cifar_fixture import write_cifar
from helpers import release_dist


@pytest.fixture(scope="session")
def synthetic_cifar(tmp_path_factory):
    """A cifar-10-batches-py folder: 5 x 400 training and 400 test images."""
    folder, raw = write_cifar(tmp_path_factory.mktemp("cifar"), n_per_batch=400, n_test=400)
    return folder


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    """The folder with softmax/ and softmax.zip (`python -m instructor release`)."""
    return release_dist(tmp_path_factory)


def _use_suite_double_until_the_suite_exists():
    """The trusted grade imports instructor.checks.suite; while the package has none,
    the grader processes the tests start use the test double in this folder."""
    import importlib.util
    import os
    if importlib.util.find_spec("instructor.checks.suite") is None:
        here = os.path.dirname(os.path.abspath(__file__))
        os.environ["GRADER_CHECK_SUITE"] = "trusted_suite_double"
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))


_use_suite_double_until_the_suite_exists()
