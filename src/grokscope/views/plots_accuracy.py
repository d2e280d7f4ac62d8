"""The accuracy figure (paper Fig 16; teacher–student thresholds of Figs 8, 17).

Train/test argmax accuracy on the left axis, train/test loss (dashed, log) on the right; for the
teacher task also the test accuracy at every threshold θ (``test_acc_thr_<θ>``: fraction of test
samples with per-sample MSE < θ). Coinciding accuracy curves are drawn once
(:func:`grokscope.views.style.plot_series`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from grokscope.views.style import honest_twin, legend_all, plot_series, steps_x


def _accuracy_series(run: Any, thresholds: bool) -> list[tuple[str, Any, dict[str, Any]]]:
    df = run.metrics
    series = [("train accuracy", df["train_acc"], dict(color="C0", lw=1.8)),
              ("test accuracy", df["test_acc"], dict(color="C1", lw=1.8))]
    if thresholds:
        cols = [c for c in df.columns if c.startswith("test_acc_thr_")]
        series += [(f"test, MSE < {c.removeprefix('test_acc_thr_')}", df[c], dict(lw=0.9, alpha=0.8, color=f"C{2 + i}"))
                   for i, c in enumerate(cols)]
    return [(lab, np.asarray(y, dtype=float), kw) for lab, y, kw in series]


def accuracy_panel(run: Any, ax: Any, thresholds: bool = False) -> Any:
    """Train/test argmax accuracy (left axis) with train/test loss (right, log): the paper's Fig 16
    point that accuracy and loss can tell different stories (Nanda et al.'s Fig 1 axes: log steps)."""
    df = run.metrics
    x = steps_x(df)
    plot_series(ax, x, _accuracy_series(run, thresholds), logy=False)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy")
    ax2 = ax.twinx()
    plot_series(ax2, x, [("train loss (right axis)", df["train_loss"], dict(color="C0", lw=0.9, ls="--")),
                         ("test loss (right axis)", df["test_loss"], dict(color="C1", lw=0.9, ls="--"))], logy=True)
    ax2.set_yscale("log")
    losses = np.concatenate([df[c].to_numpy(dtype=float, na_value=np.nan) for c in ("train_loss", "test_loss")])
    honest_twin(ax2, losses, "loss (dashed)")
    legend_all(ax, ax2, loc="center left")
    return ax


def accuracy_with_thresholds(run: Any, ax: Any) -> Any:
    """:func:`accuracy_panel` with the teacher task's per-threshold test accuracies."""
    return accuracy_panel(run, ax, thresholds=True)

