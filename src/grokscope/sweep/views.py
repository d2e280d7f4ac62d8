"""Sweep views, drawn from results.parquet and the run directories only (never recomputing training).

- ``heatmap``: any results column over two axes (paper Fig 3(e): grok_amount_0.1 over (α, ε)); log
  axes where the axis is log-spaced; cells averaged over the other axes (e.g. seeds); × marks cells
  that never crossed the threshold (value missing in a finished run), a red ◆ cells with a diverged
  run, a grey ! failed or unfinished runs.
- ``curves``: a metric against steps for every run, coloured by one axis (``colour``; Fig 3(a)).
- ``collapse``: a results column against a derived quantity of config keys such as
  ``model.sigma**2*scaling.alpha`` (Fig 7), evaluated by a small arithmetic interpreter (no eval).
Figures go to SWEEP_DIR/figures/ through an atomic write.

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


def _save(fig: Any, sweep_dir: Path, name: str) -> Path:
    path = Path(sweep_dir) / "figures" / (re.sub(r"[^A-Za-z0-9_.=-]+", "_", name) + ".png")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    _plt().close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _edges(vals: np.ndarray, log: bool) -> np.ndarray:
    v = np.log(vals) if log else vals.astype(float)
    if len(v) == 1:
        e = np.array([v[0] - 0.5, v[0] + 0.5]) if not log else np.array([v[0] - 0.1, v[0] + 0.1])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    return np.exp(e) if log else e


def heatmap(df: pd.DataFrame, col: str, x: str, y: str, scales: dict[str, str] | None = None,
            sweep_dir: Path | None = None, ax: Any = None) -> Any:
    """Mean of ``col`` over runs in each (x, y) cell; markers for never-crossed / diverged / failed."""
    for c, w in ((col, "--heatmap"), (x, "--x"), (y, "--y")):
        _need(df, c, w)
    for c, w in ((x, "--x"), (y, "--y")):
        if pd.to_numeric(df[c], errors="coerce").isna().any() and df[c].notna().any():
            raise ConfigError(f"{w} {c!r}: heatmap axes must be numeric, got {sorted(map(str, pd.unique(df[c])))}")
    scales = scales or {}
    plt = _plt()
    xs = np.sort(pd.unique(df[x].dropna()).astype(float))
    ys = np.sort(pd.unique(df[y].dropna()).astype(float))
    Z = np.full((len(ys), len(xs)), np.nan)
    marks: list[tuple[float, float, str]] = []
    vals = pd.to_numeric(df[col], errors="coerce")
    for i, yv in enumerate(ys):
        for j, xv in enumerate(xs):
            cell = df[(df[x].astype(float) == xv) & (df[y].astype(float) == yv)]
            v = vals[cell.index]
            st = set(cell["status"])
            if v.notna().any():
                Z[i, j] = v.mean()
            if "diverged" in st:
                marks.append((xv, yv, "diverged"))
            elif st & {"failed", "pending", "incomplete"}:
                marks.append((xv, yv, "failed"))
            elif v.isna().all():
                marks.append((xv, yv, "never"))
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 5.0), constrained_layout=True)
    logx, logy = scales.get(x) == "log", scales.get(y) == "log"
    mesh = ax.pcolormesh(_edges(xs, logx), _edges(ys, logy), np.ma.masked_invalid(Z), cmap="magma", shading="flat")
    ax.figure.colorbar(mesh, ax=ax, label=col)
    style = {"never": ("x", "0.6", "never crossed"), "diverged": ("D", "red", "diverged"),
             "failed": ("$!$", "0.4", "failed / unfinished")}
    for kind, (m, c, lab) in style.items():
        pts = [(a, b) for a, b, k in marks if k == kind]
        if pts:
            ax.scatter(*zip(*pts), marker=m, color=c, s=40, label=lab, zorder=3)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{col} over ({x}, {y})")
    if marks:
        ax.legend(fontsize=8, loc="upper left", framealpha=0.8)
    return ax


LEGEND_MAX = 8  # curves(): at most this many distinct colour values get a legend, not a colour bar


def curves(df: pd.DataFrame, sweep_dir: Path, metric: str, colour: str | None = None,
           scales: dict[str, str] | None = None, normalise: bool = False, ax: Any = None, *,
           color: str | None = None, normalize: bool | None = None) -> Any:
    """``metric`` against step for every finished run, coloured by axis ``colour`` (÷ its step-0 value
    when ``normalise``, as in paper Fig 3(a)); a legend of the values when there are at most
    ``LEGEND_MAX`` of them (e.g. fig9's three P), else a colour bar. ``color``, ``normalize``:
    deprecated spellings of ``colour``, ``normalise`` (DeprecationWarning)."""
    colour = _alias(colour, color, "color", "colour", "curves() keyword")
    if normalize is not None:
        deprecated("normalize", "normalise", "curves() keyword")
        normalise = normalise or bool(normalize)
    if colour is None:
        raise ConfigError(f"--curves {metric!r}: needs --colour KEY")
    _need(df, colour, "--colour")
    import matplotlib as mpl
    plt = _plt()
    scales = scales or {}
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    cv = pd.to_numeric(df[colour], errors="coerce").astype(float)
    finite = cv[np.isfinite(cv)]
    if finite.empty:
        raise ConfigError(f"--colour {colour!r}: no numeric values in the results")
    lo, hi = float(finite.min()), float(finite.max())
    norm = (mpl.colors.LogNorm(lo, hi) if scales.get(colour) == "log" and lo > 0 and hi > lo
            else mpl.colors.Normalize(lo, hi if hi > lo else lo + 1))
    cmap = mpl.colormaps["viridis"]
    drawn = 0
    for i, r in df.iterrows():
        mp = Path(sweep_dir) / r["run_dir"] / "metrics.parquet"
        if r["status"] not in ("completed", "diverged") or not mp.is_file():
            continue
        m = pd.read_parquet(mp)
        if metric not in m.columns:
            raise ConfigError(f"--curves {metric!r}: not a metric of run {r['run_id']}; it has "
                              f"{', '.join(c for c in m.columns if c != 'step')}")
        yv = m[metric].to_numpy(float)
        ok = np.isfinite(yv)
        if normalise and ok.any():
            yv = yv / yv[ok][0]
        ax.plot(np.maximum(m["step"].to_numpy()[ok], 1), yv[ok], color=cmap(norm(cv[i])), lw=1.3)
        drawn += 1
    if drawn == 0:
        raise ConfigError("--curves: no finished run to draw yet")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{metric} / {metric}(0)" if normalise else metric)
    values = sorted(set(finite.tolist()))
    if len(values) <= LEGEND_MAX:
        from matplotlib.lines import Line2D
        ax.legend(handles=[Line2D([], [], color=cmap(norm(v)), lw=1.3, label=f"{colour} = {v:g}")
                           for v in values], fontsize=8, framealpha=0.8)
    else:
        ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=colour)
    return ax


def collapse(df: pd.DataFrame, col: str, expr: str, colour: str | None = None, ax: Any = None, *,
             color: str | None = None) -> Any:
    """``col`` against the derived quantity ``expr`` on log-log axes (non-positive values dropped),
    points coloured by the axis ``colour`` when given (``color``: deprecated spelling)."""
    colour = _alias(colour, color, "color", "colour", "collapse() keyword")
    _need(df, col, "--collapse")
    plt = _plt()
    xv = derived(expr, df)
    yv = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    ok = np.isfinite(xv) & np.isfinite(yv) & (xv > 0) & (yv > 0)
    if not ok.any():
        raise ConfigError(f"--collapse {col!r} against {expr!r}: no run has positive finite values of both")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 4.4), constrained_layout=True)
    if colour is not None and colour in df.columns:
        c = pd.to_numeric(df[colour], errors="coerce").to_numpy(float)[ok]
        sc = ax.scatter(xv[ok], yv[ok], c=c, cmap="viridis", s=30,
                        norm="log" if (c > 0).all() and len(set(c)) > 1 else None)
        ax.figure.colorbar(sc, ax=ax, label=colour)
    else:
        ax.scatter(xv[ok], yv[ok], s=30)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(expr)
    ax.set_ylabel(col)
    ax.set_title(f"{col} against {expr}")
    return ax


def draw(sweep_dir: str | Path, views: list[dict[str, Any]]) -> list[Path]:
    """Draw views ({heatmap, x, y} | {curves, colour[, normalise]} | {collapse, derived[, colour]}) of a
    sweep. The deprecated keys ``color`` and ``normalize`` still work and warn (:func:`canonical_view`)."""
    from grokscope.sweep.runner import load_sweep
    sweep_dir = Path(sweep_dir)
    spec, _ = load_sweep(sweep_dir)
    rp = sweep_dir / "results.parquet"
    if not rp.is_file():
        raise ConfigError(f"{str(sweep_dir)!r}: no results.parquet yet (run `grokscope sweep` first)")
    df = pd.read_parquet(rp)
    plt = _plt()
    out = []
    for v in map(canonical_view, views):
        fig, ax = plt.subplots(figsize=(6.4, 4.8), constrained_layout=True)
        try:
            if "heatmap" in v:
                x, y = v.get("x"), v.get("y")
                if not x or not y:
                    raise ConfigError(f"heatmap {v['heatmap']!r}: needs --x KEY and --y KEY (axes: "
                                      f"{', '.join(spec.axes_keys)})")
                heatmap(df, v["heatmap"], x, y, spec.scales, sweep_dir, ax=ax)
                name = f"heatmap_{v['heatmap']}__{x}__{y}"
            elif "curves" in v:
                colour = v.get("colour") or (spec.axes_keys[0] if spec.axes_keys else None)
                if colour is None:
                    raise ConfigError(f"curves {v['curves']!r}: needs --colour KEY")
                curves(df, sweep_dir, v["curves"], colour, spec.scales, bool(v.get("normalise")), ax=ax)
                name = f"curves_{v['curves']}__{colour}"
            elif "collapse" in v:
                if not v.get("derived"):
                    raise ConfigError(f"collapse {v['collapse']!r}: needs --derived EXPR")
                collapse(df, v["collapse"], v["derived"], v.get("colour"), ax=ax)
                name = f"collapse_{v['collapse']}__{v['derived']}"
            else:
                raise ConfigError(f"plot view {v!r}: expected a heatmap, curves or collapse entry")
        except BaseException:
            plt.close(fig)
            raise
        out.append(_save(fig, sweep_dir, name))
    return out
