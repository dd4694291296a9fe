"""Plots for the softmax notebook. Each function returns its matplotlib figure."""
import matplotlib
import matplotlib.pyplot as plt
import numpy as np


def show_samples(X, y, classes, samples_per_class=7, seed=0):
    """
    A grid of example images, one column per class.

    Inputs:
    - X: (N, 32, 32, 3) images with values in [0, 255].
    - y: (N,) integer labels.
    - classes: list of C class names.
    """
    rng = np.random.default_rng(seed)
    C = len(classes)
    fig, axes = plt.subplots(samples_per_class, C, figsize=(C, samples_per_class),
                             squeeze=False)
    for c, name in enumerate(classes):
        members = np.flatnonzero(y == c)
        picks = rng.choice(members, min(samples_per_class, members.size), replace=False)
        for row in range(samples_per_class):
            ax = axes[row, c]
            ax.axis("off")
            if row < picks.size:
                ax.imshow(X[picks[row]].astype(np.uint8))
        axes[0, c].set_title(name)
    return fig


def plot_loss(loss_history, ax=None, title="Training loss"):
    """The loss at each SGD iteration, with a moving average to show the trend."""
    fig, ax = _fig_ax(ax)
    loss = np.asarray(loss_history, dtype=float)
    ax.plot(loss, lw=0.6, alpha=0.6, label="minibatch loss")
    window = min(50, max(1, loss.size // 10))
    if loss.size >= window > 1:
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(window - 1, loss.size), smooth, lw=2, label=f"mean of {window}")
        ax.legend()
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title)
    return fig


def plot_sweep(results, ax=None):
    """
    Heatmap of validation accuracy over the learning-rate x regularization grid.

    Each cell shows its accuracy in black or white, whichever stands out more
    from the cell's colour; the best setting is framed and marked "best", and a
    setting whose training diverged (NaN accuracy) is grey and says so.

    Inputs:
    - results: dict mapping (learning_rate, reg) to (train_accuracy, val_accuracy).
    """
    fig, ax = _fig_ax(ax)
    lrs = sorted({lr for lr, _ in results})
    regs = sorted({reg for _, reg in results})
    acc = np.full((len(lrs), len(regs)), np.nan)
    for (lr, reg), (_, val) in results.items():
        acc[lrs.index(lr), regs.index(reg)] = val
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")
    im = ax.imshow(acc, cmap=cmap, origin="lower", aspect="auto")
    fig.colorbar(im, ax=ax, label="validation accuracy")
    ax.set_xticks(range(len(regs)), [f"{r:.0e}" for r in regs], rotation=45)
    ax.set_yticks(range(len(lrs)), [f"{lr:.0e}" for lr in lrs])
    ax.set_xlabel("regularization strength")
    ax.set_ylabel("learning rate")
    best = None if np.all(np.isnan(acc)) else np.unravel_index(np.nanargmax(acc), acc.shape)
    for i in range(len(lrs)):
        for j in range(len(regs)):
            if np.isnan(acc[i, j]):
                text, background = "diverged", cmap.get_bad()
            else:
                text, background = f"{acc[i, j]:.3f}", im.cmap(im.norm(acc[i, j]))
            if (i, j) == best:
                text += "\nbest"
            ax.text(j, i, text, ha="center", va="center", fontsize=10,
                    fontweight="bold" if (i, j) == best else "normal",
                    color=text_colour(background))
    if best is not None:
        i, j = best
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=3,
                                   edgecolor=text_colour(im.cmap(im.norm(acc[i, j])))))
    ax.set_title("Validation accuracy")
    return fig


def relative_luminance(colour):
    """The WCAG relative luminance of a colour (0 for black, 1 for white)."""
    rgb = np.asarray(matplotlib.colors.to_rgb(colour), dtype=float)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(linear @ [0.2126, 0.7152, 0.0722])


def contrast_ratio(colour1, colour2):
    """The WCAG contrast ratio of two colours, from 1 (the same) to 21 (black on white)."""
    lighter, darker = sorted([relative_luminance(colour1), relative_luminance(colour2)],
                             reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_colour(background):
    """Black or white, whichever contrasts more with the background colour."""
    return max(("black", "white"), key=lambda c: contrast_ratio(c, background))


def show_weight_templates(W, classes):
    """
    Each class's weights drawn as a 32x32 image (the bias row is dropped).

    Inputs:
    - W: (D, C) weights with D = 3073 (3072 pixels in (height, width, RGB)
      order, then the bias).
    - classes: list of C class names.
    """
    C = len(classes)
    templates = np.asarray(W, dtype=float)[:-1, :].reshape(32, 32, 3, C)
    lo, hi = templates.min(), templates.max()
    fig, axes = plt.subplots(1, C, figsize=(1.5 * C, 2), squeeze=False)
    for c, name in enumerate(classes):
        # One common scale for all classes so their strengths can be compared.
        img = 255.0 * (templates[:, :, :, c] - lo) / max(hi - lo, 1e-12)
        axes[0, c].imshow(img.astype(np.uint8))
        axes[0, c].axis("off")
        axes[0, c].set_title(name)
    return fig


def _fig_ax(ax):
    if ax is None:
        fig, ax = plt.subplots()
        return fig, ax
    return ax.figure, ax
