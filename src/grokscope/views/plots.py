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
    df = run.metrics
    if ax is None:
        _, ax = _plt().subplots(figsize=(6.4, 4.2), constrained_layout=True)
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
    df = run.metrics
    if ax is None:
        _, ax = _plt().subplots(figsize=(6.4, 4.2), constrained_layout=True)
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
    df = run.metrics
    if ax is None:
        _, ax = _plt().subplots(figsize=(6.4, 4.2), constrained_layout=True)
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


def curves_panel(cols: dict[str, str], ylabel: str, logy: bool) -> Any:
    """A drawer ``draw(run, ax)`` of the metric columns ``cols`` ({column: legend label}) against
    step (log x; log y when ``logy``, non-positive values dropped there)."""
    def draw(run: Any, ax: Any) -> None:
        df = run.metrics
        x = np.maximum(df["step"].to_numpy(), 1)
        for col, lab in cols.items():
            if col in df and df[col].notna().any():
                y = df[col].to_numpy(dtype=float, na_value=np.nan)
                m = np.isfinite(y) & ((y > 0) if logy else True)
                colour = "C1" if "test" in col else "C0" if "train" in col else None
                ax.plot(x[m], y[m], lw=1.5, ls="--" if col.startswith("lin_") else "-", label=lab, color=colour)
        ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    return draw


NTK_COLS = {"ntk_alignment": "NTK–label alignment (centred)", "ntk_alignment_uncentred": "alignment (uncentred)",
            "ntk_cka": "CKA"}
TWIN_COLS = {"train_loss": "network train", "test_loss": "network test",
             "lin_train_loss": "linearised twin train", "lin_test_loss": "linearised twin test"}


def _accuracy_with_thresholds(run: Any, ax: Any) -> Any:
    from grokscope.views.plots_accuracy import add_threshold_curves
    accuracy_panel(run, ax)
    return add_threshold_curves(run, ax)


def run_panels(run: Any) -> list[tuple[str, Any]]:
    """(name, draw) of every panel the run's metrics support; ``draw(run, ax)``, saved as
    figures/<name>.png by :func:`save_run_figures`."""
    cols = set(run.metrics.columns)
    out: list[tuple[str, Any]] = [("fig1", fig1_panel)]
    if cols & set(NTK_COLS):
        out.append(("ntk_alignment", curves_panel(NTK_COLS, "alignment", False)))
    if {"decomp_variance", "test_loss_exact"} <= cols:
        out.append(("decomposition", decomposition_panel))
    if cols & {"kernel_distance", "param_change"}:
        out.append(("movement", movement_panel))
    if cols & {"lin_train_loss", "lin_test_loss"}:
        out.append(("twin", curves_panel(TWIN_COLS, "loss", True)))
    if "test_acc" in cols and run.metrics["test_acc"].notna().any():
        out.append(("accuracy", _accuracy_with_thresholds))
    return out


def save_run_figures(run: Any, canvas: Any = None) -> list[str]:
    """Write figures/<name>.png for every panel of :func:`run_panels` (fig1, and when logged
    ntk_alignment, decomposition, movement, twin, accuracy), all drawn on ``canvas`` (default: this
    thread's :func:`grokscope.views.canvas.shared_canvas`); returns the relative paths."""
    from grokscope.views.canvas import shared_canvas
    canvas = canvas or shared_canvas()
    out = Path(run.path) / "figures"
    out.mkdir(exist_ok=True)
    written = []
    for name, draw in run_panels(run):
        canvas.save(out / f"{name}.png", draw, run)
        written.append(f"figures/{name}.png")
    return written


def current_figure(run: Any, name: str) -> Path | None:
    """figures/<name>.png when the run wrote it at or after the last write of its metrics (so it shows
    them all), else None."""
    f = Path(run.path) / "figures" / f"{name}.png"
    m = Path(run.path) / "metrics.parquet"
    if f.is_file() and m.is_file() and f.stat().st_mtime_ns >= m.stat().st_mtime_ns:
        return f
    return None


def update_run_figures(run: Any, force: bool = False, canvas: Any = None) -> list[tuple[str, bool]]:
    """Bring figures/ up to date with the stored metrics: draw each panel of :func:`run_panels` whose
    PNG is missing or older than metrics.parquet (every panel when ``force``), keep the others.
    Returns (relative path, drawn now) per panel, in :func:`run_panels` order."""
    from grokscope.views.canvas import shared_canvas
    out: list[tuple[str, bool]] = []
    for name, draw in run_panels(run):
        drawn = force or current_figure(run, name) is None
        if drawn:
            (Path(run.path) / "figures").mkdir(exist_ok=True)
            (canvas or shared_canvas()).save(Path(run.path) / "figures" / f"{name}.png", draw, run)
        out.append((f"figures/{name}.png", drawn))
    return out


def accuracy_panel(run: Any, ax: Any = None) -> Any:
    """Train/test argmax accuracy (left axis) with train/test loss (right, log): the paper's Fig 16
    point that accuracy and loss can tell different stories (Nanda et al.'s Fig 1 axes: log steps)."""
    df = run.metrics
    if ax is None:
        _, ax = _plt().subplots(figsize=(6.4, 4.2), constrained_layout=True)
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
