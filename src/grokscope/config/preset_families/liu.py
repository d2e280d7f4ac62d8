"""Liu et al. (ICLR 2024), "How connectivity structure shapes rich and lazy learning in neural circuits"
(reference neighbors.md §5; docs/neural-circuits.md): a rate RNN (N = 300, τ = dt = 100 ms, ReLU, no
biases) trained by BPTT on neurogym's 2AF / DMS / CXT tasks at the authors' timing (8 steps of 100 ms)
or on row-by-row digits, from an initial W_rec = 1.25·N(0, 1)/√N at rank r (SVD truncation, same
Frobenius norm), task-aligned, or from a file such as the shipped cortical-model matrix (CORTICAL). SGD momentum 0.9,
lr 3e-3, batch 32, cross-entropy on the decision output, 10 000 steps, float32, uncentred, η = lr.
Measures: the liu probes restricted to W_rec (‖ΔW‖_F, representation alignment, sign similarity,
effective rank) and liu_kernel (tangent-kernel alignment, outputs over 8 steps × 3 classes of 32 trials).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from grokscope.config import neural_sections  # noqa: F401  (registers the rnn, neuro and seq_digits sections)
from grokscope.config.preset_table import DESCRIPTIONS, PRESETS, SMALL

# The shipped 300 × 300 draw of a statistical model of cortical connectivity (not data; see
# data/cortical_connectivity.py). It is not a preset, because a preset's reduced variants shrink N:
# grokscope run --preset liu-2af --set init.recurrent.kind=file --set init.recurrent.path=<CORTICAL>
CORTICAL = str(Path(__file__).resolve().parents[2] / "data" / "cortical_w_rec_300.npz")


def liu(env: str = "2AF", recurrent: dict[str, Any] | None = None) -> dict[str, Any]:
    """The paper's RNN run on ``env`` (2AF, DMS, CXT) with ``init.recurrent`` = ``recurrent``."""
    task = ({"name": "seq_digits", "n_train": 1000, "n_test": 320} if env == "seq_digits" else
            {"name": "neuro", "env": env, "n_train": 3200, "n_test": 320, "seed": 0})
    return {
        "task": task,
        "model": {"name": "rnn", "N": 300, "tau": 100.0, "dt": 100.0, "activation": "relu", "bias": False,
                  "gain": 1.25, "seed": 0},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "momentum", "lr": 3e-3, "momentum": 0.9, "batch_size": 32},
        "train": {"steps": 10_000, "loss": "cross_entropy", "dtype": "float32", "log_per_decade": 10},
        "init": {"recurrent": recurrent or {"kind": "gaussian"}},
        "probes": {"names": ["loss", "accuracy", "liu", "liu_kernel"], "cadence": {"liu_kernel": 3},
                   "liu_trials": 320, "liu_kernel_trials": 32},
    }


PRESETS.update({
    "liu-2af": liu("2AF"),
    "liu-lowrank": liu("2AF", {"kind": "lowrank", "rank": 1}),
    "liu-aligned": liu("2AF", {"kind": "aligned", "rank": 1}),
    "liu-seqdigits": liu("seq_digits"),
})
DESCRIPTIONS.update({
    "liu-2af": "Liu et al. 2024: rate RNN (N = 300) on neurogym 2AF from a full-rank Gaussian W_rec; the liu "
               "probes measure ‖ΔW_rec‖_F, representation and tangent-kernel alignment (sweep: liu-rank)",
    "liu-lowrank": "liu-2af from a rank-1 W_rec (same Frobenius norm): richer learning per the paper",
    "liu-aligned": "liu-2af from a rank-1 W_rec aligned with W_in/W_out (the task's directions): lazy again",
    "liu-seqdigits": "the paper's sequential MNIST at bundled size: the RNN reads 8×8 digits row by row",
})
_SMALL = {"model.N": 24, "task.n_train": 64, "task.n_test": 32, "train.steps": 12, "train.log_per_decade": 3,
          "probes.liu_trials": 32, "probes.liu_kernel_trials": 2}
SMALL.update({n: dict(_SMALL) for n in ("liu-2af", "liu-lowrank", "liu-aligned", "liu-seqdigits")})
