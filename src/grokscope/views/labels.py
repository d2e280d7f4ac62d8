"""Labels of the figures: human names with the paper's symbols, from the one mapping of dotted keys and
results columns in :mod:`grokscope.views.naming` (shared with the reports and ``compare``).

``label("scaling.alpha")`` → "α"; ``label("grok_amount_0.1")`` → "grokking amount t_test − t_train
(steps), loss threshold 0.1"; ``symbol`` is the short form of a key for titles (the key's last part
when the mapping has none); ``fmt_number`` / ``fmt_compact`` write sampled values and cell texts;
``settings_title`` is the title line of a run figure.
"""
from __future__ import annotations

import math
from typing import Any

from grokscope.views.naming import KEY_SYMBOLS, column_label


def label(key: str) -> str:
    """The human label of a dotted config key or of a results / metric column."""
    return column_label(key)


def symbol(key: str) -> str:
    """The short symbol of a dotted config key (α, ε, N, …); the key's last part when it has none."""
    return KEY_SYMBOLS.get(key, key.rsplit(".", 1)[-1])


def fmt_number(v: Any) -> str:
    """A sampled value written compactly: integers as is, other numbers to 3 significant figures."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.3g}"


def fmt_compact(v: float) -> str:
    """A magnitude in at most ~4 characters: 950, 1.2k, 36k, 1.2M (text inside heatmap cells)."""
    a = abs(v)
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            x = v / div
            return f"{x:.2g}{suf}" if abs(x) < 10 else f"{x:.0f}{suf}"
    return f"{v:.2g}" if a < 10 else f"{v:.0f}"


# config keys shown in a run figure's title, in order, when the run's config has them
TITLE_KEYS = ("scaling.alpha", "model.eps", "model.sigma", "model.N", "model.hidden", "model.d_model",
              "task.P", "task.n_train", "task.D", "task.p", "task.frac_train", "task.j", "optim.lr")


def settings_title(cfg: Any) -> str:
    """"committee on polynomial: α = 1, ε = 0.3, N = 16, P = 40, D = 12, η₀ = 0.5" from a run's config
    (the keys of TITLE_KEYS the config has; σ only when it differs from 1)."""
    parts = []
    for key in TITLE_KEYS:
        sec, field = key.split(".")
        v = getattr(getattr(cfg, sec, None), field, None)
        if v is None or (key == "model.sigma" and v == 1.0):
            continue
        text = "×".join(fmt_number(x) for x in v) if isinstance(v, (list, tuple)) else fmt_number(v)
        parts.append(f"{symbol(key)} = {text}")
    return f"{cfg.model.name} on {cfg.task.name}: " + ", ".join(parts)
