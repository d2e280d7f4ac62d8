"""Prieto et al. 2025 extras (reference neighbors.md §1; issue #22 §6): the sparse-parity task of their
Fig 4 and their Transformer setting of Fig 6 (PyTorch's post-LayerNorm encoder layer)."""
from __future__ import annotations

from typing import Any

from grokscope.config.preset_table import DESCRIPTIONS, PRESETS, SMALL


def _parity(steps: int) -> dict[str, Any]:
    """Fig 4 (sparse parity): 3 relevant + 40 noise bits, 2 000 strings, 50 % train; the MLP [200, 200]
    (ReLU, biases, PyTorch's default init), StableMax cross-entropy in float64, full-batch AdamW betas
    (0.9, 0.99), eps 1e-18, lr 1e-2 (their Fig 1 StableMax rate; Fig 4's is not in the script summary),
    no weight decay, float32 model, 100 000 steps in the paper."""
    return {
        "task": {"name": "parity", "n_relevant": 3, "n_noise": 40, "n_samples": 2000, "frac_train": 0.5, "seed": 0},
        "model": {"name": "mlp", "hidden": [200, 200], "activation": "relu", "bias": True, "init": "torch_default",
                  "sigma": 1.0, "norm": "none", "seed": 0},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 1e-2, "betas": [0.9, 0.99], "adam_eps": 1e-18, "weight_decay": 0.0},
        "train": {"steps": steps, "loss": "stablemax", "dtype": "float32", "loss_dtype": "float64",
                  "log_per_decade": 30},
        "probes": {"names": ["loss", "accuracy", "weights", "softmax_collapse"]},
    }


def _transformer(orthogonal: bool, weight_decay: float) -> dict[str, Any]:
    """Fig 6 (Transformer): a + b mod 113 (30 % train, their CLI default) as tokens (a, b, '='), one
    post-LayerNorm encoder layer (d_model 128, 4 heads, feed-forward 2048, ReLU, no dropout), full-batch
    AdamW lr 1e-3 (⊥AdamW with ``orthogonal``), softmax cross-entropy in float32, 5 000 steps."""
    return {
        "task": {"name": "modular", "p": 113, "op": "add", "frac_train": 0.3, "split_seed": 0, "inputs": "tokens"},
        "model": {"name": "transformer", "d_model": 128, "n_heads": 4, "d_mlp": 2048, "act": "relu", "seed": 1,
                  "layernorm": "post"},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 1e-3, "betas": [0.9, 0.99], "weight_decay": weight_decay,
                  "orthogonal": orthogonal},
        "train": {"steps": 5000, "loss": "cross_entropy", "dtype": "float32", "log_per_decade": 30},
        "probes": {"names": ["loss", "accuracy", "weights", "softmax_collapse"]},
    }


PRESETS.update({
    "prieto-parity": _parity(100_000),
    "prieto-transformer": _transformer(True, 0.0),
    "prieto-transformer-wd": _transformer(False, 1.5),
})
DESCRIPTIONS.update({
    "prieto-parity": "Prieto et al. 2025 Fig 4: sparse parity (3 + 40 bits, 2 000 strings, 50 % train), MLP, "
                     "StableMax, no weight decay",
    "prieto-transformer": "Prieto et al. 2025 Fig 6: post-LayerNorm transformer on a + b mod 113, ⊥AdamW, no "
                          "weight decay",
    "prieto-transformer-wd": "prieto-transformer with plain AdamW and weight decay 1.5 (their Fig 6 baseline)",
})
_SMALL_T = {"task.p": 11, "task.frac_train": 0.5, "model.d_model": 16, "model.d_mlp": 32, "train.steps": 30,
            "train.log_per_decade": 5}
SMALL.update({
    "prieto-parity": {"task.n_noise": 10, "task.n_samples": 100, "model.hidden": [32, 32], "train.steps": 60,
                      "train.log_per_decade": 5},
    "prieto-transformer": dict(_SMALL_T),
    "prieto-transformer-wd": dict(_SMALL_T),
})
