"""The asymptotic theory's phase boundaries over a sweep heat map (docs/theory-asymptotic.md §5).

Two edges, both functions of (α, ε, γ = P/D) at the sweep's D, η₀ and σ:
- generalisation edge: the closed-form escape margin B − B* = 0 (``asymptotic.escape_budget``); below it
  the train set is memorised before the feature is learned. Evaluated on a 120 × 120 grid of the axes
  (≈ 3 µs a point), drawn as a solid contour.
- grokking edge: ``asymptotic.phase_field`` = 0, i.e. the predicted t_test(θ) = 2·t_train(θ) (ratio 2).
  It needs the predicted learning curves (≈ 0.6 s a point), so it is evaluated at the sweep's own cells
  only and drawn as a dashed contour through them.
Axes may be any two of ``scaling.alpha``, ``model.eps``, ``task.P``; the other values come from the
sweep's base config, which must be in the setting the theory covers (views.theory_asymptotic).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from grokscope.config import Config, ConfigError

AXES = ("scaling.alpha", "model.eps", "task.P")


def _point(base: tuple[float, float, int], x: str, y: str, xv: float, yv: float) -> tuple[float, float, int]:
    """(α, ε, P) with the x and y axes' values put in place of the base's."""
    vals = dict(zip(AXES, base))
    vals[x], vals[y] = xv, yv
    return float(vals["scaling.alpha"]), float(vals["model.eps"]), int(round(vals["task.P"]))


def boundaries(cfg: Config, x: str, y: str, xs: np.ndarray, ys: np.ndarray, logx: bool = False,
               logy: bool = False, theta: float = 0.1, n_fine: int = 120) -> dict[str, Any]:
    """Both edges for the (x, y) plane: {"fine": (X, Y, margin) on an n_fine² grid spanning the sampled
    values, "cells": (xs, ys, field) at the sampled values (field: nan where nothing crosses, +inf where
    only the train loss does)}. ConfigError naming the axis or the setting when not covered."""
    from grokscope.theory import asymptotic
    from grokscope.views.theory_asymptotic import _theory_args
    for key, flag in ((x, "--x"), (y, "--y")):
        if key not in AXES:
            raise ConfigError(f"heatmap theory boundary: {flag} {key!r} is not an axis of the theory; "
                              f"allowed: {', '.join(AXES)}")
    (alpha, eps, D, P), eta0, kw = _theory_args(cfg)
    base = (alpha, eps, P)
    sigma = kw["sigma"]

    def space(v: np.ndarray, log: bool) -> np.ndarray:
        lo, hi = float(np.min(v)), float(np.max(v))
        return np.geomspace(lo, hi, n_fine) if log and lo > 0 else np.linspace(lo, hi, n_fine)
    fx, fy = space(xs, logx), space(ys, logy)

    def margin_at(a: float, b: float) -> float:
        al, ep, p = _point(base, x, y, a, b)
        return asymptotic.escape_budget(al, ep, D, p, sigma=sigma)["margin"]

    def field_at(a: float, b: float) -> float:
        al, ep, p = _point(base, x, y, a, b)
        return asymptotic.phase_field(al, ep, p / D, D, eta0, theta=theta, max_steps=cfg.train.steps, **kw)
    margin = np.array([[margin_at(a, b) for a in fx] for b in fy])
    field = np.array([[field_at(a, b) for a in xs] for b in ys])
    return {"fine": (fx, fy, margin), "cells": (np.asarray(xs, float), np.asarray(ys, float), field)}


def draw_boundaries(ax: Any, b: dict[str, Any]) -> list[str]:
    """Contour both edges on ``ax`` (legend entries for what is drawn); returns notes for edges that do not
    cross the plane (e.g. "the escape margin is positive in the whole plane")."""
    notes = []
    fx, fy, m = b["fine"]
    if np.nanmin(m) < 0 < np.nanmax(m):
        ax.contour(fx, fy, m, levels=[0.0], colors="k", linewidths=1.4)
        ax.plot([], [], color="k", lw=1.4, label="theory: generalisation edge (escape margin 0)")
    else:
        notes.append("escape margin " + ("> 0" if np.nanmin(m) >= 0 else "< 0") + " in the whole plane")
    xs, ys, f = b["cells"]
    g = np.where(np.isnan(f), -1.0, np.where(np.isinf(f), 1.0, f))  # nothing crosses: no delay to speak of
    if len(xs) > 1 and len(ys) > 1 and np.min(g) < 0 < np.max(g):
        ax.contour(xs, ys, g, levels=[0.0], colors="k", linewidths=1.2, linestyles="--")
        ax.plot([], [], color="k", lw=1.2, ls="--", label="theory: grokking edge (t_test = 2·t_train)")
    else:
        notes.append("predicted t_test/t_train " + ("> 2" if np.min(g) >= 0 else "< 2") + " at every cell")
    return notes
