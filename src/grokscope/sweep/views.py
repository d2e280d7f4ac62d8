"""Sweep views, drawn from results.parquet and the run directories only (never recomputing training).

- ``heatmap``: any results column over two axes (paper Fig 3(e): grok_amount_0.1 over (α, ε)), drawn
  by :mod:`grokscope.views.phase`: ticks at the sampled values, log axes where the axis is log-spaced,
  a log colour scale over more than a decade; cells averaged over the other axes (e.g. seeds), their
  interquartile range written in the cell; × marks cells that never crossed the threshold (value
  missing in a finished run), a red ◆ cells with a diverged run, a grey ! failed or unfinished runs.
- ``curves``: a metric against steps for every run, coloured by one axis (``colour``; Fig 3(a)); another
  varying setting gets line styles, seeds an interquartile band (:mod:`grokscope.views.sweep_curves`).
- ``collapse``: a results column against a derived quantity of config keys such as
  ``model.sigma**2*scaling.alpha`` (Fig 7), evaluated by a small arithmetic interpreter (no eval).
Labels are human names with symbols (:mod:`grokscope.views.labels`). Figures go to SWEEP_DIR/figures/
in every format of the sweep's ``output.formats``, through an atomic write.

View keys are spelt the British way (``colour``, ``normalise``); the American ``color`` and
``normalize`` of earlier specs are deprecated aliases that still work and warn (DeprecationWarning).
"""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grokscope.config import ConfigError
from grokscope.store import atomic_write_bytes

# deprecated view keys and keyword arguments → their British spelling
DEPRECATED_VIEW_KEYS = {"color": "colour", "normalize": "normalise"}


def deprecated(old: str, new: str, what: str, stacklevel: int = 3) -> None:
    """Warn (DeprecationWarning) that ``old`` is a deprecated spelling of ``new``."""
    warnings.warn(f"grokscope: {what} {old!r} is deprecated (American spelling); use {new!r}",
                  DeprecationWarning, stacklevel=stacklevel)


def _alias(new_value: Any, old_value: Any, old: str, new: str, what: str) -> Any:
    """The value given under ``new`` or, with a deprecation warning, under ``old`` (not both)."""
    if old_value is None:
        return new_value
    deprecated(old, new, what, stacklevel=4)
    if new_value is not None and new_value != old_value:
        raise ConfigError(f"{what} {old!r} (deprecated) and {new!r} given with different values; give {new!r} only")
    return old_value


def canonical_view(view: dict[str, Any]) -> dict[str, Any]:
    """A plot view with the deprecated keys (``color``, ``normalize``) renamed to ``colour``,
    ``normalise``, warning (DeprecationWarning) for each; the same view when it has none."""
    out = {}
    for k, v in view.items():
        new = DEPRECATED_VIEW_KEYS.get(k)
        if new is None:
            out[k] = v
            continue
        out[new] = _alias(view.get(new), v, k, new, "sweep plot key")
    return out


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def derived(expr: str, df: pd.DataFrame) -> np.ndarray:
    """Evaluate an arithmetic expression of results columns (dotted config keys), one value per row
    (bounded, x/0 → NaN: grokscope.sweep.spec.evaluate_expression)."""
    from grokscope.sweep.spec import evaluate_expression

    def column(key: str) -> np.ndarray:
        if key not in df.columns:
            raise ConfigError(f"--derived {expr!r}: {key!r} is not a results column; use dotted config keys "
                              f"such as scaling.alpha or model.sigma")
        return pd.to_numeric(df[key], errors="coerce").to_numpy(dtype=float)

    return np.broadcast_to(evaluate_expression(expr, column), (len(df),)).copy()


def _need(df: pd.DataFrame, col: str, what: str) -> None:
    if col not in df.columns:
        sample = ", ".join(c for c in df.columns if not c.startswith(("task.", "optim.", "probes.", "events.")))[:400]
        raise ConfigError(f"{what} {col!r}: not a results column; available include {sample}")


def save_figure(fig: Any, sweep_dir: Path, name: str, formats: list[str] | tuple[str, ...] = ("png",)) -> list[Path]:
    """Write ``fig`` as SWEEP_DIR/figures/<name>.<format> for every format (atomically); close it.
    Tick labels that would overlap are rotated, then thinned first (:func:`declutter_ticks`)."""
    from grokscope.views.canvas import vector_bytes
    from grokscope.views.style import declutter_ticks
    stem = re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)
    paths = []
    try:
        declutter_ticks(fig)
        for fmt in formats:
            path = Path(sweep_dir) / "figures" / f"{stem}.{fmt}"
            if fmt == "png":
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=120)
                data = buf.getvalue()
            else:
                data = vector_bytes(fig, fmt)
            atomic_write_bytes(path, data)
            paths.append(path)
    finally:
        _plt().close(fig)
    return paths


def heatmap(df: pd.DataFrame, col: str, x: str, y: str, scales: dict[str, str] | None = None,
            sweep_dir: Path | None = None, ax: Any = None) -> Any:
    """Mean of ``col`` over runs in each (x, y) cell, drawn by :func:`grokscope.views.phase.draw_heatmap`
    (ticks at the sampled values, log axes where ``scales`` says log, log colours over > 1 decade,
    markers for never-crossed / diverged / failed cells, the seed spread as each cell's IQR)."""
    from grokscope.views.phase import cell_stats, draw_heatmap
    for c, w in ((col, "--heatmap"), (x, "--x"), (y, "--y")):
        _need(df, c, w)
    for c, w in ((x, "--x"), (y, "--y")):
        if pd.to_numeric(df[c], errors="coerce").isna().any() and df[c].notna().any():
            raise ConfigError(f"{w} {c!r}: heatmap axes must be numeric, got {sorted(map(str, pd.unique(df[c])))}")
    scales = scales or {}
    if ax is None:
        _, ax = _plt().subplots(figsize=(6.4, 5.0), constrained_layout=True)
    stats = cell_stats(df, col, x, y)
    draw_heatmap(ax, stats, col, x, y, scales.get(x) == "log", scales.get(y) == "log")
    if stats["marks"]:
        fig = ax.figure
        if fig.get_layout_engine() is not None:
            fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=8)
        else:
            ax.legend(fontsize=8, loc="upper left", framealpha=0.8)
    return ax


LEGEND_MAX = 8  # curves(): at most this many distinct colour values get a legend, not a colour bar


def curves(df: pd.DataFrame, sweep_dir: Path, metric: str, colour: str | None = None,
           scales: dict[str, str] | None = None, normalise: bool = False, ax: Any = None, *,
           color: str | None = None, normalize: bool | None = None) -> Any:
    """``metric`` against step for every finished run, coloured by axis ``colour`` (÷ its step-0 value
    when ``normalise``, as in paper Fig 3(a)); a legend of the values when there are at most
    ``LEGEND_MAX`` of them (e.g. fig9's three P), else a colour bar. Another varying setting gets line
    styles, seeds an interquartile band (:mod:`grokscope.views.sweep_curves`). ``color``,
    ``normalize``: deprecated spellings of ``colour``, ``normalise`` (DeprecationWarning)."""
    from grokscope.views.labels import fmt_number, label, symbol
    from grokscope.views.sweep_curves import draw_curves, legend_note, ylabel
    colour = _alias(colour, color, "color", "colour", "curves() keyword")
    if normalize is not None:
        deprecated("normalize", "normalise", "curves() keyword")
        normalise = normalise or bool(normalize)
    if colour is None:
        raise ConfigError(f"--curves {metric!r}: needs --colour KEY")
    _need(df, colour, "--colour")
    import matplotlib as mpl
    scales = scales or {}
    if ax is None:
        _, ax = _plt().subplots(figsize=(6.4, 4.4), constrained_layout=True)
    cv = pd.to_numeric(df[colour], errors="coerce").astype(float)
    finite = cv[np.isfinite(cv)]
    if finite.empty:
        raise ConfigError(f"--colour {colour!r}: no numeric values in the results")
    lo, hi = float(finite.min()), float(finite.max())
    norm = (mpl.colors.LogNorm(lo, hi) if scales.get(colour) == "log" and lo > 0 and hi > lo
            else mpl.colors.Normalize(lo, hi if hi > lo else lo + 1))
    cmap = mpl.colormaps["viridis"]
    data: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    for i, r in df.iterrows():
        mp = Path(sweep_dir) / r["run_dir"] / "metrics.parquet"
        if r["status"] not in ("completed", "diverged") or not mp.is_file() or not np.isfinite(cv[i]):
            continue
        m = pd.read_parquet(mp)
        if metric not in m.columns:
            raise ConfigError(f"--curves {metric!r}: not a metric of run {r['run_id']}; it has "
                              f"{', '.join(c for c in m.columns if c != 'step')}")
        yv = m[metric].to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(yv)
        if normalise and ok.any():
            yv = yv / yv[ok][0]
        data[i] = (m["step"].to_numpy(dtype=float), yv)
    if not data:
        raise ConfigError("--curves: no finished run to draw yet")
    info = draw_curves(ax, df, data, colour, cmap, norm)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel(metric, normalise))
    from matplotlib.lines import Line2D
    values = sorted(set(finite.tolist()))
    handles = []
    if len(values) <= LEGEND_MAX:
        handles = [Line2D([], [], color=cmap(norm(v)), lw=1.3, label=f"{symbol(colour)} = {fmt_number(v)}")
                   for v in values]
    else:
        ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=label(colour))
    handles += [Line2D([], [], color="0.3", lw=1.3, ls=ls, label=lab) for lab, ls in info["styles"]]
    note = legend_note(info)
    if handles:
        ax.legend(handles=handles, fontsize=7, framealpha=0.8, title=note or None, title_fontsize=7)
    elif note:  # a colour bar and no legend: the note goes above the axes
        ax.set_title(note, fontsize=8)
    return ax


def expr_label(expr: str) -> str:
    """A derived-quantity expression with its dotted keys written as their symbols (σ**2*α → σ²α)."""
    from grokscope.views.labels import symbol
    out = re.sub(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_.]*", lambda m: symbol(m.group(0)), expr)
    return out.replace("**2", "²").replace("**3", "³").replace("*", "·")


def collapse(df: pd.DataFrame, col: str, expr: str, colour: str | None = None, ax: Any = None, *,
             color: str | None = None) -> Any:
    """``col`` against the derived quantity ``expr`` on log-log axes (non-positive values dropped),
    points coloured by the axis ``colour`` when given: a colour scale for a numeric key, one marker per
    value (with a legend) for a categorical one (``color``: deprecated spelling). Only completed runs
    are drawn (when ``df`` has a status column); the title says how many others were left out."""
    from grokscope.views.labels import label
    colour = _alias(colour, color, "color", "colour", "collapse() keyword")
    _need(df, col, "--collapse")
    plt = _plt()
    left_out = 0
    if "status" in df.columns:  # a diverged or failed run's last values are not a result
        done = (df["status"] == "completed").to_numpy()
        left_out, df = int((~done).sum()), df[done].reset_index(drop=True)
    xv = derived(expr, df)
    yv = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    ok = np.isfinite(xv) & np.isfinite(yv) & (xv > 0) & (yv > 0)
    if not ok.any():
        raise ConfigError(f"--collapse {col!r} against {expr!r}: no run has positive finite values of both")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 4.4), constrained_layout=True)
    numeric = colour is not None and colour in df.columns and pd.to_numeric(df[colour], errors="coerce").notna().all()
    if colour is not None and colour in df.columns and not numeric:
        # a categorical key (task.env, init.recurrent.kind): one marker and colour per value, in a legend
        for i, (value, idx) in enumerate(df[ok].groupby(colour, sort=True).groups.items()):
            pos = df.index.get_indexer(idx)
            ax.scatter(xv[pos], yv[pos], s=30, marker="osD^v<>"[i % 7], color=f"C{i % 10}", label=str(value))
        ax.legend(title=label(colour), fontsize=7, title_fontsize=7, framealpha=0.8)
    elif numeric:
        c = pd.to_numeric(df[colour], errors="coerce").to_numpy(float)[ok]
        sc = ax.scatter(xv[ok], yv[ok], c=c, cmap="viridis", s=30,
                        norm="log" if (c > 0).all() and len(set(c)) > 1 else None)
        ax.figure.colorbar(sc, ax=ax, label=label(colour))
    else:
        ax.scatter(xv[ok], yv[ok], s=30)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(expr_label(expr))
    ax.set_ylabel(label(col))
    title = f"{label(col)} against {expr_label(expr)}"
    if left_out:
        title += f"\n({left_out} diverged or failed run{'s' if left_out > 1 else ''} left out)"
    ax.set_title(title, fontsize=9)
    return ax


def _theory_boundary(ax: Any, df: pd.DataFrame, spec: Any, x: str, y: str) -> None:
    """Draw the asymptotic theory's generalisation and grokking edges over a heat map (views.phase_theory);
    edges that do not cross the plane are said in a note under the axes."""
    from grokscope.views.phase_theory import boundaries, draw_boundaries
    xs = np.sort(pd.to_numeric(df[x]).dropna().unique())
    ys = np.sort(pd.to_numeric(df[y]).dropna().unique())
    b = boundaries(spec.base, x, y, xs, ys, spec.scales.get(x) == "log", spec.scales.get(y) == "log")
    notes = draw_boundaries(ax, b)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, fontsize=7, loc="upper left", framealpha=0.8)
    if notes:
        ax.text(0.0, -0.2, "theory: " + "; ".join(notes), transform=ax.transAxes, fontsize=7, va="top")


def render_view(df: pd.DataFrame, spec: Any, sweep_dir: Path, v: dict[str, Any]) -> tuple[Any, str]:
    """(figure, file stem) of one canonical plot view of a sweep (see :func:`draw`); not yet saved."""
    fig, ax = _plt().subplots(figsize=(6.4, 4.8), constrained_layout=True)
    try:
        if "heatmap" in v:
            x, y = v.get("x"), v.get("y")
            if not x or not y:
                raise ConfigError(f"heatmap {v['heatmap']!r}: needs --x KEY and --y KEY (axes: "
                                  f"{', '.join(spec.axes_keys)})")
            heatmap(df, v["heatmap"], x, y, spec.scales, sweep_dir, ax=ax)
            if v.get("theory") not in (None, "boundary"):
                raise ConfigError(f"heatmap {v['heatmap']!r}: theory = {v['theory']!r}; allowed: boundary")
            if v.get("theory") == "boundary":
                _theory_boundary(ax, df, spec, x, y)
            return fig, f"heatmap_{v['heatmap']}__{x}__{y}"
        if "curves" in v:
            colour = v.get("colour") or (spec.axes_keys[0] if spec.axes_keys else None)
            if colour is None:
                raise ConfigError(f"curves {v['curves']!r}: needs --colour KEY")
            curves(df, sweep_dir, v["curves"], colour, spec.scales, bool(v.get("normalise")), ax=ax)
            return fig, f"curves_{v['curves']}__{colour}"
        if "collapse" in v:
            if not v.get("derived"):
                raise ConfigError(f"collapse {v['collapse']!r}: needs --derived EXPR")
            collapse(df, v["collapse"], v["derived"], v.get("colour"), ax=ax)
            return fig, f"collapse_{v['collapse']}__{v['derived']}"
        raise ConfigError(f"plot view {v!r}: expected a heatmap, curves or collapse entry")
    except BaseException:
        _plt().close(fig)
        raise


def draw(sweep_dir: str | Path, views: list[dict[str, Any]]) -> list[Path]:
    """Draw views ({heatmap, x, y} | {curves, colour[, normalise]} | {collapse, derived[, colour]}) of a
    sweep, each written in every format of the sweep's ``output.formats`` (returns every path). The
    deprecated keys ``color`` and ``normalize`` still work and warn (:func:`canonical_view`)."""
    from grokscope.sweep.runner import load_sweep
    sweep_dir = Path(sweep_dir)
    spec, _ = load_sweep(sweep_dir)
    rp = sweep_dir / "results.parquet"
    if not rp.is_file():
        raise ConfigError(f"{str(sweep_dir)!r}: no results.parquet yet (run `grokscope sweep` first)")
    df = pd.read_parquet(rp)
    out = []
    for v in map(canonical_view, views):
        fig, name = render_view(df, spec, sweep_dir, v)
        out.extend(save_figure(fig, sweep_dir, name, spec.base.output.formats))
    return out
