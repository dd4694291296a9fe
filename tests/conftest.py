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

