"""Curves views of a sweep (paper Fig 3(a)): a metric against step, one colour per value of one key.

Runs are grouped by what else varies (``groups``):
- seed keys (dotted keys ending in ``seed``): runs differing only there are replicates; each run is
  drawn thin, and where at least two share a setting their interquartile band (q25–q75 at each
  logged step, numpy's linear quantiles, after interpolating every run onto the first run's steps
  in log-step) is shaded in the colour;
- one other varying setting with at most ``STYLES`` values: a line style per value, in the legend;
- more: not separated; the legend says which keys the colour's band and lines pool.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from grokscope.views.labels import fmt_number, label, symbol

STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))
IGNORED_PREFIXES = ("output.", "train.progress")


def varying_keys(df: pd.DataFrame, colour: str) -> tuple[list[str], list[str]]:
    """(seed keys, other keys): dotted config columns of ``df`` that take more than one value for some
    value of ``colour`` (so not zipped with it), other than the settings that change no result."""
    from grokscope.config import Config
    sections = tuple(f"{name}." for name in Config.model_fields)
    seeds, others = [], []
    for c in df.columns:
        if not c.startswith(sections) or c == colour or c.startswith(IGNORED_PREFIXES):
            continue
        v = df[c].astype(str)
        if v.nunique() > 1 and v.groupby(df[colour]).nunique().max() > 1:  # not tied to the colour
            (seeds if c.rsplit(".", 1)[-1].endswith("seed") else others).append(c)
    return seeds, others


def setting_label(keys: list[str], values: tuple[Any, ...]) -> str:
    return ", ".join(f"{symbol(k)} = {fmt_number(v)}" for k, v in zip(keys, values))


def on_grid(steps: np.ndarray, ys: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Each (x, y) curve interpolated (linear in log-step) onto ``steps``; rows: runs (NaN outside)."""
    lx = np.log(np.maximum(steps, 1))
    out = np.full((len(ys), len(steps)), np.nan)
    for r, (x, y) in enumerate(ys):
        ok = np.isfinite(y)
        if ok.sum() >= 1:
            xl = np.log(np.maximum(x[ok], 1))
            v = np.interp(lx, xl, y[ok], left=np.nan, right=np.nan)
            out[r] = v
    return out


def draw_curves(ax: Any, df: pd.DataFrame, data: dict[Any, tuple[np.ndarray, np.ndarray]], colour: str,
                cmap: Any, norm: Any) -> dict[str, Any]:
    """Draw the loaded curves ``data`` ({row index: (steps, values)}) of the rows of ``df``; returns
    {"styles": [(label, linestyle)], "pooled": keys pooled, "bands": number of IQR bands drawn}."""
    seeds, others = varying_keys(df.loc[list(data)], colour)
    settings = sorted({tuple(df.loc[i, others]) for i in data}, key=str) if others else [()]
    styled = 1 < len(settings) <= len(STYLES)
    style_of = {s: STYLES[k] if styled else "-" for k, s in enumerate(settings)}
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for i in data:
        s = tuple(df.loc[i, others]) if others else ()
        groups.setdefault((float(df.loc[i, colour]), s if styled else ()), []).append(i)
    bands = 0
    for (cv, s), rows in groups.items():
        c = cmap(norm(cv))
        ls = style_of.get(s, "-")
        for i in rows:
            x, y = data[i]
            ok = np.isfinite(y)
            ax.plot(np.maximum(x[ok], 1), y[ok], color=c, lw=0.8 if len(rows) > 1 else 1.3, ls=ls,
                    alpha=0.7 if len(rows) > 1 else 1.0)
        if len(rows) >= 2:
            steps = np.maximum(data[rows[0]][0], 1)
            grid = on_grid(steps, [data[i] for i in rows])
            enough = np.sum(np.isfinite(grid), axis=0) >= 2
            if enough.any():
                q25, q75 = np.nanquantile(grid[:, enough], [0.25, 0.75], axis=0)
                ax.fill_between(steps[enough], q25, q75, color=c, alpha=0.25, lw=0)
                bands += 1
    return {"styles": [(setting_label(others, s), style_of[s]) for s in settings] if styled else [],
            "pooled": [] if styled else others, "seeds": seeds, "bands": bands}


def legend_note(info: dict[str, Any]) -> str:
    """The legend title: what the bands are and what was pooled under one colour."""
    parts = []
    if info["bands"]:
        pooled = [symbol(k) for k in info["seeds"] + info["pooled"]]
        parts.append("band: interquartile range" + (f" over {', '.join(pooled)}" if pooled else " of the runs"))
    elif info["pooled"]:
        parts.append(f"pooled under one colour: {', '.join(symbol(k) for k in info['pooled'])}")
    return "\n".join(parts)


def ylabel(metric: str, normalise: bool) -> str:
    name = label(metric)
    return f"{name} / {name}(step 0)" if normalise else name
