"""Modular arithmetic (paper §3 / Fig 2; Nanda et al. 2023; Power et al. 2022): c = (a ∘ b) mod p.

Pairs (a, b) ∈ Z_p² (b ≠ 0 for ``div``), labels c ∈ Z_p:
  add a + b   sub a − b   mul a·b   div a·b⁻¹ (b⁻¹ = b^(p−2), p prime)   x2xyy2 a² + ab + b²
The pairs are shuffled once with a ``torch.Generator`` seeded by ``split_seed``; the first
round(frac_train·n) are the training set, the rest the test set (disjoint, together all n pairs).
Inputs: ``onehot`` X (n, 2p) float = [e_a, e_b] (concatenated one-hots, for MLPs);
``tokens`` X (n, 3) int64 = (a, b, p), the '=' token being p (vocabulary p + 1, for transformers).
Labels y are int64 class indices (n,); :func:`grokscope.tasks.base.onehot_targets` turns them into
one-hot float targets (n, p) for the MSE loss. ``Dataset.classes`` = p.
"""
from __future__ import annotations

from typing import Any

import torch

from grokscope.config import ModularTask
from grokscope.models.registry import supports
from grokscope.tasks.base import Dataset, register_task

OPS = ("add", "sub", "mul", "div", "x2xyy2")


def all_pairs(p: int, op: str) -> torch.Tensor:
    """Every valid (a, b), row-major in a then b; shape (p², 2), or (p(p−1), 2) for div (b ≠ 0)."""
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    ab = torch.stack([a, b], dim=1)
    return ab[ab[:, 1] != 0] if op == "div" else ab


def modular_labels(a: torch.Tensor, b: torch.Tensor, p: int, op: str) -> torch.Tensor:
    """c = (a ∘ b) mod p elementwise for int64 tensors a, b with entries in [0, p); returns int64."""
    a, b = a.long(), b.long()
    if op == "add":
        c = a + b
    elif op == "sub":
        c = a - b
    elif op == "mul":
        c = a * b
    elif op == "div":
        if bool((b % p == 0).any()):
            raise ValueError("modular_labels: op = div with b ≡ 0 (mod p) has no inverse")
        c = a * _pow_mod(b, p - 2, p)  # Fermat: b^(p−2) ≡ b⁻¹ for prime p
    elif op == "x2xyy2":
        c = a * a + a * b + b * b
    else:
        raise ValueError(f"modular_labels: op = {op!r}; allowed are {', '.join(OPS)}")
    return torch.remainder(c, p)


def _pow_mod(b: torch.Tensor, e: int, p: int) -> torch.Tensor:
    """b^e mod p by square-and-multiply (int64; p ≤ 4096 so products stay below 2⁶³)."""
    out = torch.ones_like(b)
    base = torch.remainder(b, p)
    while e:
        if e & 1:
            out = torch.remainder(out * base, p)
        base = torch.remainder(base * base, p)
        e >>= 1
    return out


def encode(ab: torch.Tensor, p: int, inputs: str) -> torch.Tensor:
    """Model inputs for pairs ab (n, 2): onehot → (n, 2p) float64; tokens → (n, 3) int64 (a, b, p)."""
    if inputs == "onehot":
        X = torch.zeros(ab.shape[0], 2 * p, dtype=torch.float64)
        rows = torch.arange(ab.shape[0])
        X[rows, ab[:, 0]] = 1.0
        X[rows, p + ab[:, 1]] = 1.0
        return X
    if inputs == "tokens":
        eq = torch.full((ab.shape[0], 1), p, dtype=torch.int64)
        return torch.cat([ab.long(), eq], dim=1)
    raise ValueError(f"encode: inputs = {inputs!r}; allowed are onehot, tokens")


def split(n: int, frac_train: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, test indices) of a seeded permutation of range(n); round(frac_train·n) train."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    n_train = round(frac_train * n)
    return perm[:n_train], perm[n_train:]


def _memory(cfg: Any) -> tuple[int, str]:
    t = cfg.task
    return memory_bytes(cfg), (f"task.p = {t.p}: a full-batch run over its {t.p**2} pairs", "reduce task.p (or the model)")


@register_task("modular", ModularTask, memory=lambda cfg: _memory(cfg),
               capabilities=lambda cfg: frozenset({"classes"} | ({"modular_addition"} if cfg.op == "add" else set())))
def build(cfg: ModularTask) -> Dataset:
    """Dataset of (a ∘ b) mod p: X as ``cfg.inputs``, y int64 labels, classes = p."""
    ab = all_pairs(cfg.p, cfg.op)
    y = modular_labels(ab[:, 0], ab[:, 1], cfg.p, cfg.op)
    X = encode(ab, cfg.p, cfg.inputs)
    tr, te = split(ab.shape[0], cfg.frac_train, cfg.split_seed)
    meta = {"p": cfg.p, "op": cfg.op, "inputs": cfg.inputs, "pairs_train": ab[tr], "pairs_test": ab[te]}
    if cfg.inputs == "tokens":
        meta["vocab"] = cfg.p + 1
    y_tr = corrupt_labels(y[tr], cfg.p, cfg.label_noise, cfg.label_noise_seed, meta)
    return Dataset(X[tr], y_tr, X[te], y[te], classes=cfg.p, meta=meta)


def corrupt_labels(y: torch.Tensor, classes: int, xi: float, seed: int, meta: dict[str, Any]) -> torch.Tensor:
    """Labels y (P,) int64 with m = round(ξ·P) of them, chosen by a permutation seeded with ``seed``,
    moved to a different class (y + U{1..classes−1}) mod classes (Doshi et al. 2024). Records
    meta["corrupted"] (the sorted train indices, (m,)) and meta["labels_clean_train"] (y as given)."""
    if xi == 0:
        return y
    gen = torch.Generator().manual_seed(int(seed))
    idx = torch.randperm(y.shape[0], generator=gen)[:round(xi * y.shape[0])].sort().values
    shift = torch.randint(1, classes, (idx.shape[0],), generator=gen)
    out = y.clone()
    out[idx] = torch.remainder(y[idx] + shift, classes)
    meta["corrupted"], meta["labels_clean_train"] = idx, y.clone()
    return out


def memory_bytes(cfg: Any) -> int:
    """Rough peak bytes of a full-batch run on this task (a Config with task.name = modular): per pair
    the outputs f, f₀ and the float64 loss copies (softmax, gradient), plus for the transformer the
    activations autograd keeps (≈ n_ctx·(8·d_model + 2·H·n_ctx) + 3·d_mlp numbers), plus 6 parameter-
    sized buffers (θ, θ₀, gradient, Adam moments, scratch)."""
    t, m = cfg.task, cfg.model
    item = 8 if cfg.train.dtype == "float64" else 4
    n, K = t.p * t.p, t.p
    per_pair = 2 * K * item + 3 * K * 8
    params = 0
    if supports(m, "tokens"):
        d, he, n_ctx = m.d_model, m.n_heads * (m.d_head or m.d_model // m.n_heads), 3
        per_pair += item * (n_ctx * (8 * d + 2 * m.n_heads * n_ctx) + 3 * m.d_mlp)
        params = (t.p + 1 + n_ctx + 1) * d + 4 * d * he + 2 * d * m.d_mlp + m.d_mlp + d * K
    return n * per_pair + 6 * params * item
