"""Sparse parity (Prieto et al. 2025, Fig 4: 3 relevant + 40 noise bits, 2 000 samples, 50 % train).

X (n, k + m) float: n strings of k = n_relevant and m = n_noise bits drawn i.i.d. uniform from
{0, 1} with a ``torch.Generator`` seeded by ``seed`` (encoding pm1 maps bit b to 1 − 2b);
y (n,) int64 = b₁ ⊕ … ⊕ b_k, the parity of the first k bits (2 classes). The first
round(frac_train·n) strings are the training set, the rest the test set.
"""
from __future__ import annotations

from typing import Any

import torch

from grokscope.config.sections import ParityTask
from grokscope.tasks.base import Dataset, register_task


def parity_bits(n: int, k: int, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(bits (n, k + m) int64 in {0, 1}, labels (n,) int64 = parity of the first k bits)."""
    g = torch.Generator().manual_seed(int(seed))
    bits = torch.randint(0, 2, (n, k + m), generator=g, dtype=torch.int64)
    return bits, bits[:, :k].sum(1) % 2


def _memory(cfg: Any) -> tuple[int, str]:
    t = cfg.task
    item = 8 if cfg.train.dtype == "float64" else 4
    need = t.n_samples * (t.n_relevant + t.n_noise + 8) * item
    return need, (f"task.n_samples = {t.n_samples} strings of {t.n_relevant + t.n_noise} bits", "reduce task.n_samples")


@register_task("parity", ParityTask, memory=_memory, capabilities=lambda cfg: frozenset({"classes"}))
def build(cfg: ParityTask) -> Dataset:
    bits, y = parity_bits(cfg.n_samples, cfg.n_relevant, cfg.n_noise, cfg.seed)
    X = bits.to(torch.float64) if cfg.encoding == "binary" else (1 - 2 * bits).to(torch.float64)
    n_train = round(cfg.frac_train * cfg.n_samples)
    meta = {"n_relevant": cfg.n_relevant, "n_noise": cfg.n_noise, "encoding": cfg.encoding}
    return Dataset(X[:n_train], y[:n_train], X[n_train:], y[n_train:], classes=2, meta=meta)
