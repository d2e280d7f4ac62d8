"""Drawing rules shared by the run and sweep figures.

- :func:`plot_series`: curves against step with non-finite (and, on a log axis, non-positive) points
  dropped, so a step-0 zero never draws a vertical line down to the axis; curves that coincide to
  ``SAME_RTOL`` are drawn once, their legend entry naming all of them ("A = B (identical)"); curves
  within ``CLOSE_RTOL`` of each other too, the entry stating the difference ("A ≈ B (differ by ≤
  0.093 %)").
- :func:`honest_twin`: a secondary linear axis whose data span less than half its largest value
  starts at 0, and its label states the spread (max − min)/max, so a 0.0100 → 0.0135 drift does not
  look like a rise from nothing.
- :func:`same_data`: the coincidence test (also used by the gallery test).
"""
from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

SAME_RTOL = 1e-6  # curves closer than this (relative, pointwise) are "identical"
CLOSE_RTOL = 2e-3  # curves closer than this are drawn once too, the legend giving the difference:
# 0.2 % is under a pixel on a log axis (0.001 decade) and on a linear axis spanning ≥ half its values


def rel_diff(xa: Any, ya: Any, xb: Any, yb: Any) -> float:
    """max |ya − yb| / max(|ya|, |yb|) over the points of two curves with the same x (NaN at the same
    points); inf when their x or NaN pattern differ."""
    xa, ya, xb, yb = (np.asarray(v, dtype=float) for v in (xa, ya, xb, yb))
    if xa.shape != xb.shape or ya.shape != yb.shape or xa.size == 0 or not np.array_equal(xa, xb):
        return float("inf")
    fa, fb = np.isfinite(ya), np.isfinite(yb)
    if not np.array_equal(fa, fb):
        return float("inf")
    a, b = ya[fa], yb[fb]
    scale = np.maximum(np.abs(a), np.abs(b))
    d = np.abs(a - b)
    if (d[scale == 0] > 0).any():
        return float("inf")
    return float(np.max(d[scale > 0] / scale[scale > 0], initial=0.0))


def same_data(xa: Any, ya: Any, xb: Any, yb: Any, rtol: float = SAME_RTOL) -> bool:
    """True when two curves have the same x and their y agree to ``rtol`` (relative, pointwise)."""
    return rel_diff(xa, ya, xb, yb) <= rtol


def plot_series(ax: Any, x: Any, series: list[tuple[str, Any, dict[str, Any]]], logy: bool) -> list[Any]:
    """Plot (label, y, line kwargs) against ``x``; see the module docstring. Returns the lines drawn."""
    x = np.asarray(x, dtype=float)
    kept: list[list[Any]] = []  # [labels, x, y, kwargs, largest relative difference merged]
    for lab, y, kw in series:
        y = np.asarray(y, dtype=float)
        m = np.isfinite(y) & ((y > 0) if logy else True)
        if not m.any():
            continue
        xs, ys = x[m], y[m]
        for entry in kept:
            d = rel_diff(entry[1], entry[2], xs, ys)
            if d <= CLOSE_RTOL:
                entry[0].append(lab)
                entry[4] = max(entry[4], d)
                break
        else:
            kept.append([[lab], xs, ys, kw, 0.0])
    lines = []
    for labs, xs, ys, kw, d in kept:
        if len(labs) == 1:
            lab = labs[0]
        elif d <= SAME_RTOL:
            lab = " = ".join(labs) + " (identical)"
        else:
            lab = " ≈ ".join(labs) + f" (differ by ≤ {100 * d:.2g} %)"
        lines.extend(ax.plot(xs, ys, label="\n".join(textwrap.wrap(lab, 48)), **kw))
    return lines


def honest_twin(ax2: Any, y: Any, name: str) -> None:
    """Label the secondary axis ``ax2`` with ``name``; a log axis whose data span less than a factor 2
    becomes linear; when the (linear) data span less than half their largest value, the axis starts at
    0 and the label states the spread (max − min)/max of the data."""
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y)]
    label = name
    if y.size and ax2.get_yscale() == "log" and (y > 0).all() and y.max() < 2 * y.min():
        ax2.set_yscale("linear")  # under a factor of 2: a log axis would only magnify the drift
    if y.size and ax2.get_yscale() == "linear" and (y >= 0).all() and y.max() > 0:
        lo, hi = float(y.min()), float(y.max())
        if hi - lo < 0.5 * hi:
            ax2.set_ylim(0, hi * 1.08)
            label = f"{name}; varies by {(hi - lo) / hi:.0%} of its max"
    ax2.set_ylabel(label)


def steps_x(df: Any) -> np.ndarray:
    """The step column as the x of a log axis: step 0 drawn at 1."""
    return np.maximum(df["step"].to_numpy(), 1)


def legend_all(ax: Any, *others: Any, loc: str = "best", fontsize: float = 7) -> None:
    """One legend for the labelled artists of ``ax`` and of its twin axes ``others``, placed on the
    topmost of them (so no twin's curves are drawn over it)."""
    h, lab = ax.get_legend_handles_labels()
    for o in others:
        h2, l2 = o.get_legend_handles_labels()
        h, lab = h + h2, lab + l2
    if h:
        leg = (others[-1] if others else ax).legend(h, lab, fontsize=fontsize, loc=loc, ncol=2 if len(h) > 6 else 1, framealpha=0.85)
        leg.set_zorder(5)


def drawn_ticklabels(axis: Any) -> list[Any]:
    """The tick-label Text artists of ``axis`` that the last draw rendered (in view, visible, non-empty)."""
    out: list[Any] = []
    if not (axis.get_visible() and axis.axes.axison):
        return out
    for t in axis._update_ticks():  # matplotlib's own list of the ticks it draws (inside the view)
        for lab in (t.label1, t.label2):
            if lab.get_visible() and lab.get_text():
                out.append(lab)
    return out


def _overlap(texts: list[Any], renderer: Any) -> bool:
    boxes = [t.get_window_extent(renderer) for t in texts]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def declutter_ticks(fig: Any) -> None:
    """Lay ``fig`` out and, on every axis whose drawn tick labels overlap: rotate x labels by 45°, then
    (fixed ticks, e.g. a heatmap's sampled values) keep every k-th label, k = 2, 3, … until none overlap."""
    from matplotlib.ticker import FixedFormatter, FixedLocator
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            texts = drawn_ticklabels(axis)
            if not _overlap(texts, renderer):
                continue
            if axis is ax.xaxis:
                for t in axis.get_major_ticks():
                    t.label1.set(rotation=45, ha="right", rotation_mode="anchor")
                fig.draw_without_rendering()
                if not _overlap(drawn_ticklabels(axis), renderer):
                    continue
            loc, fmt = axis.get_major_locator(), axis.get_major_formatter()
            if not (isinstance(loc, FixedLocator) and isinstance(fmt, FixedFormatter)):
                continue
            locs, labs = list(loc.locs), list(fmt.seq)
            for k in range(2, len(locs) + 1):
                axis.set_major_locator(FixedLocator(locs[::k]))
                axis.set_major_formatter(FixedFormatter(labs[::k]))
                fig.draw_without_rendering()
                if not _overlap(drawn_ticklabels(axis), renderer):
                    break
