"""Teacher–student accuracy thresholds on the accuracy figure (paper Figs 8, 17).

Adds the test accuracy at every threshold θ (``test_acc_thr_<θ>``: fraction of test samples with
per-sample MSE < θ) to :func:`grokscope.views.plots.accuracy_panel`'s axes.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def add_threshold_curves(run: Any, ax: Any) -> Any:
    df = run.metrics
    cols = [c for c in df.columns if c.startswith("test_acc_thr_")]
    if not cols:
        return ax
    x = np.maximum(df["step"].to_numpy(), 1)
    for col in cols:
        ax.plot(x, df[col], lw=0.9, alpha=0.8, label=f"test, MSE < {col.removeprefix('test_acc_thr_')}")
    ax.legend(fontsize=7, loc="center left")
    return ax
