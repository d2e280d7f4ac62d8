"""Phase diagrams (paper Fig 3(e), Fig 7 heatmaps): one cell per sampled (x, y), drawn readably.

- cells are centred on the sampled values, ticks sit at the cell centres and are labelled with them
  (``fmt_number``); a log-spaced axis is a log axis, its cell edges the geometric midpoints;
- the colour scale is logarithmic when the positive cell values span more than a decade
  (``LOG_DECADES``); a cell whose value is ≤ 0 is then drawn in the colour map's "under" grey;
- markers: × never crossed (finished, value missing), red ◆ diverged, grey ! failed / unfinished;
- seed spread: when cells hold several finite values (seeds), each cell shows the interquartile
  range (q75 − q25, numpy's linear quantiles) of its values as text, and the title says so;
- labels are human names with symbols (:mod:`grokscope.views.labels`).
``cell_stats`` computes Z (means), the IQRs and counts; ``draw_heatmap`` draws them.
"""
from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pandas as pd

from grokscope.views.labels import fmt_compact, fmt_number, label

LOG_DECADES = 1.0  # colour scale is log when max/min of the positive cell values exceeds 10**LOG_DECADES
MARKS = {"never": ("x", "0.6", "never crossed"), "diverged": ("D", "red", "diverged"),
         "failed": ("$!$", "0.4", "failed / unfinished")}


def cell_stats(df: pd.DataFrame, col: str, x: str, y: str) -> dict[str, Any]:
    """Per (y, x) cell: mean ``Z``, interquartile range ``iqr`` and count ``n`` of the finite values of
    ``col`` over the cell's runs (seeds and other axes), plus the markers (x, y, kind)."""
    xs = np.sort(pd.unique(df[x].dropna()).astype(float))
    ys = np.sort(pd.unique(df[y].dropna()).astype(float))
    Z = np.full((len(ys), len(xs)), np.nan)
    iqr = np.full_like(Z, np.nan)
    n = np.zeros(Z.shape, dtype=int)
    marks: list[tuple[float, float, str]] = []
    vals = pd.to_numeric(df[col], errors="coerce")
    fx, fy = df[x].astype(float), df[y].astype(float)
    for i, yv in enumerate(ys):
        for j, xv in enumerate(xs):
            cell = df[(fx == xv) & (fy == yv)]
            v = vals[cell.index].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            st = set(cell["status"])
            n[i, j] = v.size
            if v.size:
                Z[i, j] = v.mean()
                q25, q75 = np.quantile(v, [0.25, 0.75])
                iqr[i, j] = q75 - q25
            if "diverged" in st:
                marks.append((xv, yv, "diverged"))
            elif st & {"failed", "pending", "incomplete"}:
                marks.append((xv, yv, "failed"))
            elif v.size == 0:
                marks.append((xv, yv, "never"))
    return {"xs": xs, "ys": ys, "Z": Z, "iqr": iqr, "n": n, "marks": marks}


def edges(vals: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around sorted centres: midpoints (geometric on a log axis), the outer cells as wide
    as their inner neighbours' half-gaps; one value gets a cell of ±0.5 (lin) or ×/÷ e^0.1 (log)."""
    v = np.log(vals) if log else vals.astype(float)
    if len(v) == 1:
        e = np.array([v[0] - 0.5, v[0] + 0.5]) if not log else np.array([v[0] - 0.1, v[0] + 0.1])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    return np.exp(e) if log else e


def colour_norm(Z: np.ndarray) -> tuple[Any, bool]:
    """(norm, is_log): a log norm when the positive finite values span more than LOG_DECADES decades
    (values ≤ 0 then map below vmin, to the "under" colour), else linear over the finite values."""
    import matplotlib.colors as mcolors
    finite = Z[np.isfinite(Z)]
    pos = finite[finite > 0]
    if pos.size >= 2 and pos.max() / pos.min() > 10**LOG_DECADES:
        class LogNormUnder(mcolors.LogNorm):
            def __call__(self, value: Any, clip: Any = None) -> Any:
                a = np.ma.masked_invalid(np.ma.asarray(value, dtype=float))
                low = np.ma.where(a <= 0, self.vmin * 1e-3, a)
                return super().__call__(low, clip)
        return LogNormUnder(pos.min(), pos.max()), True
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return mcolors.Normalize(lo, hi if hi > lo else lo + 1), False


def _fixed_ticks(axis: Any, vals: np.ndarray) -> None:
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator
    axis.set_major_locator(FixedLocator(vals))
    axis.set_major_formatter(FixedFormatter([fmt_number(float(v)) for v in vals]))
    axis.set_minor_locator(NullLocator())


def _cell_fontsize(ax: Any, ex: np.ndarray, ey: np.ndarray, logx: bool, logy: bool, chars: int) -> float:
    """A font size (pt) at which ``chars`` characters fit the narrowest cell, or 0 when below 4.5 pt;
    estimated from the axes' share of the figure before layout (about 0.6 of its width and height)."""
    W, H = ax.figure.get_size_inches() * 72
    fx = np.diff(np.log(ex) if logx else ex)
    fy = np.diff(np.log(ey) if logy else ey)
    w = 0.6 * W * fx.min() / fx.sum()
    h = 0.6 * H * fy.min() / fy.sum()
    fs = min(8.0, 0.85 * w / (0.6 * max(chars, 1)), 0.6 * h)
    return fs if fs >= 4.5 else 0.0


def _log_colour_ticks(cbar: Any, lo: float, hi: float) -> None:
    """Ticks at 1, 2, 5 × 10^k inside [lo, hi] (every decade when they span more than three), labelled
    compactly (``fmt_compact``)."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator
    k0, k1 = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
    mult = (1,) if k1 - k0 > 3 else (1, 2, 5)
    ticks = [m * 10.0**k for k in range(k0, k1 + 1) for m in mult if lo <= m * 10.0**k <= hi]
    axis = cbar.ax.yaxis
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FixedFormatter([fmt_compact(t) for t in ticks]))
    axis.set_minor_locator(NullLocator())


def draw_heatmap(ax: Any, stats: dict[str, Any], col: str, x: str, y: str, logx: bool, logy: bool) -> Any:
    """Draw :func:`cell_stats` on ``ax`` (see the module docstring); returns the QuadMesh."""
    import matplotlib as mpl
    xs, ys, Z = stats["xs"], stats["ys"], stats["Z"]
    ex, ey = edges(xs, logx), edges(ys, logy)
    norm, is_log = colour_norm(Z)
    cmap = mpl.colormaps["magma"].with_extremes(under="0.82", bad="white")
    mesh = ax.pcolormesh(ex, ey, np.ma.masked_invalid(Z), cmap=cmap, norm=norm, shading="flat")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlim(ex[0], ex[-1])
    ax.set_ylim(ey[0], ey[-1])
    _fixed_ticks(ax.xaxis, xs)
    _fixed_ticks(ax.yaxis, ys)
    has_under = is_log and bool((Z[np.isfinite(Z)] <= 0).any())
    cbar = ax.figure.colorbar(mesh, ax=ax, extend="min" if has_under else "neither")
    if is_log:
        _log_colour_ticks(cbar, norm.vmin, norm.vmax)
    text = label(col) + ("; log scale, grey: ≤ 0" if has_under else "; log scale" if is_log else "")
    cbar.set_label("\n".join(textwrap.wrap(text, 40)), fontsize=9)
    for kind, (m, c, lab) in MARKS.items():
        pts = [(a, b) for a, b, k in stats["marks"] if k == kind]
        if pts:
            ax.scatter(*zip(*pts), marker=m, color=c, s=40, label=lab, zorder=3)
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    title = label(col)
    n = stats["n"]
    if (n >= 2).any():
        texts = {(i, j): fmt_compact(v) for (i, j), v in np.ndenumerate(stats["iqr"]) if n[i, j] >= 2}
        fs = _cell_fontsize(ax, ex, ey, logx, logy, max(len(t) for t in texts.values()))
        lo, hi = int(n[n > 0].min()), int(n.max())
        runs = f"{lo}" if lo == hi else f"{lo}–{hi}"
        if fs:
            for (i, j), t in texts.items():
                rgba = cmap(norm(Z[i, j])) if np.isfinite(Z[i, j]) else (1, 1, 1, 1)
                dark = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2] < 0.5
                ax.text(xs[j], ys[i], t, ha="center", va="center", fontsize=fs,
                        color="white" if dark else "black", zorder=4)
            title += f"\ncolour: mean of {runs} runs per cell; text: their interquartile range"
        else:
            title += f"\ncolour: mean of {runs} runs per cell (cells too small for their spread)"
    ax.set_title(title, fontsize=9)
    return mesh
