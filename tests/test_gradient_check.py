"""Numerical gradients and the relative-error helper."""
import numpy as np
import pytest

from cs231n.gradient_check import eval_numerical_gradient, grad_check_sparse, rel_error


def test_rel_error_has_a_floor():
    assert rel_error(0.0, 0.0) == 0.0
    assert np.isfinite(rel_error(np.zeros(3), np.zeros(3))).all()
    np.testing.assert_allclose(rel_error(1.0, 3.0), 0.5)


@pytest.mark.parametrize("shape", [(4,), (3, 5), (2, 3, 2)])
def test_eval_numerical_gradient_of_a_quadratic(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    A = rng.standard_normal(shape)
    x0 = x.copy()
    grad = eval_numerical_gradient(lambda v: np.sum(A * v ** 2), x)
    np.testing.assert_allclose(grad, 2 * A * x0, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(x, x0)   # restored exactly


def test_eval_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])
    calls = []

    def f(v):
        calls.append(v.copy())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        eval_numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_eval_numerical_gradient_rejects_int_arrays():
    with pytest.raises(TypeError, match="float"):
        eval_numerical_gradient(lambda v: 0.0, np.arange(3))


def test_grad_check_sparse_small_for_right_large_for_wrong_gradient(capsys):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4))
    f = lambda v: float(np.sum(np.sin(v)))
    good = grad_check_sparse(f, x, np.cos(x), num_checks=8, seed=3)
    bad = grad_check_sparse(f, x, 2 * np.cos(x), num_checks=8, seed=3)
    assert good.shape == (8,) and good.max() < 1e-7
    assert bad.min() > 0.3
    assert "relative error" in capsys.readouterr().out


def test_grad_check_sparse_is_seeded_and_quiet_on_request(capsys):
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    f = lambda v: float(np.sum(v ** 3))
    a = grad_check_sparse(f, x, 3 * x ** 2 + 1e-3, num_checks=5, seed=9, verbose=False)
    b = grad_check_sparse(f, x, 3 * x ** 2 + 1e-3, num_checks=5, seed=9, verbose=False)
    np.testing.assert_array_equal(a, b)
    assert capsys.readouterr().out == ""


def test_grad_check_sparse_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        grad_check_sparse(lambda v: 0.0, np.zeros((2, 2)), np.zeros(4))
