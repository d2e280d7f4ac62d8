"""Named configs reproducing the paper's figures (see experiments/*.yaml for the same as files)."""
from __future__ import annotations

import copy
from typing import Any

from grokscope.config.preset_table import DESCRIPTIONS, PRESETS, SMALL

PRESETS.update({
    # Fig 1(b): D=100, P=550 (1000 test), N=500, α=1, ε=0.02, η = N/α², 1e5 full-batch GD steps, centred.
    "fig1": {
        "task": {"name": "polynomial", "D": 100, "P": 550, "P_test": 1000, "target": "single_index"},
        "model": {"name": "committee", "N": 500, "phi": "quadratic", "eps": 0.02},
        "scaling": {"alpha": 1.0, "centre": True, "lr_rule": "paper"},
        "optim": {"name": "gd", "lr": 1.0},
        "train": {"steps": 100_000, "dtype": "float64"},
    },
    # Fig 6(a) (reference §5.3, the authors' code): ReLU MLP 3×200, no bias, forward h = W₀x/√D,
    # W_l relu(h)/√200, readout /200, Kaiming init × weight_scale 150, output × α, uncentred, MSE on
    # one-hot, AdamW lr 1e-3 wd 0.01 batch 200, 250 000 steps. Default data: sklearn's 8×8 digits
    # (1000 train / 797 test); MNIST: task.source=mnist, task.path=DIR, task.n_test=2000.
    "fig6a": {
        "task": {"name": "images", "source": "digits", "n_train": 1000, "n_test": 797, "seed": 0},
        "model": {"name": "mlp", "hidden": [200, 200, 200], "activation": "relu", "bias": False,
                  "init": "kaiming", "sigma": 150.0, "norm": "paper", "seed": 0},
        "scaling": {"alpha": 0.05, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.01, "batch_size": 200},
        "train": {"steps": 250_000, "dtype": "float32"},
        "probes": {"expensive_points": 30},
    },
    # Fig 8 (reference §5.5, Omnigrok's task): 5-100-100-5 tanh teacher and student with biases,
    # PyTorch default init, student ×2, output × α (α = 1: the paper's purple curve), uncentred,
    # AdamW lr 3e-4 wd 0.05, full batch, 10 000 steps; accuracy = per-sample MSE < 0.001.
    "fig8": {
        "task": {"name": "teacher", "D": 5, "hidden": [100, 100], "K": 5, "P": 100, "P_test": 100, "seed": 0},
        "model": {"name": "mlp", "hidden": [100, 100], "activation": "tanh", "bias": True,
                  "init": "torch_default", "sigma": 2.0, "norm": "none", "seed": 1},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 3e-4, "weight_decay": 0.05},
        "train": {"steps": 10_000, "dtype": "float64"},
    },
    # Fig 5 (reference §5.2): labels = j-th eigenvector of the centred initial NTK over 100 + 100
    # Gaussian points; quadratic committee N = 2, ε = 0.25, α = 1, centred, η = 0.5·N/α² = 1, 25 000 GD steps.
    "fig5": {
        "task": {"name": "eigen", "D": 100, "P": 100, "P_test": 100, "j": 70, "data_seed": 0},
        "model": {"name": "committee", "N": 2, "phi": "quadratic", "eps": 0.25, "seed": 0},
        "scaling": {"alpha": 1.0, "centre": True, "lr_rule": "paper"},
        "optim": {"name": "gd", "lr": 0.5},
        "train": {"steps": 25_000, "dtype": "float64"},
        "events": {"thresholds": [1e-3], "relative": [0.5, 0.1]},
    },
})
PRESETS["fig17"] = copy.deepcopy(PRESETS["fig8"])
PRESETS["fig17"]["train"]["steps"] = 100_000


def _reduced(name: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """A preset with some section keys replaced (reduced sizes for quick looks and tests)."""
    out = copy.deepcopy(PRESETS[name])
    for sec, kv in sections.items():
        out.setdefault(sec, {}).update(kv)
    return out


PRESETS["fig6a-small"] = _reduced("fig6a", task={"n_train": 200, "n_test": 300}, model={"hidden": [50, 50, 50]},
                                  train={"steps": 2000}, probes={"expensive_points": 10})
PRESETS["fig8-small"] = _reduced("fig8", task={"hidden": [30, 30], "P": 50, "P_test": 50},
                                 model={"hidden": [30, 30]}, train={"steps": 1000})
PRESETS["fig5-small"] = _reduced("fig5", task={"D": 30, "P": 40, "P_test": 40, "j": 25}, train={"steps": 2000})


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

DESCRIPTIONS.update({
    "fig1": "paper Fig 1(b): the canonical grokking curve of the quadratic committee (D=100, P=550, N=500)",
    "fig6a": "paper Fig 6(a): ReLU MLP 3×200 on 1000 images (bundled digits; MNIST with task.path), AdamW, large init",
    "fig8": "paper Fig 8: teacher–student tanh MLPs, student init ×2, AdamW; accuracy = per-sample MSE < 0.001",
    "fig17": "paper Figs 17–18: fig8 for 100 000 steps; accuracy at thresholds 1e-4…0.1 against the loss",
    "fig5": "paper Fig 5: eigenvector labels (j = 70) of the initial NTK, quadratic committee N = 2",
    "fig6a-small": "fig6a at reduced size (200/300 digits, 3×50, 2000 steps): a quick look",
    "fig8-small": "fig8 at reduced size (30-30 hidden, 50/50 points, 1000 steps)",
    "fig5-small": "fig5 at reduced size (D = 30, 40/40 points, j = 25, 2000 steps): j = 1 at once, 25 groks, 40 fails",
    "fig6b": "paper Fig 6(b): one-layer transformer on a + b mod 113, α = 0.5 (sweep scaling.alpha down to 0.05)",
    "fig12a": "paper Fig 12(a): transformer, α = 0.5, weight decay 1: grokking",
    "fig12b": "paper Fig 12(b): transformer, α = 0.5, weight decay 5: grokking vanishes",
    "fig12c": "paper Fig 12(c): transformer, α = 1.4, weight decay 5: grokking recovered",
})

# Reduced sizes (dotted overrides) for tests and quick looks: `load_config(get_preset(n), SMALL[n])`.
# Transformer: p = 17, 60 % train, d_model 16 (4 heads × 4), d_mlp 64, η = 2e-3/α², 600 steps (≈ 10 s on CPU).
_SMALL_TRANSFORMER = {"task.p": 17, "task.frac_train": 0.6, "model.d_model": 16, "model.d_mlp": 64,
                      "optim.lr": 2e-3, "train.steps": 600, "train.log_per_decade": 20}
SMALL.update({
    "fig6b": dict(_SMALL_TRANSFORMER),
    "fig12a": dict(_SMALL_TRANSFORMER),
    "fig12b": dict(_SMALL_TRANSFORMER),
    "fig12c": dict(_SMALL_TRANSFORMER),
})


def get_preset(name: str) -> dict[str, Any]:
    from grokscope.config import ConfigError
    if name not in PRESETS:
        from grokscope.config.suggest import did_you_mean
        raise ConfigError(f"--preset {name!r}: unknown preset{did_you_mean(name, PRESETS)}; available: "
                          f"{', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


def _fig2(alpha: float, steps: int) -> dict[str, Any]:
    """Paper Fig 2, the authors' notebook cell (reference notebook-cells.md): a + b mod 23, 90 % train by
    torch's seeded permutation (seed 1), x = [e_a; e_b] (D = 46), Linear(46, 100, no bias) → h² →
    Linear(100, 23, no bias), both N(0, 1), output α·α·A(Wx)²/(D·N) (alpha_convention paper-code: the
    cell applies α twice), uncentred; MSE over samples and outputs; GD at the cell's η = 100/α² on its
    loss MSE/α², i.e. optim.lr = 100/α² with lr_rule inv_alpha2 (η = lr/α² on the MSE); no weight decay."""
    p, N = 23, 100
    return {
        "task": {"name": "modular", "p": p, "op": "add", "frac_train": 0.9, "split_seed": 1, "inputs": "onehot"},
        "model": {"name": "mlp", "hidden": [N], "activation": "square", "bias": False, "init": "normal",
                  "sigma": 1.0, "norm": "none", "out_scale": 1.0 / (2 * p * N), "seed": 0},
        "scaling": {"alpha": alpha, "centre": False, "lr_rule": "inv_alpha2", "alpha_convention": "paper-code"},
        "optim": {"name": "gd", "lr": 100.0 / alpha**2},
        "train": {"steps": steps, "loss": "mse", "dtype": "float64", "log_per_decade": 50},
        "probes": {"names": ["loss", "accuracy", "weights", "ntk", "twin"], "expensive_points": 40},
    }


PRESETS["fig2"] = _fig2(1.0, 50_000)
DESCRIPTIONS["fig2"] = ("paper Fig 2/16 at the authors' cell: quadratic MLP on a + b mod 23 (90 % train), GD η = 100, "
                        "α = 1: train accuracy reaches 100 % before test accuracy does (sweep: fig2c)")
# fig2 SMALL is a smoke test (500 steps): at the cell's η the accuracies only start to move after ~10³
# steps (α = 1: train 100 % at step ≈ 2·10⁴; docs/paper-fidelity.md).
SMALL["fig2"] = {"train.steps": 500, "train.log_per_decade": 20, "probes.names": ["loss", "accuracy", "weights"]}


def _prieto(p: int, frac_train: float, loss: str, lr: float, steps: int, orthogonal: bool = False) -> dict[str, Any]:
    """Prieto et al. 2025 (reference neighbors.md §1): a + b mod p on concatenated one-hots, ReLU MLP
    [200, 200] without biases, PyTorch's default init, full-batch AdamW betas (0.9, 0.99), eps 1e-25, no
    weight decay, float32 model. StableMax's loss runs in float64 (the reference code); cross-entropy in
    float32 (the precision whose softmax collapses). Probes: accuracy, weights, softmax collapse."""
    return {
        "task": {"name": "modular", "p": p, "op": "add", "frac_train": frac_train, "split_seed": 0, "inputs": "onehot"},
        "model": {"name": "mlp", "hidden": [200, 200], "activation": "relu", "bias": False, "init": "torch_default",
                  "sigma": 1.0, "norm": "none", "seed": 0},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": lr, "betas": [0.9, 0.99], "adam_eps": 1e-25, "weight_decay": 0.0,
                  "orthogonal": orthogonal},
        "train": {"steps": steps, "loss": loss, "dtype": "float32",
                  "loss_dtype": "float64" if loss == "stablemax" else "float32", "log_per_decade": 30},
        "probes": {"names": ["loss", "accuracy", "weights", "softmax_collapse"]},
    }


PRESETS.update({
    "stablemax": _prieto(41, 0.8, "stablemax", 1e-3, 5000),
    "stablemax-ce": _prieto(41, 0.8, "cross_entropy", 1e-3, 5000),
    "orthograd": _prieto(113, 0.4, "cross_entropy", 5e-3, 500, orthogonal=True),
    "orthograd-adamw": _prieto(113, 0.4, "cross_entropy", 5e-3, 500),
})
DESCRIPTIONS.update({
    "stablemax": "Prieto et al. 2025: StableMax cross-entropy, no weight decay, a + b mod 41 MLP: test accuracy "
                 "rises without regularisation (contrast: stablemax-ce)",
    "stablemax-ce": "the stablemax preset with float32 softmax cross-entropy: softmax collapse, the loss "
                    "reaches exactly 0 and learning stops before the test set is learnt",
    "orthograd": "Prieto et al. 2025: ⊥AdamW on a + b mod 113 (40 % train), no weight decay: generalises within "
                 "a few hundred steps (contrast: orthograd-adamw)",
    "orthograd-adamw": "the orthograd preset with plain AdamW: memorises, test accuracy stays at chance",
})
# Prieto et al. presets at reduced size: StableMax p = 31 (80 % train), ⊥AdamW p = 41 (50 % train, 300 steps).
_SMALL_STABLEMAX = {"task.p": 31, "train.steps": 1500, "optim.lr": 2e-3, "train.log_per_decade": 20}
_SMALL_ORTHOGRAD = {"task.p": 41, "task.frac_train": 0.5, "train.steps": 300, "train.log_per_decade": 20}
SMALL.update({"stablemax": dict(_SMALL_STABLEMAX), "stablemax-ce": dict(_SMALL_STABLEMAX),
              "orthograd": dict(_SMALL_ORTHOGRAD), "orthograd-adamw": dict(_SMALL_ORTHOGRAD)})


def _omnigrok_teacher(scale: float) -> dict[str, Any]:
    """Omnigrok (reference neighbors.md §2) on the teacher–student task of fig8: the student starts at
    PyTorch's default init (model.sigma 1) times ``init.scale``; AdamW lr 1e-3 with weight decay 0.5
    (10× Omnigrok's lr·wd product per step, so the weight norm shrinks within minutes), 3 000 steps."""
    out = copy.deepcopy(PRESETS["fig8"])
    out["model"]["sigma"] = 1.0
    out["init"] = {"scale": scale}
    out["optim"].update(lr=1e-3, weight_decay=0.5)
    out["train"]["steps"] = 3000
    out["probes"] = {"names": ["loss", "threshold_accuracy", "weights"]}
    return out


PRESETS["omnigrok-teacher"] = _omnigrok_teacher(3.0)
PRESETS["omnigrok-teacher-s1"] = _omnigrok_teacher(1.0)
DESCRIPTIONS.update({
    "omnigrok-teacher": "Omnigrok: teacher–student with the student's init ×3 and weight decay: the train set "
                        "fits (per-sample MSE < 0.001) hundreds of steps before the test set (grokking)",
    "omnigrok-teacher-s1": "omnigrok-teacher at init scale 1: train and test accuracy rise together",
})
SMALL.update({n: {"task.hidden": [30, 30], "task.P": 50, "task.P_test": 50, "model.hidden": [30, 30],
                  "train.log_per_decade": 20}
              for n in ("omnigrok-teacher", "omnigrok-teacher-s1")})


def _omnigrok_digits(scale: float) -> dict[str, Any]:
    """Omnigrok's MNIST grokking (reference neighbors.md §2) on the bundled 8×8 digits: ReLU MLP
    [200, 200] with biases, PyTorch's default init × ``init.scale``, MSE on one-hot targets, full-batch
    AdamW lr 1e-3 with weight decay 0.5 (Omnigrok: 0.01 over 10⁵ steps; larger here so the norm shrinks
    within minutes), float32, 4 000 steps, 200 train / 1 000 test images (with 1 000 training images
    the test accuracy lags less: 0.55 vs 0.77 train at step 1 017, docs/neighbours-presets.md)."""
    return {
        "task": {"name": "images", "source": "digits", "n_train": 200, "n_test": 1000, "seed": 0},
        "model": {"name": "mlp", "hidden": [200, 200], "activation": "relu", "bias": True, "init": "torch_default",
                  "sigma": 1.0, "norm": "none", "seed": 0},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.5},
        "train": {"steps": 4000, "loss": "mse", "dtype": "float32", "log_per_decade": 30},
        "init": {"scale": scale},
        "probes": {"names": ["loss", "accuracy", "weights"]},
    }


PRESETS["omnigrok-digits"] = _omnigrok_digits(8.0)
PRESETS["omnigrok-digits-s1"] = _omnigrok_digits(1.0)
DESCRIPTIONS.update({
    "omnigrok-digits": "Omnigrok: bundled digits, MLP init ×8 with weight decay: train accuracy saturates long "
                       "before test accuracy (grokking)",
    "omnigrok-digits-s1": "omnigrok-digits at init scale 1: test accuracy follows train accuracy",
})
SMALL.update({n: {"task.n_train": 100, "task.n_test": 300, "model.hidden": [100, 100], "train.steps": 3000,
                  "train.log_per_decade": 20}
              for n in ("omnigrok-digits", "omnigrok-digits-s1")})


def _lowrank(rank: int | None) -> dict[str, Any]:
    """Liu et al. 2024 (reference neighbors.md §5) with an MLP's hidden-to-hidden matrix in the role of
    their recurrent one: digits (200 train / 100 test), ReLU MLP [200, 200] without biases, every weight
    1.25·N(0, 1)/√fan_in (their W_rec init), the hidden W1 truncated to ``rank`` at its Frobenius norm
    (init.params [W1]), SGD momentum 0.9, lr 3e-3, cross-entropy, 1 000 full-batch steps, float64.
    Their laziness measure is the ``kernel_alignment`` probe (1 − KA of the test NTK with K₀)."""
    return {
        "task": {"name": "images", "source": "digits", "n_train": 200, "n_test": 100, "seed": 0},
        "model": {"name": "mlp", "hidden": [200, 200], "activation": "relu", "bias": False, "init": "lecun",
                  "sigma": 1.25, "norm": "none", "seed": 0},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "momentum", "lr": 3e-3, "momentum": 0.9},
        "train": {"steps": 1000, "loss": "cross_entropy", "dtype": "float64", "log_per_decade": 30},
        "init": {"rank": rank, "params": ["W1"]},
        "probes": {"names": ["loss", "accuracy", "weights", "ntk", "kernel_alignment"], "expensive_points": 12},
    }


PRESETS["lowrank"] = _lowrank(1)
PRESETS["lowrank-full"] = _lowrank(None)
DESCRIPTIONS.update({
    "lowrank": "Liu et al. 2024: rank-1 init of the hidden-to-hidden weight (same norm): the NTK turns further "
               "from K₀ (kernel_misalignment) than at full rank (contrast: lowrank-full; sweep: lowrank-sweep)",
    "lowrank-full": "the lowrank preset with a full-rank hidden weight",
})
SMALL.update({n: {"model.hidden": [100, 100], "train.steps": 400, "train.log_per_decade": 10,
                  "probes.expensive_points": 3} for n in ("lowrank", "lowrank-full")})


def _load_families() -> None:
    """Import every module of ``config/preset_families`` (each registers its presets on import)."""
    import importlib
    import pkgutil

    from grokscope.config import preset_families
    for info in sorted(pkgutil.iter_modules(preset_families.__path__), key=lambda i: i.name):
        importlib.import_module(f"{preset_families.__name__}.{info.name}")


_load_families()
