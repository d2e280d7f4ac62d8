"""Accuracy figure for classification and teacher–student runs (paper Figs 6a, 8, 16, 17).

``figures/accuracy.png``: train (dashed) and test (solid) accuracy against the step on a log axis;
for the teacher task also the test accuracy at every threshold θ (``test_acc_thr_<θ>``, Fig 17).
"""
from __future__ import annotations

from typing import Any


def accuracy_panel(run: Any, ax: Any) -> Any:
    df = run.metrics
    x = df["step"].clip(lower=1)
    for col, style in (("train_acc", "--"), ("test_acc", "-")):
        if col in df and df[col].notna().any():
            ax.plot(x, df[col], style, color="k", lw=1.6, label=col.replace("_", " "))
    thr = [c for c in df.columns if c.startswith("test_acc_thr_")]
    for col in thr:
        ax.plot(x, df[col], lw=1.0, alpha=0.8, label=f"test, MSE < {col.removeprefix('test_acc_thr_')}")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7)
    return ax


def save_accuracy_figure(run: Any, plt: Any, out: Any) -> str | None:
    """Write figures/accuracy.png when the run logged an accuracy; returns its relative path."""
    if "test_acc" not in run.metrics or not run.metrics["test_acc"].notna().any():
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    accuracy_panel(run, ax)
    fig.savefig(out / "accuracy.png", dpi=120)
    plt.close(fig)
    return "figures/accuracy.png"
