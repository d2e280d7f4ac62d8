"""Theory modules against slow, obviously-correct references (float64 throughout).

kernel-limit curves vs brute-force function-space GD; t = ∞ vs torch.linalg.solve; closed (w̄, M)
recursion vs GD on the weights; population recursion vs autograd of population_loss and vs Monte
Carlo; wide-limit scalar reduction vs the full recursion; gradient flow vs GD (error ∝ η); Mercer
eigenvalues vs a Monte Carlo estimate of the operator; theory_report on the fig1 preset.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grokscope.config import load_config
from grokscope.config.presets import get_preset
from grokscope.theory import (
    KernelGD,
    committee_kernel_forms,
    committee_ntk,
    dopri5,
    eigenlearning,
    empirical_dynamics,
    flow,
    init_ntk_spectrum,
    iterate,
    loss_fns,
    population_kernel_curve,
    population_moments,
    population_trajectory,
    quadratic_population_moments,
    shifted_target,
    stats_from_weights,
    target_powers,
    wide_population,
)
from grokscope.theory.sufficient import population_loss
from grokscope.theory.targets import QuadraticTarget
from grokscope.views.theory_report import format_theory, theory_report

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _inputs(n: int, D: int, seed: int) -> torch.Tensor:
    return torch.randn(n, D, generator=_gen(seed), dtype=F64) / math.sqrt(D)


def _target(D: int, seed: int, general: bool = True) -> QuadraticTarget:
    g = _gen(seed)
    beta = torch.randn(D, generator=g, dtype=F64)
    if not general:
        return QuadraticTarget(0.0, torch.zeros(D, dtype=F64), torch.outer(beta, beta))
    R = torch.randn(D, D, generator=g, dtype=F64)
    return QuadraticTarget(0.3, 0.4 * torch.randn(D, generator=g, dtype=F64),
                           torch.outer(beta, beta) + 0.2 * (R + R.T), 0.25)


def _values(tg: QuadraticTarget, X: torch.Tensor) -> torch.Tensor:
    return tg.c0 + X @ tg.b + 0.5 * ((X @ tg.B) * X).sum(-1)


def _rel(a, b) -> float:
    a, b = torch.as_tensor(a, dtype=F64), torch.as_tensor(b, dtype=F64)
    return float(((a - b).abs() / b.abs().clamp_min(1e-300)).max())


# -- kernel limit -----------------------------------------------------------------------------
def test_committee_ntk_matches_autograd_jacobian():
    D, N, P, alpha, eps = 5, 4, 7, 1.7, 0.3
    X, W = _inputs(P, D, 5), torch.randn(N, D, generator=_gen(6), dtype=F64)

    def f(W: torch.Tensor) -> torch.Tensor:
        H = X @ W.T
        return alpha * (H + 0.5 * eps * H * H).mean(1)

    J = torch.func.jacrev(f)(W).reshape(P, -1)
    wbar, M = stats_from_weights(W)
    assert _rel(committee_ntk(X, X, eps, alpha**2 / N, wbar, M), J @ J.T) < 1e-12


@pytest.mark.parametrize("frac,centre", [(0.5, True), (0.9, False)])  # 0.9: q < 0 modes (oscillating)
def test_kernel_limit_matches_brute_force_gd(frac, centre):
    D, P, Pt, eps, scale = 6, 24, 30, 0.4, 0.7
    X, Xt = _inputs(P, D, 0), _inputs(Pt, D, 1)
    tg = _target(D, 2)
    y, yt = _values(tg, X), _values(tg, Xt)
    g = _gen(3)
    wbar, R = 0.3 * torch.randn(D, generator=g, dtype=F64), torch.randn(D, D, generator=g, dtype=F64)
    M = torch.eye(D, dtype=F64) + 0.1 * (R + R.T)
    K, Kt = (committee_ntk(A, X, eps, scale, wbar, M) for A in (X, Xt))
    U, S = committee_kernel_forms(X, eps, scale, wbar, M)
    x = _inputs(7, D, 4)  # the forms reproduce the kernel as a function of x
    assert _rel(x @ U.T + 0.5 * torch.einsum("nd,pde,ne->np", x, S, x), committee_ntk(x, X, eps, scale, wbar, M)) < 1e-12
    f0 = ft0 = None
    pop_target = tg
    if not centre:
        u0, S0 = 0.2 * torch.randn(D, generator=g, dtype=F64), 0.1 * M
        f0, ft0 = X @ u0 + 0.5 * ((X @ S0) * X).sum(-1), Xt @ u0 + 0.5 * ((Xt @ S0) * Xt).sum(-1)
        pop_target = shifted_target(tg, 0.0, u0, S0)
    eta = frac * P / float(torch.linalg.eigvalsh(K).max())
    kg = KernelGD(K, y, eta, f0)
    steps = list(range(0, 401, 40))
    G, l, e2 = quadratic_population_moments(U, S, pop_target)
    tr, te, pop = kg.train_loss(steps), kg.test_loss(steps, Kt, yt, ft0), kg.population_loss(steps, G, l, e2)
    f = f0.clone() if f0 is not None else torch.zeros(P, dtype=F64)
    ft = ft0.clone() if ft0 is not None else torch.zeros(Pt, dtype=F64)
    a = torch.zeros(P, dtype=F64)
    ref_tr, ref_te, ref_pop = [], [], []
    for t in range(steps[-1] + 1):
        if t in steps:
            ref_tr.append(float(((f - y) ** 2).mean()))
            ref_te.append(float(((ft - yt) ** 2).mean()))
            u, Sm = (a[:, None] * U).sum(0), (a[:, None, None] * S).sum(0)  # f̃_t − f̃_0 = −Σ a K(·, x_μ)
            ref_pop.append(float(population_loss(0.0, -u, -Sm, pop_target)))
        r = f - y
        ft, f, a = ft - (2 * eta / P) * Kt @ r, f - (2 * eta / P) * K @ r, a + (2 * eta / P) * r
    assert _rel(tr, ref_tr) < 1e-9 and _rel(te, ref_te) < 1e-9 and _rel(pop, ref_pop) < 1e-9


def test_kernel_limit_infinite_time_is_kernel_regression():
    D, P, Pt = 5, 18, 25
    X, Xt = _inputs(P, D, 10), _inputs(Pt, D, 11)
    y, yt = _values(_target(D, 12), X), _values(_target(D, 12), Xt)
    K, Kt = committee_ntk(X, X, 0.6), committee_ntk(Xt, X, 0.6)
    pred = Kt @ torch.linalg.solve(K, y)
    kg = KernelGD(K, y, 0.3)
    assert _rel(kg.test_predictions([math.inf], Kt)[0], pred) < 1e-9
    assert _rel(kg.test_loss([math.inf], Kt, yt), ((pred - yt) ** 2).mean()) < 1e-9
    assert float(kg.train_loss([math.inf])[0]) == 0.0
    assert _rel(kg.test_loss([1e7], Kt, yt), kg.test_loss([math.inf], Kt, yt)) < 1e-9


# -- closed recursion and population GD -------------------------------------------------------
def test_closed_recursion_matches_weight_gd():
    D, P, N, alpha, eps, eta = 5, 30, 9, 1.7, 0.5, 2.0
    X, tg = _inputs(P, D, 20), _target(D, 21)
    y = _values(tg, X) + 0.1 * torch.randn(P, generator=_gen(22), dtype=F64)
    W = torch.randn(N, D, generator=_gen(23), dtype=F64)
    w0, M0 = stats_from_weights(W)
    f0 = (X @ W.T + 0.5 * eps * (X @ W.T) ** 2).mean(1)
    for _ in range(40):
        W = W.detach().requires_grad_(True)
        f = (X @ W.T + 0.5 * eps * (X @ W.T) ** 2).mean(1)
        loss = ((alpha * (f - f0) - y) ** 2).mean()
        (grad,) = torch.autograd.grad(loss, W)
        W = W - eta * grad
    dyn = empirical_dynamics(X, y, alpha, eps, eta, N, w0, M0)
    res = iterate(dyn, 40, loss_fns(dyn, X, y))
    wb, M = stats_from_weights(W.detach())
    assert _rel(res["wbar"], wb) < 1e-10 and _rel(res["M"], M) < 1e-10


@pytest.mark.parametrize("centre", [True, False])
def test_population_recursion_matches_autograd_of_population_loss(centre):
    D, N, alpha, eps, eta = 6, 7, 1.3, 0.4, 4.0
    tg = _target(D, 30)
    W = torch.randn(N, D, generator=_gen(31), dtype=F64)
    w0, M0 = stats_from_weights(W)
    res = population_trajectory(tg, alpha, eps, eta, N, w0, M0, 60, centre=centre, terms=True)
    ref = []
    for _ in range(61):
        W = W.detach().requires_grad_(True)
        wb, M = stats_from_weights(W)
        u, S = (alpha * (wb - w0), alpha * eps * (M - M0)) if centre else (alpha * wb, alpha * eps * M)
        loss = population_loss(0.0, u, S, tg)
        ref.append(float(loss.detach()))
        (grad,) = torch.autograd.grad(loss, W)
        W = W - eta * grad
    assert _rel(res["test_loss_exact"], ref) < 1e-10
    terms = sum(torch.tensor(res[k], dtype=F64) for k in ("variance", "misalignment", "linear", "orthogonal"))
    assert _rel(terms, ref) < 1e-12


def test_population_moments_match_monte_carlo():
    D, n = 4, 2_000_000
    tg = _target(D, 40)
    g = _gen(41)
    u, R = torch.randn(D, generator=g, dtype=F64), torch.randn(D, D, generator=g, dtype=F64)
    S, c = R + R.T, torch.tensor(0.2, dtype=F64)
    s, A = population_moments(tg)(c, u, S)
    X = _inputs(n, D, 42)
    r = c + X @ u + 0.5 * ((X @ S) * X).sum(-1) - _values(tg, X)  # y⊥ averages out (⟂ degree ≤ 2)
    rx = r[:, None] * X
    rxx = (rx[:, :, None] * X[:, None, :]).reshape(n, D * D)
    for exact, samples in ((s, rx), (A.reshape(-1), rxx)):  # every entry within 5 standard errors
        se = samples.std(0) / math.sqrt(n)
        assert float(((exact - samples.mean(0)).abs() / se).max()) < 5


def test_online_large_batch_network_follows_population_recursion():
    D, N, alpha, eps, eta, batch, T = 5, 6, 1.0, 0.5, 3.0, 200_000, 25
    tg = _target(D, 50, general=False)
    W = torch.randn(N, D, generator=_gen(51), dtype=F64)
    w0, M0 = stats_from_weights(W)
    ref = population_trajectory(tg, alpha, eps, eta, N, w0, M0, T)["test_loss_exact"]
    g = _gen(52)
    losses = []
    for _ in range(T + 1):
        wb, M = stats_from_weights(W)
        losses.append(float(population_loss(0.0, alpha * (wb - w0), alpha * eps * (M - M0), tg)))
        X = torch.randn(batch, D, generator=g, dtype=F64) / math.sqrt(D)  # fresh samples every step
        H = X @ W.T
        r = alpha * (X @ (wb - w0) + 0.5 * eps * ((X @ (M - M0)) * X).sum(-1)) - _values(tg, X)
        grad = (2 * alpha / (N * batch)) * ((1 + eps * H) * r[:, None]).T @ X  # ∂/∂w_i of mean r²
        W = W - eta * grad
    assert ref[-1] < 0.5 * ref[0]  # the dynamics moved
    assert _rel(losses, ref) < 0.03


def test_wide_population_reduction_matches_full_recursion():
    D, alpha, eps, eta, N = 7, 0.8, 0.3, 5.0, 1
    B = torch.zeros(D, D, dtype=F64)
    B[0, 0], B[1, 1], B[2, 2] = 9.0, 4.0, 4.0  # groups {0 ×4, 4 ×2, 9 ×1}
    Q, _ = torch.linalg.qr(torch.randn(D, D, generator=_gen(60), dtype=F64))
    tg = QuadraticTarget(0.2, torch.zeros(D, dtype=F64), Q @ B @ Q.T, 0.1)
    for centre in (True, False):
        full = population_trajectory(tg, alpha, eps, eta, N, torch.zeros(D, dtype=F64),
                                     torch.eye(D, dtype=F64), 200, centre=centre)["test_loss_exact"]
        wide = wide_population(tg, alpha, eps, 2 * eta * alpha / N, 200, centre, record=list(range(201)))
        assert wide["groups"][1] == [4, 2, 1]
        assert _rel(wide["loss"], full) < 1e-10


def test_lazy_population_recursion_approaches_population_kernel_curve():
    D, eps, eta0, N = 8, 0.5, 2.0, 1
    tg = _target(D, 70, general=False)
    steps = [0, 2, 5, 10, 20, 40]
    groups = init_ntk_spectrum(D, eps, target=tg)
    kernel = population_kernel_curve(groups, eta0, steps)  # η α²/N = η₀ under the paper rule
    errs = []
    for alpha in (30.0, 300.0):
        res = population_trajectory(tg, alpha, eps, eta0 * N / alpha**2, N, torch.zeros(D, dtype=F64),
                                    torch.eye(D, dtype=F64), steps)
        diff = torch.tensor(res["test_loss_exact"], dtype=F64) - kernel
        errs.append(float(diff.abs().max() / kernel[0]))
    assert errs[1] < 5e-3 and 0.07 < errs[1] / errs[0] < 0.13  # → 0 like 1/α


# -- gradient flow ----------------------------------------------------------------------------
def test_dopri5_linear_system():
    A = torch.tensor([[-1.0, 3.0], [-3.0, -0.2]], dtype=F64)
    y0 = torch.tensor([1.0, -0.5], dtype=F64)
    ts = [0.0, 0.5, 2.0, 7.0]
    Y, stats = dopri5(lambda t, y: A @ y, y0, ts, rtol=1e-10, atol=1e-13)
    ref = torch.stack([torch.linalg.matrix_exp(A * t) @ y0 for t in ts])
    assert float((Y - ref).abs().max()) < 1e-9 and stats["steps"] > 10


def test_flow_matches_gd_with_error_proportional_to_eta():
    D, P, N, alpha, eps = 6, 30, 10, 1.0, 0.3
    X, tg = _inputs(P, D, 80), _target(D, 81, general=False)
    y = _values(tg, X)
    w0, M0 = stats_from_weights(torch.randn(N, D, generator=_gen(82), dtype=F64))
    tau = [0.0, 32.0, 96.0, 320.0]  # η₀·t: the same flow time for every η₀
    errs, ref = [], None
    for eta0 in (0.8, 0.4, 0.2):
        dyn = empirical_dynamics(X, y, alpha, eps, eta0 * N / alpha**2, N, w0, M0)
        L = loss_fns(dyn, X, y, target=tg)
        steps = [round(t / eta0) for t in tau]
        gd = iterate(dyn, steps, L)
        fl = flow(dyn, steps, L, rtol=1e-10, atol=1e-13)
        errs.append(max(_rel(gd[k], fl[k]) for k in ("train_loss", "test_loss_exact")))
        ref = ref or fl["train_loss"]
        assert _rel(fl["train_loss"], ref) < 1e-7  # the flow itself does not depend on η₀ at fixed τ
    assert errs[0] > 1e-4  # visible, so the ratio is meaningful
    assert 1.7 < errs[0] / errs[1] < 2.3 and 1.7 < errs[1] / errs[2] < 2.3


def test_flow_matches_scipy_solve_ivp():
    """The hand-written Dormand–Prince integrator against scipy's (RK45 = the same 5(4) pair, and the
    8th-order DOP853) on the same closed (w̄, M) flow: final states agree to 1e-10 of their scale (measured ~1e-12)."""
    scipy_integrate = pytest.importorskip("scipy.integrate")
    from grokscope.theory.flow import _pack, _unpack
    D, P, N, alpha, eps = 6, 30, 10, 1.0, 0.3
    X, tg = _inputs(P, D, 80), _target(D, 81, general=False)
    y = _values(tg, X)
    w0, M0 = stats_from_weights(torch.randn(N, D, generator=_gen(82), dtype=F64))
    dyn = empirical_dynamics(X, y, alpha, eps, 0.4 * N / alpha**2, N, w0, M0)
    steps = [0.0, 50.0, 400.0, 2000.0]
    fl = flow(dyn, steps, loss_fns(dyn, X, y, target=tg), rtol=1e-10, atol=1e-13)

    def rhs(_t, v):
        dw, dM = dyn.velocity(*_unpack(torch.from_numpy(v), D))
        return _pack(dw, dM).numpy()
    for method in ("RK45", "DOP853"):
        sol = scipy_integrate.solve_ivp(rhs, (0.0, steps[-1]), _pack(w0, M0).numpy(), method=method,
                                        t_eval=steps, rtol=1e-10, atol=1e-13)
        assert sol.success
        w_ref, M_ref = _unpack(torch.from_numpy(sol.y[:, -1]), D)
        scale = float(torch.cat([w_ref, M_ref.reshape(-1)]).abs().max())
        assert float((fl["wbar"] - w_ref).abs().max()) < 1e-10 * scale
        assert float((fl["M"] - M_ref).abs().max()) < 1e-10 * scale


# -- spectrum and report ----------------------------------------------------------------------
def test_mercer_eigenvalues_match_monte_carlo():
    """Nonzero eigenvalues of T g = E_x'[K(·, x') g(x')] = those of the feature covariance E[φφᵀ],
    φ(x) = √κ [x, ε vec(xxᵀ)], since K(x, x') = φ(x)·φ(x'); estimated on 10⁶ samples."""
    D, eps, scale, n = 4, 0.7, 1.5, 1_000_000
    X = _inputs(n, D, 90)
    Phi = math.sqrt(scale) * torch.cat([X, eps * (X[:, :, None] * X[:, None, :]).reshape(n, -1)], 1)
    ev = torch.linalg.eigvalsh(Phi.T @ Phi / n).flip(0)
    groups = init_ntk_spectrum(D, eps, scale)
    expected = []
    for g in groups:
        expected += [g.eigenvalue] * g.multiplicity
    expected = torch.tensor(sorted(expected, reverse=True), dtype=F64)
    k = len(expected)
    assert k == D + D * (D + 1) // 2
    assert _rel(ev[:k], expected) < 0.01 and float(ev[k:].abs().max()) < 1e-12
    tg = _target(D, 91)
    pw = target_powers(tg)
    y = _values(tg, X)
    B0 = tg.B - torch.trace(tg.B) / D * torch.eye(D, dtype=F64)
    assert abs(pw["linear"] + pw["radial"] + pw["traceless"] + pw["null"] - pw["total"]) < 1e-12
    r2 = (X * X).sum(-1)
    assert _rel(pw["radial"], (y * r2).mean() ** 2 / (r2 * r2).mean()) < 0.01
    assert _rel(pw["traceless"], (0.25 * ((X @ B0) * X).sum(-1) ** 2).mean()) < 0.01


def test_eigenlearning_predicts_kernel_regression_floor():
    D, P, eps = 30, 90, 0.1
    exact, pred = [], []
    for seed in range(3):
        X, tg = _inputs(P, D, 100 + seed), _target(D, 200 + seed, general=False)
        a = torch.linalg.solve(committee_ntk(X, X, eps), _values(tg, X))
        U, S = committee_kernel_forms(X, eps)
        exact.append(float(population_loss(0.0, a @ U, torch.einsum("p,pde->de", a, S), tg)))
        pred.append(eigenlearning(init_ntk_spectrum(D, eps, target=tg), P)["test_mse"])
    assert _rel(sum(pred), sum(exact)) < 0.15


def test_theory_report_fig1():
    d = theory_report(load_config(get_preset("fig1")))
    assert d["applicable"]
    assert d["window"]["P_over_D"] == pytest.approx(5.5) and d["window"]["P_over_D2"] == pytest.approx(0.055)
    spec = {g["group"]: g for g in d["spectrum"]}
    assert spec["traceless"]["eigenvalue"] == pytest.approx(2 * 0.02**2 / 100**2 / 500)
    assert d["verdict"]["expected_to_grok"]
    assert d["linearised"]["stable"]
    assert d["feature_learning"]["t_wide_population"] < 100_000
    text = "\n".join(format_theory(d))
    assert "P/D = 5.5" in text and "P/D² = 0.055" in text and "expected to grok" in text


@pytest.mark.parametrize("centre", [True, False])
def test_linearised_curves_match_parameter_space_gd_of_the_lazy_twin(centre):
    from grokscope.models import build_model
    from grokscope.tasks.base import TASKS
    from grokscope.views.theory_report import linearised_curves
    cfg = load_config({"task": {"D": 5, "P": 12, "P_test": 9}, "model": {"N": 4, "eps": 0.4},
                       "scaling": {"alpha": 1.5, "centre": centre}, "optim": {"lr": 0.3},
                       "train": {"steps": 60}})
    data = TASKS["polynomial"](cfg.task)
    W0 = build_model(cfg.model, 5).init(torch.Generator().manual_seed(cfg.model.seed))["W"]
    alpha, eps, N = 1.5, 0.4, 4

    def f(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        H = X @ W.T
        return alpha * (H + 0.5 * eps * H * H).mean(1)

    J, Jt = (torch.func.jacrev(f)(W0, X).reshape(X.shape[0], -1) for X in (data.X_train, data.X_test))
    off = 0.0 if centre else 1.0
    f0, ft0 = off * f(W0, data.X_train), off * f(W0, data.X_test)
    eta = 0.3 * N / alpha**2
    theta = torch.zeros(J.shape[1], dtype=F64)
    steps = [0, 1, 7, 30, 60]
    ref_tr, ref_te = [], []
    for t in range(61):
        r = f0 + J @ theta - data.y_train
        if t in steps:
            ref_tr.append(float((r**2).mean()))
            ref_te.append(float(((ft0 + Jt @ theta - data.y_test) ** 2).mean()))
        theta = theta - eta * (2 / data.P) * J.T @ r
    c = linearised_curves(cfg, steps, data)
    assert _rel(c["train_loss"], ref_tr) < 1e-9 and _rel(c["test_loss"], ref_te) < 1e-9


def test_theory_report_flags_settings_it_does_not_cover():
    cfg = load_config(get_preset("fig1"), {"optim.name": "adam", "task.D": 20, "task.P": 60})
    d = theory_report(cfg)
    assert not d["applicable"] and d["verdict"]["expected_to_grok"] is None
    assert any("adam" in line for line in format_theory(d))


@pytest.mark.parametrize("centre", [True, False])
def test_reduced_engine_equals_the_theory_recursion(centre):
    """Two implementations of one recursion: the engine's factor update (U, M = UUᵀ) and theory's
    dense (w̄, M) map agree to 1e-10 over 300 steps (the engine is the fast path, theory the reference)."""
    from grokscope.engines.reduced import ReducedEngine
    from grokscope.tasks.base import Dataset
    D, P, N, alpha, eps, eta = 6, 40, 11, 1.3, 0.4, 1.5
    X, tg = _inputs(P, D, 30), _target(D, 31)
    y = _values(tg, X)
    W = torch.randn(N, D, generator=_gen(32), dtype=F64)
    data = Dataset(X, y, _inputs(10, D, 33), y[:10])
    eng = ReducedEngine.from_params(W, data, eps=eps, alpha=alpha, eta=eta, centre=centre)
    for _ in range(300):
        eng.step()
    w0, M0 = stats_from_weights(W)
    dyn = empirical_dynamics(X, y, alpha, eps, eta, N, w0, M0, centre=centre)
    res = iterate(dyn, 300, loss_fns(dyn, X, y))
    wb, M = eng.stats()
    assert _rel(wb, res["wbar"]) < 1e-10 and _rel(M, res["M"]) < 1e-10


def test_theory_overlay_on_a_run(tmp_path):
    """`grokscope theory --run` draws the kernel-limit curves over a run; at the run's logged steps
    they equal the run's own linearised twin (same K₀, same η) to 1e-9."""
    from conftest import small_config

    from grokscope.api import run
    from grokscope.cli import main
    from grokscope.store import load_run
    from grokscope.views.theory_overlay import overlay_data
    cfg = small_config(tmp_path, **{"train.engine": "reduced", "probes.names": ["loss", "twin"]})
    r = run(cfg, tmp_path / "r")
    d = overlay_data(r)
    lin = r.metrics.set_index("step")["lin_test_loss"]
    k = dict(zip(d["steps"], d["kernel"]["test_loss"][:-1]))
    for s, v in lin.items():
        assert k[int(s)] == pytest.approx(v, rel=1e-9)
    from grokscope.theory import asymptotic
    from grokscope.views.theory_asymptotic import _theory_args
    a = d["asymptotic"]  # the D → ∞ limit on the run's own steps: the same numbers as asking the theory
    args, eta0, kw = _theory_args(cfg)
    direct = asymptotic.curves(*args, eta0, [int(s) for s in a["step"]], **kw)
    assert set(a["step"]) <= set(d["steps"]) and len(a["step"]) == len(d["steps"])
    for key in ("train_loss", "test_loss"):
        assert np.allclose(a[key], direct[key], rtol=1e-12, atol=0)
    assert main(["theory", "--run", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "figures" / "theory.png").stat().st_size > 10_000
    assert load_run(tmp_path / "r").metrics.equals(r.metrics)  # a view never changes the run
    bad = small_config(tmp_path, **{"model.phi": "tanh", "output.root": str(tmp_path / "b")})
    run(bad, tmp_path / "b")
    assert main(["theory", "--run", str(tmp_path / "b")]) == 2
