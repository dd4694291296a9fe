"""The hyperparameter sweep that trains a grid of classifiers together."""
import numpy as np
import pytest

from cs231n.classifiers import Softmax
from cs231n.sweep import sweep_hyperparameters


def data(seed=0, N=400, D=8, C=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, size=N)
    centres = rng.standard_normal((C, D - 1)) * 2
    X = np.hstack([centres[y] + rng.standard_normal((N, D - 1)), np.ones((N, 1))])
    return X[:300], y[:300], X[300:], y[300:]


# (lr, reg): weight decay 1 - 2 lr reg of 0.999 (never rescaled in 100 steps), 0.6
# (rescaled every 27 steps) and 0.2 (applied to the weights at every step)
@pytest.mark.parametrize("lr, reg", [(0.05, 0.01), (0.2, 1.0), (0.4, 1.0)])
def test_one_model_grid_matches_plain_training(lr, reg):
    Xtr, ytr, Xva, yva = data()
    results, best_val, best = sweep_hyperparameters(
        Xtr, ytr, Xva, yva, [lr], [reg], num_iters=100, batch_size=32, seed=5, verbose=False)
    plain = Softmax(seed=5)
    plain.train(Xtr, ytr, learning_rate=lr, reg=reg, num_iters=100, batch_size=32)
    np.testing.assert_allclose(best.W, plain.W, rtol=1e-6, atol=1e-9)
    assert results[(lr, reg)][1] == best_val == np.mean(plain.predict(Xva) == yva)
    assert results[(lr, reg)][0] == np.mean(plain.predict(Xtr) == ytr)


def test_grid_results_and_best():
    Xtr, ytr, Xva, yva = data(1)
    lrs, regs = [1e-4, 1e-2, 1e-1], [1e-3, 1.0]
    results, best_val, best = sweep_hyperparameters(
        Xtr, ytr, Xva, yva, lrs, regs, num_iters=150, batch_size=50, verbose=False)
    assert set(results) == {(lr, r) for lr in lrs for r in regs}
    assert best_val == max(v for _, v in results.values())
    assert np.mean(best.predict(Xva) == yva) == best_val
    assert best_val > 0.8
    # a tiny learning rate barely moves, a good one fits
    assert results[(1e-4, 1e-3)][0] < results[(1e-1, 1e-3)][0]


def test_diverging_models_are_reported_not_chosen(capsys):
    Xtr, ytr, Xva, yva = data(2)
    # lr * 2 * reg >> 2: each step multiplies W by about -2e8, so it overflows
    results, best_val, _ = sweep_hyperparameters(
        Xtr, ytr, Xva, yva, [1e-2, 1e8], [1.0], num_iters=60, batch_size=20)
    assert np.isnan(results[(1e8, 1.0)][1])
    assert best_val == results[(1e-2, 1.0)][1]
    assert "sweep:" in capsys.readouterr().out   # progress is shown


def test_all_diverged_raises():
    Xtr, ytr, Xva, yva = data(3)
    with pytest.raises(FloatingPointError, match="diverged"):
        sweep_hyperparameters(Xtr, ytr, Xva, yva, [1e9], [1.0], num_iters=60,
                              batch_size=20, verbose=False)


def test_bad_input():
    Xtr, ytr, Xva, yva = data(4)
    with pytest.raises(ValueError, match="empty"):
        sweep_hyperparameters(Xtr, ytr, Xva, yva, [], [1.0], verbose=False)
    with pytest.raises(ValueError, match="columns"):
        sweep_hyperparameters(Xtr, ytr, Xva[:, :3], yva, [1e-3], [1.0], verbose=False)
