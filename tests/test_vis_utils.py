"""The plotting helpers return figures and draw what they are given."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cs231n import vis_utils  # noqa: E402

CLASSES = ["a", "b", "c"]


def test_show_samples():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (30, 32, 32, 3)).astype(np.uint8)
    y = np.arange(30) % 3
    fig = vis_utils.show_samples(X, y, CLASSES, samples_per_class=4)
    assert len(fig.axes) == 12 and fig.axes[0].get_title() == "a"
    plt.close(fig)


def test_plot_loss():
    fig = vis_utils.plot_loss(np.linspace(3, 1, 500))
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and len(lines[0].get_ydata()) == 500
    plt.close(fig)


def test_plot_sweep_marks_diverged():
    results = {(1e-6, 1e2): (0.3, 0.31), (1e-6, 1e3): (0.4, 0.38),
               (1e-5, 1e2): (np.nan, np.nan), (1e-5, 1e3): (0.2, 0.22)}
    fig = vis_utils.plot_sweep(results)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "diverged" in texts and "0.380" in texts
    plt.close(fig)


def test_show_weight_templates():
    W = np.random.default_rng(0).standard_normal((3073, 3))
    fig = vis_utils.show_weight_templates(W, CLASSES)
    assert [ax.get_title() for ax in fig.axes] == CLASSES
    img = fig.axes[0].get_images()[0].get_array()
    assert img.shape == (32, 32, 3)
    plt.close(fig)
