"""The paper's remaining figures as run presets (issue 19 item 4): Figs 10, 11, 13(a–c), 14, 15 and
Nanda et al.'s train-fraction runs. The sweeps (Figs 3(b), 10, 13(c), 19, Nanda's fractions) are
packaged specs in ``config/specs``. Measured results beside the paper's claims: docs/paper-figures.md."""
from __future__ import annotations

import copy
from typing import Any

from grokscope.config.preset_table import DESCRIPTIONS, PRESETS, SMALL

_LOSS_PROBES = ["loss", "exact_loss", "decomposition", "weights"]


def _n2(steps: int, lr: float, **model: Any) -> dict[str, Any]:
    """The authors' N = 2 cells (reference table, Figs 4, 10, 11): D = 40, P = 120 (1000 test), α = 1,
    ε = 0.25, uncentred, full-batch GD with η = lr·N/α², data/test/β seeds 0/1/2."""
    return {
        "task": {"name": "polynomial", "D": 40, "P": 120, "P_test": 1000, "target": "single_index"},
        "model": {"name": "committee", "N": 2, "phi": "quadratic", "eps": 0.25, "seed": 0, **model},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "paper"},
        "optim": {"name": "gd", "lr": lr},
        "train": {"steps": steps, "dtype": "float64"},
        "probes": {"names": list(_LOSS_PROBES)},
    }


def _teacher13b() -> dict[str, Any]:
    """Fig 13(b), the authors' JAX variant (reference §5.5): bias-free tanh MLP 5-100-1 with N(0, 1)
    weights in the NTK parameterisation (1/√fan_in in the forward pass: inferred), uncentred, α = 1,
    AdamW lr 3e-3 wd 0.1, full batch, 20 000 steps; 100 train / 100 test points from a 5-100-1 tanh
    teacher (PyTorch default init, the teacher of the task family), and the linearised twin."""
    return {
        "task": {"name": "teacher", "D": 5, "hidden": [100], "K": 1, "P": 100, "P_test": 100, "seed": 0},
        "model": {"name": "mlp", "hidden": [100], "activation": "tanh", "bias": False, "init": "normal",
                  "sigma": 1.0, "norm": "ntk", "seed": 1},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 3e-3, "weight_decay": 0.1},
        "train": {"steps": 20_000, "dtype": "float64"},
        "probes": {"names": ["loss", "weights", "twin"]},
    }


def _transformer13c(alpha: float) -> dict[str, Any]:
    """Fig 13(c) (reference §5.4): the fig6b Transformer (p = 113, 40 % train, centred cross-entropy)
    with the authors' JAX settings: AdamW η = 1e-3/α², weight decay 2, 15 000 steps, and the
    parameter-space linearised twin trained with the same optimiser."""
    out = copy.deepcopy(PRESETS["fig6b"])
    out["scaling"]["alpha"] = alpha
    out["optim"].update(lr=1e-3, weight_decay=2.0)
    out["train"]["steps"] = 15_000
    out["probes"] = {"names": ["loss", "accuracy", "weights", "twin"]}
    return out


def _nanda(frac: float) -> dict[str, Any]:
    """Nanda et al. (2023): a + b mod 113 with their one-layer Transformer (d_model 128, 4 heads,
    d_mlp 512, ReLU, no LayerNorm), uncentred cross-entropy, α = 1, full-batch AdamW lr 1e-3,
    weight decay 1, betas (0.9, 0.98), a 10-step linear warm-up, 40 000 steps."""
    return {
        "task": {"name": "modular", "p": 113, "op": "add", "frac_train": frac, "split_seed": 0, "inputs": "tokens"},
        "model": {"name": "transformer", "d_model": 128, "n_heads": 4, "d_mlp": 512, "act": "relu", "seed": 1},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 1e-3, "betas": [0.9, 0.98], "weight_decay": 1.0, "warmup_steps": 10},
        "train": {"steps": 40_000, "loss": "cross_entropy", "dtype": "float32", "log_per_decade": 50},
        "probes": {"names": ["loss", "accuracy", "weights"]},
    }


def _goldilocks_like(target: dict[str, Any], P: int, steps: int, probes: list[str], D: int = 40, N: int = 100,
                     lr: float = 0.5, **model: Any) -> dict[str, Any]:
    """Figs 14–15 (no code; sizes chosen here): a committee (α = 1, centred, GD η = lr·N/α²) on another
    polynomial target; ``D``, ``N``, ``lr`` default to the Goldilocks cell's D = 40, N = 100, η = 50."""
    return {
        "task": {"name": "polynomial", "D": D, "P": P, "P_test": 1000, **target},
        "model": {"name": "committee", "N": N, "seed": 0, **model},
        "scaling": {"alpha": 1.0, "centre": True, "lr_rule": "paper"},
        "optim": {"name": "gd", "lr": lr},
        "train": {"steps": steps, "dtype": "float64"},
        "probes": {"names": probes},
    }


PRESETS.update({
    # Fig 10: interp ∈ {0, 0.05, 0.2, 0.5, 0.75, 0.95} in the sweep spec fig10 (with seeds)
    "fig10": {**_n2(20_000, 0.5), "init": {"interp": 0.05}},
    # Fig 11: trained readouts a ~ N(0, 1), η = 0.05·N/α² = 0.1, 100 000 steps
    "fig11": _n2(100_000, 0.05, readouts="trained", readout_init="normal"),
    # Fig 13(a): Fig 1 with heavy-ball momentum 0.95 for the network and its twin (same η = N/α²)
    "fig13a": {**copy.deepcopy(PRESETS["fig1"]), "optim": {"name": "momentum", "lr": 1.0, "momentum": 0.95},
               "probes": {"names": ["loss", "exact_loss", "weights", "twin"], "expensive_points": 40}},
    "fig13b": _teacher13b(),
    "fig13c": _transformer13c(1.0),
    "fig14": _goldilocks_like({"target": "multi_index", "n_index": 2}, 300, 50_000, list(_LOSS_PROBES), phi="quadratic", eps=0.5),
    # Fig 15: D = 10, N = 50, P = 400, ε = 2 (He₃ needs ε > 2/3 to be reachable, docs/paper-figures.md), η₀ = 0.01
    "fig15-h3": _goldilocks_like({"target": "hermite", "k": 3}, 400, 10_000, ["loss", "weights"], D=10, N=50,
                                 lr=0.01, phi="hermite", k=3, eps=2.0),
    "fig15-h4": _goldilocks_like({"target": "hermite", "k": 4}, 400, 10_000, ["loss", "weights"], D=10, N=50,
                                 lr=0.01, phi="hermite", k=4, eps=2.0),
    "nanda": _nanda(0.3),
})
DESCRIPTIONS.update({
    "fig10": "paper Fig 10: N = 2 committee started 5 % of the way to the analytic solution (init.interp; "
             "sweep: fig10)",
    "fig11": "paper Fig 11: N = 2 committee with trained readouts and the eq. 6 decomposition",
    "fig13a": "paper Fig 13(a): Fig 1 with momentum 0.95, network and linearised twin",
    "fig13b": "paper Fig 13(b): teacher–student tanh MLP with AdamW against its linearisation",
    "fig13c": "paper Fig 13(c): one-layer Transformer (α = 1, AdamW wd 2) against its linearisation "
              "(sweep: fig13c, α ∈ {0.15, 1})",
    "fig14": "paper Fig 14: multi-index target ½Σ_j(β_j·x)² (2 directions), quadratic committee",
    "fig15-h3": "paper Fig 15: Hermite target He₃(z) with φ = h + (ε/2)He₃(h)",
    "fig15-h4": "paper Fig 15: Hermite target He₄(z) with φ = h + (ε/2)He₄(h)",
    "nanda": "Nanda et al. 2023: one-layer Transformer, a + b mod 113, 30 % train, AdamW wd 1 with a 10-step "
             "warm-up (sweep: nanda-frac, fractions 0.3…0.7)",
})
_SMALL_TF = {"task.p": 17, "task.frac_train": 0.6, "model.d_model": 16, "model.d_mlp": 64,
             "train.steps": 100, "train.log_per_decade": 10}
SMALL.update({
    "fig10": {"task.D": 20, "task.P": 60, "task.P_test": 200, "train.steps": 2000, "train.log_per_decade": 20},
    "fig11": {"task.D": 20, "task.P": 60, "task.P_test": 200, "train.steps": 2000, "train.log_per_decade": 20},
    "fig13a": {"task.D": 10, "task.P": 55, "task.P_test": 100, "model.N": 20, "train.steps": 200,
               "train.log_per_decade": 10, "probes.expensive_points": 5},
    "fig13b": {"task.hidden": [20], "model.hidden": [20], "task.P": 40, "task.P_test": 40, "train.steps": 500,
               "train.log_per_decade": 10},
    "fig13c": {**_SMALL_TF, "task.p": 11, "model.d_model": 8, "model.d_mlp": 32, "optim.lr": 2e-3,
               "train.steps": 40},
    "fig14": {"task.D": 15, "task.P": 100, "task.P_test": 200, "model.N": 20, "train.steps": 2000,
              "train.log_per_decade": 10},
    "fig15-h3": {"task.P": 100, "task.P_test": 200, "model.N": 20, "optim.lr": 0.003, "train.steps": 500,
                 "train.log_per_decade": 10},
    "fig15-h4": {"task.P": 100, "task.P_test": 200, "model.N": 20, "optim.lr": 3e-4, "train.steps": 500,
                 "train.log_per_decade": 10},
    "nanda": dict(_SMALL_TF),
})
