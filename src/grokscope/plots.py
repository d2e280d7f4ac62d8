"""Figures of one run, drawn from its stored metrics only (a view never recomputes training)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _first_abs(events: dict[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
    if not events or not events.get("absolute"):
        return None
    th, c = next(iter(events["absolute"].items()))
    return th, c


def fig1_panel(run: Any, ax: Any = None) -> Any:
    """Paper Fig 1(b): train and test loss against steps (log axes), threshold events marked."""
    plt = _plt()
    df = run.metrics
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    x = np.maximum(df["step"].to_numpy(), 1)  # step 0 drawn at 1 on the log axis
    ax.plot(x, df["train_loss"], color="C0", lw=1.8, label="train loss")
    ax.plot(x, df["test_loss"], color="C1", lw=1.8, label="test loss")
    if "test_loss_exact" in df:
        ax.plot(x, df["test_loss_exact"], color="C1", lw=0.9, ls=":", label="test loss (exact)")
    if "lin_train_loss" in df:
        ax.plot(x, df["lin_train_loss"], color="C0", lw=1.0, ls="--", alpha=0.8, label="linearised train")
        ax.plot(x, df["lin_test_loss"], color="C1", lw=1.0, ls="--", alpha=0.8, label="linearised test")
    k0 = (run.summary or {}).get("k0")
    if k0 and k0.get("test_mse"):
        ax.axhline(k0["test_mse"], color="C3", lw=1.0, label="K₀ regression test MSE")
    if "ntk_alignment" in df and df["ntk_alignment"].notna().any():
        ax2 = ax.twinx()
        m = df["ntk_alignment"].notna().to_numpy()
        ax2.plot(x[m], df["ntk_alignment"][m], color="C2", lw=1.2, label="NTK alignment")
        ax2.set_ylabel("NTK–label alignment (test)", color="C2")
        ax2.tick_params(axis="y", colors="C2")
    ev = (run.summary or {}).get("events")
    first = _first_abs(ev)
    if first:
        th, c = first
        ax.axhline(float(th), color="0.6", lw=0.8, ls="--")
        for key, col in (("t_train", "C0"), ("t_test", "C1")):
            if c[key] is not None:
                ax.axvline(max(c[key], 1), color=col, lw=0.9, ls="--")
        if c["grok_amount"]:
            ax.set_title(f"grokking amount {c['grok_amount']} steps (threshold {th})", fontsize=10)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("MSE" if run.config.train.loss == "mse" else "loss")
    ax.legend(fontsize=7, loc="lower left")
    return ax


def decomposition_panel(run: Any, ax: Any = None) -> Any:
    """Paper Fig 4: the three test-loss terms (variance, misalignment, linear power) over time."""
    plt = _plt()
    df = run.metrics
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    x = np.maximum(df["step"].to_numpy(), 1)
    for col, lab in (("decomp_variance", "variance"), ("decomp_misalignment", "misalignment"),
                     ("decomp_linear", "power in linear modes")):
        ax.plot(x, df[col], lw=1.5, label=lab)
    ax.plot(x, df["test_loss_exact"], color="k", lw=1.0, ls=":", label="exact test loss")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("test-loss term")
    ax.legend(fontsize=8)
    return ax


def movement_panel(run: Any, ax: Any = None) -> Any:
    """How far training leaves the lazy regime: kernel distance ‖K_t − K₀‖/‖K₀‖ and ‖θ − θ₀‖/‖θ₀‖."""
    plt = _plt()
    df = run.metrics
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    x = np.maximum(df["step"].to_numpy(), 1)
    for col, lab in (("kernel_distance", "kernel distance ‖K_t − K₀‖/‖K₀‖"),
                     ("param_change", "parameter change ‖θ − θ₀‖/‖θ₀‖")):
        if col in df and df[col].notna().any():
            m = df[col].notna().to_numpy() & (df[col].to_numpy(dtype=float, na_value=np.nan) > 0)
            ax.plot(x[m], df[col][m], lw=1.5, label=lab)
    lz = (run.summary or {}).get("laziness", {})
    if lz.get("departure_step"):
        ax.axvline(lz["departure_step"], color="0.5", ls="--", lw=0.9, label="departs from linearised twin")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
    return ax


def save_run_figures(run: Any) -> list[str]:
    """Write figures/fig1.png (and figures/decomposition.png when logged); returns relative paths."""
    from grokscope.store import atomic_write_figure
    plt = _plt()
    out = Path(run.path) / "figures"
    out.mkdir(exist_ok=True)
    written = []
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    fig1_panel(run, ax)
    atomic_write_figure(out / "fig1.png", fig)
    plt.close(fig)
    written.append("figures/fig1.png")
    if {"decomp_variance", "test_loss_exact"} <= set(run.metrics.columns):
        fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
        decomposition_panel(run, ax)
        atomic_write_figure(out / "decomposition.png", fig)
        plt.close(fig)
        written.append("figures/decomposition.png")
    if "kernel_distance" in run.metrics or "param_change" in run.metrics:
        fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
        movement_panel(run, ax)
        atomic_write_figure(out / "movement.png", fig)
        plt.close(fig)
        written.append("figures/movement.png")
    if "test_acc" in run.metrics and run.metrics["test_acc"].notna().any():
        fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
        accuracy_panel(run, ax)
        from grokscope.plots_accuracy import add_threshold_curves
        add_threshold_curves(run, ax)
        fig.savefig(out / "accuracy.png", dpi=120)
        plt.close(fig)
        written.append("figures/accuracy.png")
    return written


def accuracy_panel(run: Any, ax: Any = None) -> Any:
    """Train/test argmax accuracy (left axis) with train/test loss (right, log): the paper's Fig 16
    point that accuracy and loss can tell different stories (Nanda et al.'s Fig 1 axes: log steps)."""
    plt = _plt()
    df = run.metrics
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    x = np.maximum(df["step"].to_numpy(), 1)
    ax.plot(x, df["train_acc"], color="C0", lw=1.8, label="train accuracy")
    ax.plot(x, df["test_acc"], color="C1", lw=1.8, label="test accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy")
    ax2 = ax.twinx()
    ax2.plot(x, df["train_loss"], color="C0", lw=0.9, ls="--", label="train loss")
    ax2.plot(x, df["test_loss"], color="C1", lw=0.9, ls="--", label="test loss")
    ax2.set_yscale("log")
    ax2.set_ylabel("loss (dashed)")
    ax.legend(fontsize=7, loc="center left")
    return ax
