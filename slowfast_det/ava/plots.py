"""PNG plots of a frame-mAP result: per-class AP bars and precision-recall curves.

Uses matplotlib's object API with the Agg canvas (no global backend or pyplot state), and
writes each file atomically (:func:`slowfast_det.utils.file_io.atomic_path`).
"""

import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from slowfast_det.ava.result import ACTION_GROUPS, grouped_map
from slowfast_det.utils.file_io import atomic_path

__all__ = ["plot_per_class_ap", "plot_pr_curves", "write_plots"]

_MAX_POINTS = 2000  # points drawn per precision-recall curve


def _save(fig, path):
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _label(c, names):
    name = (names or {}).get(c, "")
    return f"{c} {name}".strip()


_GROUP_COLORS = {
    "pose": "tab:blue",
    "object manipulation": "tab:green",
    "person interaction": "tab:purple",
}


def _group_of(c):
    return next((g for g, (lo, hi) in ACTION_GROUPS.items() if lo <= c <= hi), None)


def plot_per_class_ap(result, path, class_names=None):
    """Horizontal bar chart of AP per class (classes with ground truth), with the mAP line.

    Bars are coloured by AVA action group (pose, object manipulation, person interaction;
    grey outside them), and each group's mAP is drawn as a dotted line over its own bars.

    Args:
        result: :class:`~slowfast_det.ava.metric.FrameMAPResult`.
        path: output PNG.
        class_names: optional dict id -> name.

    Returns:
        the matplotlib Figure (already saved).
    """
    items = [(c, ap) for c, ap in result.per_class.items() if ap is not None]
    fig = Figure(figsize=(8, max(3.0, 0.22 * len(items) + 1.2)))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(items))
    groups = [_group_of(c) for c, _ in items]
    ax.barh(y, [ap for _, ap in items], color=[_GROUP_COLORS.get(g, "tab:gray") for g in groups])
    ax.set_yticks(y)
    ax.set_yticklabels([_label(c, class_names) for c, _ in items], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(result.mAP, color="tab:red", linestyle="--", label=f"mAP {result.mAP:.4f}")
    grouped = result.grouped or grouped_map(result.per_class)
    for g, color in _GROUP_COLORS.items():
        rows = [i for i, gi in enumerate(groups) if gi == g]
        if rows and grouped.get(g, {}).get("mAP") is not None:
            lo, hi = ACTION_GROUPS[g]
            ax.vlines(
                grouped[g]["mAP"],
                min(rows) - 0.5,
                max(rows) + 0.5,
                colors=color,
                linestyles=":",
                linewidth=2,
                label=f"{g} ({lo}-{hi}) mAP {grouped[g]['mAP']:.4f}",
            )
    ax.set_xlim(0, 1)
    ax.set_xlabel("AP@0.5IoU (fraction)")
    ax.set_title(f"AVA frame AP per class (capacity {result.capacity or 'all'})")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    return fig


def _subsample(precision, recall):
    if len(recall) <= _MAX_POINTS:
        return precision, recall
    idx = np.unique(np.linspace(0, len(recall) - 1, _MAX_POINTS).astype(np.int64))
    return precision[idx], recall[idx]


def plot_pr_curves(result, path, class_names=None):
    """A grid of precision-recall curves, one panel per class with ground truth.

    Each panel shows the raw precision at each detection and its envelope (the curve the
    AP integrates), titled with the class and its AP.
    """
    classes = [c for c, ap in result.per_class.items() if ap is not None]
    cols = max(1, min(8, math.ceil(math.sqrt(len(classes)))))
    rows = max(1, math.ceil(len(classes) / cols))
    fig = Figure(figsize=(2.2 * cols, 2.0 * rows))
    for i, c in enumerate(classes):
        ax = fig.add_subplot(rows, cols, i + 1)
        precision, recall = result.pr_curves[c]
        if len(recall):
            envelope = np.maximum.accumulate(precision[::-1])[::-1]
            p, r = _subsample(precision, recall)
            e, _ = _subsample(envelope, recall)
            ax.plot(r, p, color="tab:blue", linewidth=0.6, alpha=0.6)
            ax.step(r, e, color="tab:red", linewidth=0.8, where="pre")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{_label(c, class_names)[:24]}: {result.per_class[c]:.3f}", fontsize=6)
        ax.tick_params(labelsize=5)
    fig.suptitle(
        f"Precision-recall per class (mAP {result.mAP:.4f}; x: recall, y: precision)", fontsize=9
    )
    fig.tight_layout()
    _save(fig, path)


def write_plots(result, folder, prefix="ava", class_names=None):
    """Write ``<prefix>_ap_per_class.png`` and ``<prefix>_pr_curves.png`` in ``folder``.

    Returns the two paths.
    """
    os.makedirs(folder, exist_ok=True)
    paths = (
        os.path.join(folder, f"{prefix}_ap_per_class.png"),
        os.path.join(folder, f"{prefix}_pr_curves.png"),
    )
    plot_per_class_ap(result, paths[0], class_names)
    plot_pr_curves(result, paths[1], class_names)
    return paths
