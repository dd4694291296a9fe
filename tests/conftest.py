"""Shared fixtures: a small synthetic CIFAR-10 in the official format."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)                          # import cs231n from the checkout
sys.path.insert(0, os.path.dirname(__file__))     # import cifar_fixture

from cifar_fixture import write_cifar  # noqa: E402


@pytest.fixture(scope="session")
def synthetic_cifar(tmp_path_factory):
    """A cifar-10-batches-py folder: 5 x 400 training and 400 test images."""
    folder, raw = write_cifar(tmp_path_factory.mktemp("cifar"), n_per_batch=400, n_test=400)
    return folder
