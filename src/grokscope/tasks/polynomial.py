"""Polynomial regression on Gaussian inputs (paper §5): x ~ N(0, I/D), β ~ N(0, I).

Targets (He_k = probabilists' Hermite polynomial):
  single_index  y = ½(β·x)²                      B = ββᵀ
  hermite       y = He_k(z), z = v·x, v = √D β/|β|  (z ~ N(0, 1))
                k = 1: b = v;  k = 2: c0 = −1, B = 2vvᵀ;  k ≥ 3: orth_power = k! (no degree ≤ 2 part)
  multi_index   y = Σ_j ½(β_j·x)², β (n_index, D)  B = Σ_j β_jβ_jᵀ
All tensors float64 on CPU; every draw uses its own seeded ``torch.Generator``
(X_train: data_seed, X_test: test_seed, β: beta_seed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from grokscope.config import ConfigError, PolynomialTask
from grokscope.config.arrays import load_array
from grokscope.tasks.base import Dataset, register_task
from grokscope.theory.hermite import hermite_e
from grokscope.theory.targets import QuadraticTarget

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


def gaussian_inputs(n: int, D: int, seed: int) -> torch.Tensor:
    """x ~ N(0, I/D): randn(n, D)/√D from ``torch.Generator`` seeded with ``seed``; shape (n, D)."""
    return torch.randn(n, D, generator=_gen(seed), dtype=F64) / math.sqrt(D)


def _beta_shape(cfg: PolynomialTask) -> tuple[int, ...]:
    return (cfg.n_index, cfg.D) if cfg.target == "multi_index" else (cfg.D,)


def _hermite_direction(beta: torch.Tensor, key: str) -> torch.Tensor:
    """v = √D β/|β|, shape (D,), so that z = v·x ~ N(0, 1) for x ~ N(0, I/D)."""
    norm = torch.linalg.vector_norm(beta)
    if not norm > 0:
        raise ConfigError(f"{key}: β is the zero vector; the hermite target needs |β| > 0")
    return math.sqrt(beta.shape[-1]) * beta / norm


def target_values(cfg: PolynomialTask, beta: torch.Tensor, X: torch.Tensor,
                  key: str = "task.files.beta") -> torch.Tensor:
    """y(X) for the configured target; X (n, D), β (D,) or (n_index, D) → y (n,)."""
    if cfg.target == "single_index":
        return 0.5 * (X @ beta) ** 2
    if cfg.target == "hermite":
        return hermite_e(cfg.k, X @ _hermite_direction(beta, key))
    return 0.5 * ((X @ beta.T) ** 2).sum(-1)


def quadratic_target(cfg: PolynomialTask, beta: torch.Tensor,
                     key: str = "task.files.beta") -> QuadraticTarget:
    """The target as y = c0 + b·x + ½xᵀBx + y⊥ (see module docstring); b (D,), B (D, D)."""
    D = cfg.D
    zero_b = torch.zeros(D, dtype=F64)
    if cfg.target == "single_index":
        return QuadraticTarget(0.0, zero_b, torch.outer(beta, beta))
    if cfg.target == "multi_index":
        return QuadraticTarget(0.0, zero_b, beta.T @ beta)
    v = _hermite_direction(beta, key)
    if cfg.k == 1:
        return QuadraticTarget(0.0, v.clone(), torch.zeros(D, D, dtype=F64))
    if cfg.k == 2:
        return QuadraticTarget(-1.0, zero_b, 2.0 * torch.outer(v, v))
    return QuadraticTarget(0.0, zero_b, torch.zeros(D, D, dtype=F64), float(math.factorial(cfg.k)))


@dataclass(frozen=True)
class FreshSamples:
    """``task.online``: P new inputs x ~ N(0, I/D) and their targets at every call (the same target β);
    ``(generator, dtype, device) → (X (P, D), y (P,))``. The generator is the run's (its state is
    checkpointed with the engine; this object holds no state), so an online run is reproducible and
    resumes bit-exactly."""

    cfg: PolynomialTask
    beta: torch.Tensor

    def __call__(self, generator: torch.Generator, dtype: torch.dtype,
                 device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        X = torch.randn(self.cfg.P, self.cfg.D, generator=generator, dtype=F64) / math.sqrt(self.cfg.D)
        X = X.to(device=device, dtype=dtype)
        return X, target_values(self.cfg, self.beta.to(device=device, dtype=dtype), X)


def _load(cfg: PolynomialTask, name: str) -> torch.Tensor | None:
    path = getattr(cfg.files, name)
    if path is None:
        return None
    shapes = {
        "X_train": ((cfg.P, cfg.D), ("task.P", "task.D")),
        "X_test": ((cfg.P_test, cfg.D), ("task.P_test", "task.D")),
        "y_train": ((cfg.P,), ("task.P",)),
        "y_test": ((cfg.P_test,), ("task.P_test",)),
        "beta": ((cfg.n_index, cfg.D), ("task.n_index", "task.D")) if cfg.target == "multi_index"
        else ((cfg.D,), ("task.D",)),
    }
    shape, names = shapes[name]
    return load_array(path, f"task.files.{name}", shape, names)


def _memory(cfg) -> tuple[int, tuple[str, str]]:
    """X and y of both splits in float64, β, and the D×D target matrix B with its float64 copies (≈ 3)."""
    t = cfg.task
    n, D = t.P + t.P_test, t.D
    need = 8 * (n * (D + 1) + 3 * D * D + D * max(1, t.n_index))
    return need, (f"task.D = {D} with task.P = {t.P}, task.P_test = {t.P_test}:", "reduce task.D, P or P_test")


@register_task("polynomial", PolynomialTask, memory=_memory, capabilities=
               lambda cfg: frozenset({"regression", "scalar_regression"} | ({"quadratic_target"} if cfg.files.beta or not (cfg.files.y_train or cfg.files.y_test) else set())))
def build_polynomial(cfg: PolynomialTask) -> Dataset:
    """Dataset for a polynomial task; arrays named in ``cfg.files`` replace the generated ones.

    Rules for bring-your-own files: a given file overrides the generated array; a y not given is
    computed from the target with β from ``files.beta`` if given, else generated. If a y file is
    given without a β file the exact target is unknown: ``target = None`` (and then both y files
    are required). If a β file is given the exact target is built from it, and y files (if any) are
    assumed consistent with it (not checked).
    """
    files = {n: _load(cfg, n) for n in ("X_train", "X_test", "y_train", "y_test", "beta")}
    y_from_file = files["y_train"] is not None or files["y_test"] is not None
    if y_from_file and files["beta"] is None and (files["y_train"] is None or files["y_test"] is None):
        given, missing = ("y_train", "y_test") if files["y_train"] is not None else ("y_test", "y_train")
        raise ConfigError(
            f"task.files.{missing} = None: required when task.files.{given} is given without "
            f"task.files.beta (the other labels cannot be computed from an unknown target)")

    X_train = files["X_train"] if files["X_train"] is not None else gaussian_inputs(cfg.P, cfg.D, cfg.data_seed)
    X_test = files["X_test"] if files["X_test"] is not None else gaussian_inputs(cfg.P_test, cfg.D, cfg.test_seed)
    beta = files["beta"]
    if beta is None:
        beta = torch.randn(*_beta_shape(cfg), generator=_gen(cfg.beta_seed), dtype=F64)
    y_train = files["y_train"] if files["y_train"] is not None else target_values(cfg, beta, X_train)
    y_test = files["y_test"] if files["y_test"] is not None else target_values(cfg, beta, X_test)

    exact = not (y_from_file and files["beta"] is None)
    target = quadratic_target(cfg, beta) if exact else None
    meta = {
        "target_name": cfg.target,
        "beta": beta if exact else None,
        "from_files": sorted(n for n, t in files.items() if t is not None),
    }
    if cfg.target == "hermite":
        meta["k"] = cfg.k
    if cfg.target == "multi_index":
        meta["n_index"] = cfg.n_index
    if cfg.online:
        meta["online"] = FreshSamples(cfg, beta)
    return Dataset(X_train, y_train, X_test, y_test, target=target, meta=meta)
