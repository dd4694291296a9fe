"""The plotting helpers return figures and draw what they are given."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

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
    assert "diverged" in texts and "0.380\nbest" in texts
    plt.close(fig)


def _sweep(seed, shape=(3, 4), diverged=1):
    """A seeded grid of validation accuracies, some settings diverged (NaN)."""
    rng = np.random.default_rng(seed)
    lrs = np.sort(rng.uniform(1e-8, 1e-5, shape[0]))
    regs = np.sort(rng.uniform(1e1, 1e5, shape[1]))
    results = {(lr, reg): (0.0, float(rng.uniform(0.05, 0.45))) for lr in lrs for reg in regs}
    for key in list(results)[:diverged]:
        results[key] = (np.nan, np.nan)
    return results


def _cell_texts(fig, results):
    """{(row, col): (text, text colour, the cell's colour)} of the heatmap."""
    ax = fig.axes[0]
    im = ax.get_images()[0]
    acc = im.get_array()
    cells = {}
    for t in ax.texts:
        j, i = (int(round(v)) for v in t.get_position())
        value = acc[i, j]
        background = im.cmap.get_bad() if np.ma.is_masked(value) or np.isnan(value) \
            else im.cmap(im.norm(value))
        cells[(i, j)] = (t.get_text(), t.get_color(), background)
    assert len(cells) == len(results)
    return cells


@pytest.mark.parametrize("seed", range(6))
def test_plot_sweep_values_contrast_with_their_cells(seed):
    results = _sweep(seed)
    fig = vis_utils.plot_sweep(results)
    for (i, j), (text, colour, background) in _cell_texts(fig, results).items():
        # WCAG AA asks 4.5 for normal text; black or white on viridis reaches it everywhere.
        ratio = vis_utils.contrast_ratio(colour, background)
        assert ratio >= 4.5, f"cell {(i, j)} {text!r}: contrast {ratio:.2f}"
        assert ax_font_size(fig, text) >= 9
    plt.close(fig)


def ax_font_size(fig, text):
    return next(t.get_fontsize() for t in fig.axes[0].texts if t.get_text() == text)


@pytest.mark.parametrize("seed", range(6))
def test_plot_sweep_marks_the_best_cell(seed):
    results = _sweep(seed, diverged=seed % 3)
    fig = vis_utils.plot_sweep(results)
    lrs = sorted({lr for lr, _ in results})
    regs = sorted({reg for _, reg in results})
    (lr, reg), (_, best_val) = max(((k, v) for k, v in results.items() if not np.isnan(v[1])),
                                   key=lambda kv: kv[1][1])
    best = (lrs.index(lr), regs.index(reg))
    cells = _cell_texts(fig, results)
    marked = [cell for cell, (text, _, _) in cells.items() if "best" in text]
    assert marked == [best] and f"{best_val:.3f}" in cells[best][0]
    frames = [p for p in fig.axes[0].patches if isinstance(p, matplotlib.patches.Rectangle)
              and p.get_xy() == (best[1] - 0.5, best[0] - 0.5)]
    assert len(frames) == 1 and not frames[0].get_fill()
    plt.close(fig)


def test_plot_sweep_all_diverged_marks_nothing():
    results = _sweep(0, shape=(2, 2), diverged=4)
    fig = vis_utils.plot_sweep(results)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["diverged"] * 4 and not fig.axes[0].patches
    plt.close(fig)


@pytest.mark.parametrize("background,expected", [("white", "black"), ("black", "white"),
                                                 ("#fde725", "black"), ("#440154", "white")])
def test_text_colour(background, expected):
    assert vis_utils.text_colour(background) == expected
    assert vis_utils.contrast_ratio("black", "white") == pytest.approx(21.0)


def test_show_weight_templates():
    W = np.random.default_rng(0).standard_normal((3073, 3))
    fig = vis_utils.show_weight_templates(W, CLASSES)
    assert [ax.get_title() for ax in fig.axes] == CLASSES
    img = fig.axes[0].get_images()[0].get_array()
    assert img.shape == (32, 32, 3)
    plt.close(fig)
