"""Figures of one run, drawn from its stored metrics only (a view never recomputes training).

Every panel is titled with the run's key settings (:func:`grokscope.views.labels.settings_title`);
curves go through :func:`grokscope.views.style.plot_series` (coinciding curves drawn once, step-0
zeros dropped on log axes); reference lines (threshold, t_train, t_test, K₀) carry legend entries.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from grokscope.views.labels import settings_title
from grokscope.views.style import honest_twin, plot_series
from grokscope.views.style import legend_all as _legend
from grokscope.views.style import steps_x as _steps


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


def _new_ax(ax: Any) -> Any:
    if ax is None:
        _, ax = _plt().subplots(figsize=(6.4, 4.2), constrained_layout=True)
    return ax


def _event_lines(ax: Any, run: Any) -> None:
    """The first absolute threshold (dashed grey) and its t_train / t_test crossings, each in the legend."""
    first = _first_abs((run.summary or {}).get("events"))
    if not first:
        return
    th, c = first
    ax.axhline(float(th), color="0.55", lw=0.8, ls="--", label=f"threshold {th}")
    tt, te = c.get("t_train"), c.get("t_test")
    if tt is not None and tt == te:
        ax.axvline(max(tt, 1), color="C4", lw=0.9, ls="-.", label=f"t_train = t_test = {tt}")
    else:
        for key, t, col in (("t_train", tt, "C0"), ("t_test", te, "C1")):
            if t is not None:
                ax.axvline(max(t, 1), color=col, lw=0.9, ls="-.", label=f"{key} = {t}")
    if c.get("grok_amount"):
        ax.set_title(f"grokking amount {c['grok_amount']} steps (threshold {th})")


def fig1_panel(run: Any, ax: Any = None) -> Any:
    """Paper Fig 1(b): train and test loss against steps (log axes), threshold events marked, the NTK
    alignment on a right axis (honestly scaled: :func:`grokscope.views.style.honest_twin`)."""
    df, ax = run.metrics, _new_ax(ax)
    x = _steps(df)
    series = [("train loss", df["train_loss"], dict(color="C0", lw=1.8)),
              ("test loss", df["test_loss"], dict(color="C1", lw=1.8))]
    if "test_loss_exact" in df:
        series.append(("test loss (exact)", df["test_loss_exact"], dict(color="C1", lw=0.9, ls=":")))
    if "lin_train_loss" in df:
        series += [("linearised train", df["lin_train_loss"], dict(color="C0", lw=1.0, ls="--", alpha=0.8)),
                   ("linearised test", df["lin_test_loss"], dict(color="C1", lw=1.0, ls="--", alpha=0.8))]
    plot_series(ax, x, series, logy=True)
    k0 = (run.summary or {}).get("k0")
    if k0 and k0.get("test_mse"):
        ax.axhline(k0["test_mse"], color="C3", lw=1.0, label="K₀ regression test MSE")
    _event_lines(ax, run)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("MSE" if run.config.train.loss == "mse" else "loss")
    twins = []
    if "ntk_alignment" in df and df["ntk_alignment"].notna().any():
        ax2 = ax.twinx()
        m = df["ntk_alignment"].notna().to_numpy()
        y = df["ntk_alignment"].to_numpy(dtype=float, na_value=np.nan)[m]
        ax2.plot(x[m], y, color="C2", lw=1.2, label="NTK alignment (right axis)")
        honest_twin(ax2, y, "NTK–label alignment (test)")
        ax2.yaxis.label.set_color("C2")
        ax2.tick_params(axis="y", colors="C2")
        twins.append(ax2)
    _legend(ax, *twins, loc="lower left")
    return ax


def decomposition_panel(run: Any, ax: Any = None) -> Any:
    """Paper Fig 4: the three test-loss terms (variance, misalignment, linear power) over time; a term
    that is exactly 0 at step 0 starts at the first positive value (log axis)."""
    df, ax = run.metrics, _new_ax(ax)
    series = [(lab, df[col], dict(lw=1.5, color=f"C{i}")) for i, (col, lab) in enumerate(
        (("decomp_variance", "variance"), ("decomp_misalignment", "misalignment"),
         ("decomp_linear", "power in linear modes")))]
    series.append(("exact test loss", df["test_loss_exact"], dict(color="k", lw=1.0, ls=":")))
    plot_series(ax, _steps(df), series, logy=True)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("test-loss term")
    _legend(ax, fontsize=8)
    return ax


def movement_panel(run: Any, ax: Any = None) -> Any:
    """How far training leaves the lazy regime: kernel distance ‖K_t − K₀‖/‖K₀‖ and ‖θ − θ₀‖/‖θ₀‖."""
    df, ax = run.metrics, _new_ax(ax)
    series = [(lab, df[col].to_numpy(dtype=float, na_value=np.nan), dict(lw=1.5, color=f"C{i}"))
              for i, (col, lab) in enumerate((("kernel_distance", "kernel distance ‖K_t − K₀‖/‖K₀‖"),
                                              ("param_change", "parameter change ‖θ − θ₀‖/‖θ₀‖")))
              if col in df and df[col].notna().any()]
    plot_series(ax, _steps(df), series, logy=True)
    lz = (run.summary or {}).get("laziness", {})
    if lz.get("departure_step"):
        ax.axvline(lz["departure_step"], color="0.5", ls="--", lw=0.9,
                   label=f"departs from linearised twin (step {lz['departure_step']})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("relative change")
    _legend(ax, fontsize=8)
    return ax


def curves_panel(cols: dict[str, str], ylabel: str, logy: bool) -> Any:
    """A drawer ``draw(run, ax)`` of the metric columns ``cols`` ({column: legend label}) against
    step (log x; log y when ``logy``, non-positive values dropped there); coinciding columns (CKA ==
    centred alignment) are drawn once with one legend entry naming both."""
    def draw(run: Any, ax: Any) -> None:
        df = run.metrics
        series = []
        for col, lab in cols.items():
            if col in df and df[col].notna().any():
                colour = "C1" if "test" in col else "C0" if "train" in col else f"C{2 + len(series)}"
                series.append((lab, df[col].to_numpy(dtype=float, na_value=np.nan),
                               dict(lw=1.5, ls="--" if col.startswith("lin_") else "-", color=colour)))
        plot_series(ax, _steps(df), series, logy)
        ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        _legend(ax, fontsize=8)
    return draw


NTK_COLS = {"ntk_alignment": "NTK–label alignment (centred)", "ntk_alignment_uncentred": "alignment (uncentred)",
            "ntk_cka": "CKA"}
TWIN_COLS = {"train_loss": "network train", "test_loss": "network test",
             "lin_train_loss": "linearised twin train", "lin_test_loss": "linearised twin test"}


def titled(draw: Any) -> Any:
    """``draw`` followed by the run's settings as the title (the panel's own title, if any, below)."""
    def titled_draw(run: Any, ax: Any) -> Any:
        import textwrap
        out = draw(run, ax)
        sub = ax.get_title()
        head = "\n".join(textwrap.wrap(settings_title(run.config), 95))
        ax.set_title(head + (f"\n{sub}" if sub else ""), fontsize=8.5)
        return out
    titled_draw.panel = draw  # type: ignore[attr-defined]
    return titled_draw


def run_panels(run: Any) -> list[tuple[str, Any]]:
    """(name, draw) of every panel the run's metrics support; ``draw(run, ax)`` (titled with the run's
    settings), saved as figures/<name>.<format> by :func:`save_run_figures`."""
    from grokscope.views.plots_accuracy import accuracy_with_thresholds
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
        out.append(("accuracy", accuracy_with_thresholds))
    return [(name, titled(draw)) for name, draw in out]


def _formats(run: Any) -> list[str]:
    return list(getattr(run.config.output, "formats", None) or ["png"])


def save_run_figures(run: Any, canvas: Any = None) -> list[str]:
    """Write figures/<name>.<format> for every panel of :func:`run_panels` (fig1, and when logged
    ntk_alignment, decomposition, movement, twin, accuracy) in every format of ``output.formats``,
    all drawn on ``canvas`` (default: this thread's :func:`grokscope.views.canvas.shared_canvas`);
    returns the relative paths, panel by panel."""
    from grokscope.views.canvas import shared_canvas
    canvas = canvas or shared_canvas()
    out = Path(run.path) / "figures"
    out.mkdir(exist_ok=True)
    written = []
    for name, draw in run_panels(run):
        for p in canvas.save_formats(out / name, _formats(run), draw, run):
            written.append(f"figures/{p.name}")
    return written


def current_figure(run: Any, name: str, fmt: str = "png") -> Path | None:
    """figures/<name>.<fmt> when the run wrote it at or after the last write of its metrics (so it shows
    them all), else None."""
    f = Path(run.path) / "figures" / f"{name}.{fmt}"
    m = Path(run.path) / "metrics.parquet"
    if f.is_file() and m.is_file() and f.stat().st_mtime_ns >= m.stat().st_mtime_ns:
        return f
    return None


def update_run_figures(run: Any, force: bool = False, canvas: Any = None) -> list[tuple[str, bool]]:
    """Bring figures/ up to date with the stored metrics: draw each panel of :func:`run_panels` one of
    whose files (one per ``output.formats``) is missing or older than metrics.parquet (every panel
    when ``force``), keep the others. Returns (relative path, drawn now) per file, in panel order."""
    from grokscope.views.canvas import shared_canvas
    out: list[tuple[str, bool]] = []
    fmts = _formats(run)
    for name, draw in run_panels(run):
        drawn = force or any(current_figure(run, name, f) is None for f in fmts)
        if drawn:
            (Path(run.path) / "figures").mkdir(exist_ok=True)
            (canvas or shared_canvas()).save_formats(Path(run.path) / "figures" / name, fmts, draw, run)
        out += [(f"figures/{name}.{f}", drawn) for f in fmts]
    return out


def accuracy_panel(run: Any, ax: Any = None) -> Any:
    """Train/test accuracy with the losses (:func:`grokscope.views.plots_accuracy.accuracy_panel`)."""
    from grokscope.views.plots_accuracy import accuracy_panel as panel
    return panel(run, _new_ax(ax))
