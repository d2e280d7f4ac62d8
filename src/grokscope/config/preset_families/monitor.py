"""The train-only generalisation monitor's calibration runs (Li, Fan & Zhou 2025 adapted; issue #22 §1;
docs/train-only-monitor.md): modular addition at CPU size, an MLP and a mixture-of-experts transformer,
both with weight decay so that test accuracy rises well after train accuracy, with the ``pathways``
probe at every logged step."""
from __future__ import annotations

from typing import Any

from grokscope.config.preset_table import DESCRIPTIONS, PRESETS, SMALL

_PROBES = {"names": ["loss", "accuracy", "weights", "pathways"], "cadence": {"pathways": 1000}}


def _mlp() -> dict[str, Any]:
    """a + b mod 31 on one-hot pairs (60 % train), ReLU MLP [128, 128] without biases (Kaiming init),
    cross-entropy, full-batch AdamW lr 5e-3 betas (0.9, 0.98) weight decay 1, float32, 2 500 steps."""
    return {
        "task": {"name": "modular", "p": 31, "op": "add", "frac_train": 0.6, "split_seed": 0, "inputs": "onehot"},
        "model": {"name": "mlp", "hidden": [128, 128], "activation": "relu", "bias": False, "init": "kaiming",
                  "sigma": 1.0, "norm": "none", "seed": 0},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 5e-3, "betas": [0.9, 0.98], "weight_decay": 1.0},
        "train": {"steps": 2500, "loss": "cross_entropy", "dtype": "float32", "log_per_decade": 30},
        "probes": dict(_PROBES),
    }


def _transformer() -> dict[str, Any]:
    """a + b mod 23 as tokens (80 % train), the one-layer transformer (d_model 32, 4 heads, a mixture of
    4 experts of width 32, top-2 routing), cross-entropy, full-batch AdamW lr 3e-3 betas (0.9, 0.98)
    weight decay 1, float32, 3 000 steps; the pathways probe at 40 points (its NTK is the generic
    Jacobian path, the costly part)."""
    return {
        "task": {"name": "modular", "p": 23, "op": "add", "frac_train": 0.8, "split_seed": 0, "inputs": "tokens"},
        "model": {"name": "transformer", "d_model": 32, "n_heads": 4, "d_mlp": 128, "act": "relu", "seed": 1,
                  "moe_experts": 4, "moe_top_k": 2},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 3e-3, "betas": [0.9, 0.98], "weight_decay": 1.0},
        "train": {"steps": 3000, "loss": "cross_entropy", "dtype": "float32", "log_per_decade": 30},
        "probes": {**_PROBES, "cadence": {"pathways": 40}},
    }


PRESETS.update({"monitor-mlp": _mlp(), "monitor-moe": _transformer()})
DESCRIPTIONS.update({
    "monitor-mlp": "train-only monitor: ReLU MLP on a + b mod 31 with weight decay, pathways probe at every "
                   "logged step (grokscope monitor RUN --score)",
    "monitor-moe": "train-only monitor: one-layer transformer with a 4-expert top-2 MoE MLP on a + b mod 23, "
                   "router pathways at 40 points",
})
SMALL.update({
    "monitor-mlp": {"task.p": 11, "model.hidden": [16, 16], "train.steps": 30, "train.log_per_decade": 4,
                    "probes.cadence": {"pathways": 4}},
    "monitor-moe": {"task.p": 7, "model.d_model": 8, "model.d_mlp": 16, "train.steps": 20,
                    "train.log_per_decade": 3, "probes.cadence": {"pathways": 3}},
})
