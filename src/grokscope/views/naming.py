"""Human names for config keys and results columns, and legend labels that tell runs apart (reports, compare).

``key_label("scaling.alpha") == "α"``; ``column_label("grok_amount_0.1")`` names the quantity and its
threshold; ``run_labels(runs)`` names each run by the config values in which the runs differ
("α=0.5, ε=0.1"), never by its hash.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# dotted config key -> the paper's symbol (or a short human name)
KEY_SYMBOLS = {"scaling.alpha": "α", "model.eps": "ε", "model.N": "N", "task.P": "P", "task.D": "D",
               "task.P_test": "P_test", "model.sigma": "σ", "optim.lr": "η₀", "optim.weight_decay": "λ",
               "optim.name": "optimiser", "model.name": "model", "task.name": "task", "train.steps": "steps",
               "train.seed": "seed", "model.seed": "init seed", "task.data_seed": "data seed",
               "init.rank": "init rank", "init.scale": "init scale", "optim.batch_size": "batch",
               "model.phi": "φ", "train.loss": "loss", "train.engine": "engine", "scaling.centre": "centred",
               "init.recurrent.rank": "rank r of W_rec(0)", "init.recurrent.kind": "W_rec(0) kind",
               "task.env": "task"}

# results column stem (before a threshold suffix) -> human name
COLUMN_NAMES = {"grok_amount": "grokking amount t_test − t_train (steps)", "t_train": "t_train (steps)",
                "t_test": "t_test (steps)", "delay_ratio": "t_test / t_train",
                "peak_test_loss": "peak test loss", "peak_test_step": "step of the peak test loss",
                "min_test_loss": "minimum test loss", "departure_step": "departure step from the linearised twin",
                "k0_test_mse": "K₀ regression test MSE", "k0_train_mse": "K₀ regression train MSE",
                "wall_s": "wall time (s)", "steps_per_s": "steps per second",
                "liu_weight_change": "weight change ‖W − W(0)‖_F", "liu_rep_alignment": "representation alignment RA",
                "liu_kernel_alignment": "tangent-kernel alignment KA", "liu_sign_similarity": "sign similarity",
                "liu_effective_rank": "effective rank of W"}

# config sections whose values never change a result (left out when telling runs apart)
IGNORED = ("output.", "train.progress")
LABEL_MAX_KEYS = 3  # run_labels: at most this many differing values per label


def key_label(key: str) -> str:
    """The symbol or short name of a dotted config key (the key itself when none is known)."""
    return KEY_SYMBOLS.get(key, key)


def column_label(col: str) -> str:
    """A human name for a results or metrics column: ``grok_amount_0.1`` → "grokking amount t_test −
    t_train (steps), loss threshold 0.1"; ``t_test_rel_0.1`` → "t_test (steps), loss ≤ 0.1·L(0)";
    ``final_test_loss`` → "final test loss"; a dotted config key → :func:`key_label`."""
    if "." in col and not re.search(r"_\d", col):
        return key_label(col)
    m = re.fullmatch(r"(grok_amount|t_train|t_test|delay_ratio)(_rel)?_(.+)", col)
    if m:
        stem, rel, th = m.groups()
        where = f"loss ≤ {th}·L(0)" if rel else f"loss threshold {th}"
        return f"{COLUMN_NAMES[stem]}, {where}"
    if col in COLUMN_NAMES:
        return COLUMN_NAMES[col]
    for prefix in ("final_", "initial_"):
        if col.startswith(prefix):
            stem = col.removeprefix(prefix)
            return f"{prefix.rstrip('_')} {COLUMN_NAMES.get(stem, stem.replace('_', ' '))}"
    return col.replace("_", " ")


def flat_config(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config dict as {dotted key: leaf value} (lists and dicts as their repr)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flat_config(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = repr(v) if isinstance(v, (list, dict)) else v
    return out


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """Dotted keys whose values differ between the flattened configs, the paper's symbols first
    (KEY_SYMBOLS order), then the rest in config order; settings that change no result are left out."""
    flats = [flat_config(c) for c in configs]
    keys: list[str] = []
    for f in flats:
        keys += [k for k in f if k not in keys]
    diff = [k for k in keys if not k.startswith(IGNORED) and len({repr(f.get(k)) for f in flats}) > 1]
    known = [k for k in KEY_SYMBOLS if k in diff]
    return known + [k for k in diff if k not in known]


def run_labels(runs: list[Any]) -> list[str]:
    """One legend label per run: its values of the (at most LABEL_MAX_KEYS) config keys in which the
    runs differ, e.g. "α=0.5, ε=0.1"; the directory name is added where that leaves two labels equal,
    and used alone when the configs are identical."""
    if not runs:
        return []
    configs = [r.config.to_dict() for r in runs]
    keys = differing_keys(configs)
    names = [Path(r.path).name for r in runs]
    if not keys:
        return names
    flats = [flat_config(c) for c in configs]
    shown = keys[:LABEL_MAX_KEYS]
    more = " …" if len(keys) > LABEL_MAX_KEYS else ""
    labels = [", ".join(f"{key_label(k)}={_fmt(f.get(k))}" for k in shown) + more for f in flats]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} ({n})" for lab, n in zip(labels, names)]
    return labels
