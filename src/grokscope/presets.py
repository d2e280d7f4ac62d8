"""Named configs reproducing the paper's figures (see experiments/*.yaml for the same as files)."""
from __future__ import annotations

import copy
from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    # Fig 1(b): D=100, P=550 (1000 test), N=500, α=1, ε=0.02, η = N/α², 1e5 full-batch GD steps, centred.
    "fig1": {
        "task": {"name": "polynomial", "D": 100, "P": 550, "P_test": 1000, "target": "single_index"},
        "model": {"name": "committee", "N": 500, "phi": "quadratic", "eps": 0.02},
        "scaling": {"alpha": 1.0, "centre": True, "lr_rule": "paper"},
        "optim": {"name": "gd", "lr": 1.0},
        "train": {"steps": 100_000, "dtype": "float64"},
    },
}


def _transformer(alpha: float, weight_decay: float) -> dict[str, Any]:
    """Paper §5.4 (Nanda et al.'s transformer): p = 113 addition, frac_train 0.4, split seed 0, centred
    cross-entropy on α·(logits − logits₀) with a float64 log-softmax (float32 model), AdamW betas
    (0.9, 0.98), η = 6e-6/α², full batch, 2·10⁵ steps."""
    return {
        "task": {"name": "modular", "p": 113, "op": "add", "frac_train": 0.4, "split_seed": 0, "inputs": "tokens"},
        "model": {"name": "transformer", "d_model": 128, "n_heads": 4, "d_mlp": 512, "act": "relu", "seed": 1},
        "scaling": {"alpha": alpha, "centre": True, "lr_rule": "inv_alpha2"},
        "optim": {"name": "adamw", "lr": 6e-6, "betas": [0.9, 0.98], "weight_decay": weight_decay},
        "train": {"steps": 200_000, "loss": "cross_entropy", "dtype": "float32", "loss_dtype": "float64",
                  "log_per_decade": 50},
        "events": {"thresholds": [0.1], "relative": [0.1]},
    }


PRESETS.update({
    "fig6b": _transformer(0.5, 1.0),
    "fig12a": _transformer(0.5, 1.0),
    "fig12b": _transformer(0.5, 5.0),
    "fig12c": _transformer(1.4, 5.0),
})

DESCRIPTIONS = {
    "fig1": "paper Fig 1(b): the canonical grokking curve of the quadratic committee (D=100, P=550, N=500)",
    "fig6b": "paper Fig 6(b): one-layer transformer on a + b mod 113, α = 0.5 (sweep scaling.alpha down to 0.05)",
    "fig12a": "paper Fig 12(a): transformer, α = 0.5, weight decay 1: grokking",
    "fig12b": "paper Fig 12(b): transformer, α = 0.5, weight decay 5: grokking vanishes",
    "fig12c": "paper Fig 12(c): transformer, α = 1.4, weight decay 5: grokking recovered",
}

# Reduced sizes (dotted overrides) for tests and quick looks: `load_config(get_preset(n), SMALL[n])`.
# Transformer: p = 17, 60 % train, d_model 16 (4 heads × 4), d_mlp 64, η = 2e-3/α², 600 steps (≈ 10 s on CPU).
_SMALL_TRANSFORMER = {"task.p": 17, "task.frac_train": 0.6, "model.d_model": 16, "model.d_mlp": 64,
                      "optim.lr": 2e-3, "train.steps": 600, "train.log_per_decade": 20}
SMALL: dict[str, dict[str, Any]] = {
    "fig6b": dict(_SMALL_TRANSFORMER),
    "fig12a": dict(_SMALL_TRANSFORMER),
    "fig12b": dict(_SMALL_TRANSFORMER),
    "fig12c": dict(_SMALL_TRANSFORMER),
}


def get_preset(name: str) -> dict[str, Any]:
    from grokscope.config import ConfigError
    if name not in PRESETS:
        raise ConfigError(f"--preset {name!r}: unknown preset; available: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])
