"""Issue #22 §2–5 (reference neighbors.md §6, §7, §8a, §8b; docs/neighbours-more.md): delayed robustness
and local complexity (Humayun et al. 2024), corrupted labels and memorising neurons (Doshi et al. 2024),
grokking tickets (Minegishi et al.), and Li₂'s feature-emergence scaling (Tian 2025).

Sweeps of these presets are the packaged specs label-noise-phase and li2-sweep (config/specs/).
"""
from __future__ import annotations

import math
from typing import Any

from grokscope.config.preset_table import DESCRIPTIONS, PRESETS, SMALL

LI2_C = 2.7482  # Li₂'s constant: n_c ≈ LI2_C · M ln M training pairs suffice for a + b mod M


def li2_critical_fraction(M: int) -> float:
    """Li₂ (Tian 2025): the fraction of the M² pairs at the critical training-set size, n_c/M² ≈ 2.7482·ln M / M."""
    return LI2_C * math.log(M) / M


def _delayed_robustness() -> dict[str, Any]:
    """Humayun et al.'s MNIST MLP (neighbors.md §6) on the bundled 8×8 digits: ReLU MLP 3 × 100 with biases,
    PyTorch's default init, MSE on one-hot targets, AdamW lr 5e-3 (paper: 1e-3 over 10⁶ steps; 5× here so the
    dynamics fit 4·10⁴ steps), weight decay 0.01, batch 200, float32, 1 000 train / 797 test images.
    Probes: local complexity (r = 0.1, 20 vertices, 100 points per set) and PGD at ε = 0.1 (10 iterations)."""
    return {
        "task": {"name": "images", "source": "digits", "n_train": 1000, "n_test": 797, "seed": 0},
        "model": {"name": "mlp", "hidden": [100, 100, 100], "activation": "relu", "bias": True,
                  "init": "torch_default", "sigma": 1.0, "norm": "none", "seed": 0},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 5e-3, "weight_decay": 0.01, "batch_size": 200},
        "train": {"steps": 40_000, "loss": "mse", "dtype": "float32", "log_per_decade": 20},
        "probes": {"names": ["loss", "accuracy", "weights", "local_complexity", "robustness"],
                   "expensive_points": 16, "lc_radius": 0.1, "lc_vertices": 20, "lc_points": 100,
                   "robust_eps": 0.1, "robust_iters": 10},
    }


def _corrupted(p: int = 97, N: int = 500, xi: float = 0.2, wd: float = 5.0, frac: float = 0.5,
               steps: int = 2000) -> dict[str, Any]:
    """Doshi et al. (neighbors.md §8a): a + b mod p with a fraction ξ of the training labels corrupted,
    2-layer MLP of width N without biases and quadratic activation h², weights N(0, 0.25/(2N)^{2/3}),
    MSE on one-hot targets, AdamW lr 1e-2 betas (0.9, 0.98), full batch, ``steps`` epochs."""
    return {
        "task": {"name": "modular", "p": p, "op": "add", "frac_train": frac, "split_seed": 0, "inputs": "onehot",
                 "label_noise": xi, "label_noise_seed": 0},
        "model": {"name": "mlp", "hidden": [N], "activation": "square", "bias": False, "init": "normal",
                  "sigma": math.sqrt(0.25 / (2 * N) ** (2 / 3)), "norm": "none", "seed": 0},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 1e-2, "betas": [0.9, 0.98], "weight_decay": wd},
        "train": {"steps": steps, "loss": "mse", "dtype": "float32", "log_per_decade": 30},
        "probes": {"names": ["loss", "accuracy", "weights", "ipr", "label_noise"], "expensive_points": 12},
    }


def _tickets(mask: dict[str, Any] | None = None) -> dict[str, Any]:
    """Grokking tickets (neighbors.md §8b) on the Doshi-style quadratic MLP without label noise: a + b mod 31,
    50 % train, width 200, AdamW lr 1e-2 wd 1, 1 500 steps. The dense run writes runs/tickets; the
    magnitude ticket is ``--set init.mask_from=runs/tickets init.mask_sparsity=0.4``."""
    cfg = _corrupted(p=31, N=200, xi=0.0, wd=1.0, steps=1500)
    cfg["probes"] = {"names": ["loss", "accuracy", "weights"]}
    cfg["output"] = {"name": "tickets" if mask is None else "tickets-random"}
    if mask is not None:
        cfg["init"] = mask
    return cfg


def _li2(M: int = 97, frac: float = 0.3) -> dict[str, Any]:
    """Li₂ (neighbors.md §7): a + b mod M, two-layer network W: 2M → K = 256 without bias, σ(x) = x², V: K → M,
    frozen one-hot inputs [e_a, e_b], MSE on one-hot targets, full batch. Optimiser: the Doshi-style AdamW
    lr 1e-2, betas (0.9, 0.98), weight decay 1, 1 000 steps (Tian's code: Adam lr 1e-3, wd 1e-4, K = 512,
    3 000 epochs; ours is faster on a CPU, so the measured n_c is for this optimiser)."""
    return {
        "task": {"name": "modular", "p": M, "op": "add", "frac_train": frac, "split_seed": 0, "inputs": "onehot"},
        "model": {"name": "mlp", "hidden": [256], "activation": "square", "bias": False, "init": "normal",
                  "sigma": math.sqrt(0.25 / 512 ** (2 / 3)), "norm": "none", "seed": 0},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 1e-2, "betas": [0.9, 0.98], "weight_decay": 1.0},
        "train": {"steps": 1000, "loss": "mse", "dtype": "float32", "log_per_decade": 20},
        "probes": {"names": ["loss", "accuracy", "weights"]},
    }


PRESETS.update({
    "delayed-robustness": _delayed_robustness(),
    "label-noise": _corrupted(),
    "tickets": _tickets(),
    "tickets-random": _tickets({"mask_sparsity": 0.4, "mask_kind": "random", "mask_seed": 0}),
    "li2": _li2(),
})
DESCRIPTIONS.update({
    "delayed-robustness": "Humayun et al. 2024: digits ReLU MLP; test accuracy saturates long before PGD "
                          "accuracy moves, while the local complexity around training points changes",
    "label-noise": "Doshi et al. 2024: a + b mod 97 with 20 % corrupted training labels, quadratic MLP; the "
                   "ipr and label_noise probes separate memorising from periodic neurons (sweep: "
                   "label-noise-phase)",
    "tickets": "grokking tickets, the dense run: quadratic MLP on a + b mod 31 (writes runs/tickets; then "
               "--set init.mask_from=runs/tickets init.mask_sparsity=0.4 for the magnitude ticket)",
    "tickets-random": "the tickets preset with a random mask of sparsity 0.4 per weight matrix (the control)",
    "li2": "Li₂ (Tian 2025): quadratic two-layer net on a + b mod 97 at 30 % train (sweep li2-sweep: the smallest "
           "training set that generalises per M against 2.7482·M ln M)",
})
SMALL.update({
    "delayed-robustness": {"task.n_train": 200, "task.n_test": 100, "model.hidden": [32, 32], "train.steps": 100,
                           "probes.expensive_points": 3, "probes.lc_points": 10},
    "label-noise": {"task.p": 23, "model.hidden": [64], "train.steps": 100, "probes.expensive_points": 3},
    "tickets": {"task.p": 17, "model.hidden": [32], "train.steps": 200, "output.name": None},
    "tickets-random": {"task.p": 17, "model.hidden": [32], "train.steps": 200, "output.name": None},
    "li2": {"task.p": 23, "model.hidden": [64], "train.steps": 200},
})
