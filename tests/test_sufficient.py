"""Closed-form population loss of a quadratic predictor vs Monte Carlo, and its decomposition."""
from __future__ import annotations

import math

import pytest
import torch

from grokscope.config import PolynomialTask
from grokscope.tasks.polynomial import quadratic_target, target_values
from grokscope.theory.sufficient import decomposition, population_loss
from grokscope.theory.targets import QuadraticTarget

F64 = torch.float64
D = 5
N_MC = 2_000_000
TARGETS = [("single_index", 2), ("multi_index", 2), ("hermite", 1), ("hermite", 2),
           ("hermite", 3), ("hermite", 4)]


@pytest.fixture(scope="module")
def X() -> torch.Tensor:
    g = torch.Generator().manual_seed(1234)
    return torch.randn(N_MC, D, generator=g, dtype=F64) / math.sqrt(D)


def _task(name: str, k: int) -> tuple[PolynomialTask, torch.Tensor]:
    cfg = PolynomialTask(D=D, target=name, k=k, n_index=3)
    g = torch.Generator().manual_seed(7)
    shape = (cfg.n_index, D) if name == "multi_index" else (D,)
    return cfg, torch.randn(*shape, generator=g, dtype=F64)


def _random_predictor(seed: int, target: QuadraticTarget, near: bool = False):
    """Random (c, u, S) with S symmetric; ``near``: a perturbation of the target's own (c0, b, B)."""
    g = torch.Generator().manual_seed(seed)
    R = torch.randn(D, D, generator=g, dtype=F64)
    S = 0.5 * (R + R.T)
    c = torch.randn((), generator=g, dtype=F64)
    u = torch.randn(D, generator=g, dtype=F64)
    if near:
        return target.c0 + 0.1 * c, target.b + 0.3 * u, target.B + 0.5 * S
    return c, u, S


def _predict(c, u, S, X):
    return c + X @ u + 0.5 * ((X @ S) * X).sum(-1)


def _mc(c, u, S, X, y):
    r2 = (y - _predict(c, u, S, X)) ** 2
    return r2.mean().item(), (r2.std() / math.sqrt(r2.numel())).item()


@pytest.mark.parametrize("name,k", TARGETS)
def test_population_loss_matches_monte_carlo(X, name, k):
    cfg, beta = _task(name, k)
    target = quadratic_target(cfg, beta)
    y = target_values(cfg, beta, X)  # direct formula, independent of the quadratic form
    for seed, near in [(0, False), (1, False), (2, True), (3, True)]:
        c, u, S = _random_predictor(seed, target, near)
        mc, se = _mc(c, u, S, X, y)
        exact = population_loss(c, u, S, target).item()
        assert abs(exact - mc) < 4 * se, (name, k, seed, exact, mc, se)


def test_wrong_formula_fails_tolerance(X):
    """Dropping the factor 2 in ‖A‖_F²/(2D²), or in E[(xᵀAx)²], is caught by the same MC test."""
    cfg, beta = _task("single_index", 2)
    target = quadratic_target(cfg, beta)
    y = target_values(cfg, beta, X)
    c, u, S = _random_predictor(5, target, near=True)
    mc, se = _mc(c, u, S, X, y)
    d = decomposition(c, u, S, target)
    right = sum(d.values()).item()
    assert abs(right - mc) < 4 * se
    wrong_half = right + d["misalignment"].item()  # ‖A‖²/D² instead of ‖A‖²/(2D²)
    assert abs(wrong_half - mc) > 4 * se
    wrong_lin = right + d["linear"].item()  # 2|u − b|²/D
    assert abs(wrong_lin - mc) > 4 * se


def test_paper_eq6_terms():
    """For c = 0, u = αw̄, S = αεM the terms are exactly eq. 6 of the paper."""
    g = torch.Generator().manual_seed(3)
    Dp, N, alpha, eps = 7, 4, 1.3, 0.25
    W = torch.randn(N, Dp, generator=g, dtype=F64)
    beta = torch.randn(Dp, generator=g, dtype=F64)
    wbar, M = W.mean(0), W.T @ W / N
    target = quadratic_target(PolynomialTask(D=Dp), beta)
    d = decomposition(0.0, alpha * wbar, alpha * eps * M, target)
    var = 0.25 * (beta @ beta / Dp - alpha * eps * torch.trace(M) / Dp) ** 2
    mis = ((alpha * eps * M - torch.outer(beta, beta)) ** 2).sum() / (2 * Dp**2)
    lin = alpha**2 / Dp * (wbar @ wbar)
    torch.testing.assert_close(d["variance"], var, rtol=1e-12, atol=0)
    torch.testing.assert_close(d["misalignment"], mis, rtol=1e-12, atol=0)
    torch.testing.assert_close(d["linear"], lin, rtol=1e-12, atol=0)
    assert d["orthogonal"].item() == 0.0


@pytest.mark.parametrize("name,k", TARGETS)
def test_decomposition_sums_to_loss(name, k):
    cfg, beta = _task(name, k)
    target = quadratic_target(cfg, beta)
    for seed in range(3):
        c, u, S = _random_predictor(seed, target)
        d = decomposition(c, u, S, target)
        assert set(d) == {"variance", "misalignment", "linear", "orthogonal"}
        total = population_loss(c, u, S, target)
        assert abs(sum(d.values()).item() - total.item()) <= 1e-12 * abs(total.item())
        assert all(v.item() >= 0 for v in d.values())
    assert d["orthogonal"].item() == (math.factorial(k) if name == "hermite" and k >= 3 else 0.0)


def test_zero_loss_at_paper_solution():
    cfg, beta = _task("single_index", 2)
    target = quadratic_target(cfg, beta)
    loss = population_loss(0.0, torch.zeros(D, dtype=F64), torch.outer(beta, beta), target)
    assert loss.item() == 0.0


def test_batch_dims_match_loop():
    cfg, beta = _task("hermite", 2)
    target = quadratic_target(cfg, beta)
    cs, us, Ss = [], [], []
    for seed in range(6):
        c, u, S = _random_predictor(seed, target, near=seed % 2 == 0)
        cs.append(torch.as_tensor(c, dtype=F64)), us.append(u), Ss.append(S)
    c = torch.stack(cs).reshape(2, 3)
    u = torch.stack(us).reshape(2, 3, D)
    S = torch.stack(Ss).reshape(2, 3, D, D)
    batched = population_loss(c, u, S, target)
    assert batched.shape == (2, 3)
    loop = torch.stack([population_loss(cs[i], us[i], Ss[i], target) for i in range(6)]).reshape(2, 3)
    torch.testing.assert_close(batched, loop, rtol=1e-14, atol=0)
    d = decomposition(0.0, u, S, target)  # scalar c broadcasts
    assert all(v.shape == (2, 3) for v in d.values())
    # a single shared S with a batch of u broadcasts too
    assert population_loss(0.0, u, Ss[0], target).shape == (2, 3)


def test_shape_mismatch_raises():
    cfg, beta = _task("single_index", 2)
    target = quadratic_target(cfg, beta)
    with pytest.raises(ValueError):
        population_loss(0.0, torch.zeros(D, dtype=F64), torch.zeros(D + 1, D + 1, dtype=F64), target)


@pytest.mark.parametrize("k", [3, 4])
def test_hermite_high_degree_control_variate(X, k):
    """For He_k, k ≥ 3, E[y²] = k! exactly, so MC of k! − 2 y f̃ + f̃² has a much smaller SE than
    MC of (y − f̃)²; it checks E[y f̃] = 0 (orthogonality) and the quadratic terms sharply."""
    cfg, beta = _task("hermite", k)
    target = quadratic_target(cfg, beta)
    y = target_values(cfg, beta, X)
    for seed in range(3):
        c, u, S = _random_predictor(seed, target)
        f = _predict(c, u, S, X)
        g = math.factorial(k) - 2 * y * f + f**2
        mc, se = g.mean().item(), (g.std() / math.sqrt(g.numel())).item()
        d = decomposition(c, u, S, target)
        exact = sum(d.values()).item()
        assert abs(exact - mc) < 4 * se, (k, seed, exact, mc, se)
        assert abs(exact + d["misalignment"].item() - mc) > 4 * se  # factor-2 slip is caught
