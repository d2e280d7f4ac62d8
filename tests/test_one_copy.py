"""One copy of each piece of mathematics (issue #16, requirement 2): the engines, the ensemble, the
diagnostics and the theory call the same functions of theory/ — checked by patching the shared
function and seeing every caller change, by comparing their outputs, and by the kernel-GD limit past
the stability threshold (where the two former copies disagreed: inf against 0.0)."""
from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch

from grokscope.diagnostics.ntk import ntk
from grokscope.engines.ensemble import EnsembleReduced
from grokscope.engines.linearised import ClosedFormTwin
from grokscope.engines.reduced import ReducedEngine
from grokscope.models.committee import Committee
from grokscope.tasks.base import Dataset
from grokscope.theory import kernel_gd, wm_step
from grokscope.theory import ntk_closed_form as cn
from grokscope.theory.closed import empirical_dynamics, stats_from_weights
from grokscope.theory.kernel_limit import KernelGD, committee_ntk, kernel_regression
from grokscope.theory.spectrum import ModeGroup, population_kernel_curve

F64 = torch.float64
SRC = Path(__file__).resolve().parents[1] / "src" / "grokscope"


def _problem(seed: int = 0, D: int = 6, P: int = 30, N: int = 9):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(P, D, generator=g, dtype=F64) / math.sqrt(D)
    y = (X[:, 0] + X[:, 1] * X[:, 2]) * 2.0
    Xt = torch.randn(11, D, generator=g, dtype=F64) / math.sqrt(D)
    W = torch.randn(N, D, generator=g, dtype=F64)
    return Dataset(X, y, Xt, Xt[:, 0]), W


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


# -- (a) the (w̄, M) map ---------------------------------------------------------------------------
def test_engines_step_with_the_theory_map():
    """ReducedEngine and EnsembleReduced have no step of their own: theory/wm_step's, inherited."""
    assert ReducedEngine.step is wm_step.FactorGD.step
    assert EnsembleReduced.step is wm_step.FactorGDMembers.step
    assert "step" not in vars(ReducedEngine) and "step" not in vars(EnsembleReduced)


def test_factor_single_batched_and_dense_forms_agree():
    """One step, then 100: the single factor kernel, the batched one (E = 2) and the dense map
    Z ← T̂ZT̂ᵀ of ClosedDynamics give the same (w̄, M)."""
    data, W = _problem()
    N, alpha, eps, eta = W.shape[0], 1.3, 0.4, 1.5
    kw = {"eps": eps, "alpha": alpha, "eta": eta, "centre": True}
    single = ReducedEngine.from_params(W, data, **kw)
    members = [ReducedEngine.from_params(W, data, **kw), ReducedEngine.from_params(-W, data, **kw)]
    ens = EnsembleReduced(members)
    w0, M0 = stats_from_weights(W)
    dyn = empirical_dynamics(data.X_train, data.y_train, alpha, eps, eta, N, w0, M0)
    wbar, M = w0, M0
    for t in range(100):
        loss_single, loss_ens = single.step(), ens.step()
        assert abs(float(loss_ens[0]) - float(loss_single)) <= 1e-12 * float(loss_single)
        wbar, M = dyn.step(wbar, M)
        if t in (0, 99):
            for eng in (single, members[0]):
                wb, Me = eng.stats()
                assert _rel(wb, wbar) < 1e-10 and _rel(Me, M) < 1e-10


def test_dense_step_and_flow_share_the_generator(monkeypatch):
    """ClosedDynamics' step and velocity are built from wm_step.generator: patching it moves both."""
    data, W = _problem(1)
    w0, M0 = stats_from_weights(W)
    dyn = empirical_dynamics(data.X_train, data.y_train, 1.0, 0.3, 0.5, W.shape[0], w0, M0)
    w1 = dyn.step(w0 + 0.1, M0)[0]
    v1 = dyn.velocity(w0 + 0.1, M0)[0]
    monkeypatch.setattr(wm_step, "generator", lambda s, A, eps: torch.zeros(s.shape[0] + 1, s.shape[0] + 1,
                                                                             dtype=s.dtype))
    assert torch.equal(dyn.step(w0 + 0.1, M0)[0], w0 + 0.1)             # T̂ = I: nothing moves
    assert float(dyn.velocity(w0 + 0.1, M0)[0].abs().max()) == 0.0
    assert not torch.equal(w1, w0 + 0.1) and float(v1.abs().max()) > 0


# -- (b) the committee NTK -----------------------------------------------------------------------
def test_committee_ntk_one_formula_everywhere(monkeypatch):
    """Network (structured), reduced engine, theory (w̄, M) form: equal values; and all three go
    through theory.ntk_closed_form.hadamard_kernel."""
    data, W = _problem(2, D=5, N=12)
    N, alpha, eps = W.shape[0], 1.7, 0.3
    model = Committee(N=N, D=5, eps=eps)
    params = {"W": W, "a": torch.ones(N, dtype=F64)}
    X1, X2 = data.X_train[:7], data.X_test
    red = ReducedEngine.from_params(W, data, eps=eps, alpha=alpha, eta=1.0, centre=True)
    wbar, M = stats_from_weights(W)
    K_net = ntk(model, params, X1, X2, alpha=alpha, method="structured")
    K_red = red.ntk(X1, X2)
    K_th = committee_ntk(X1, X2, eps, alpha**2 / N, wbar, M)
    K_gen = ntk(model, params, X1, X2, alpha=alpha, method="generic")
    for K in (K_net, K_red, K_th):
        assert _rel(K, K_gen) < 1e-12

    calls = []
    real = cn.hadamard_kernel

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(cn, "hadamard_kernel", spy)
    for fn in (lambda: ntk(model, params, X1, X2, alpha=alpha, method="structured"),
               lambda: red.ntk(X1, X2), lambda: committee_ntk(X1, X2, eps, alpha**2 / N, wbar, M)):
        n = len(calls)
        fn()
        assert len(calls) == n + 1


# -- (c) kernel-GD spectral factors ------------------------------------------------------------------
def _gram(n: int = 12, seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(n, 2 * n, generator=g, dtype=F64)
    K = J @ J.T / n
    y = torch.randn(n, generator=g, dtype=F64)
    Kt = torch.randn(5, 2 * n, generator=g, dtype=F64) @ J.T / n
    return K, Kt, y


def test_twin_and_kernel_limit_share_the_factors(monkeypatch):
    """ClosedFormTwin and KernelGD: the same (q_t, g_t) bit for bit, from kernel_gd.spectral_factors."""
    K, Kt, y = _gram()
    eta = 0.4 * K.shape[0] / float(torch.linalg.eigvalsh(K).max())
    twin, kg = ClosedFormTwin(K, Kt, y, eta), KernelGD(K, y, eta)
    steps = [0, 1, 7, 1000, math.inf]
    q_kg, g_kg = kg._factors(steps)
    for i, t in enumerate(steps):
        q, g = twin.factors(t)
        assert torch.equal(q, q_kg[i]) and torch.equal(g, g_kg[i])
    seen = []
    monkeypatch.setattr(kernel_gd, "spectral_factors", lambda lam, c, t, tol: seen.append(t) or (lam, lam))
    twin.factors(3)
    kg._factors([4])
    population_kernel_curve([ModeGroup("linear", 0.1, 3, 1.0)], 0.5, [5])
    assert seen == [3, 4.0, 5.0]


@pytest.mark.parametrize("frac", [0.5, 1.5, 1.0])
def test_stability_limit_at_infinite_time(frac):
    """t = ∞ with η = frac·(stability limit n/λ_max): stable (q → 0, g → 1/λ) below it; past it the
    top mode diverges, |q_t| = |1 − cλ|^t → ∞, so both implementations say inf (the train loss
    too), as their finite-t factors do at large t; exactly at it q_t = (−1)^t has no limit (nan)."""
    K, Kt, y = _gram()
    n = K.shape[0]
    lam_max = float(torch.linalg.eigvalsh(K).max())
    eta = frac * n / lam_max
    twin, kg = ClosedFormTwin(K, Kt, y, eta), KernelGD(K, y, eta)
    q_tw, g_tw = twin.factors(math.inf)
    q_kg, g_kg = (a[0] for a in kg._factors([math.inf]))
    x = twin.c * twin.lam
    top = x == x.max()
    # only the top mode can be past the limit; x_max = 2·frac up to rounding (frac = 1: either side of 2)
    x_max = float(x.max())
    expected = 0.0 if x_max < 2.0 else (math.nan if x_max == 2.0 else math.inf)
    for q, g in ((q_tw, g_tw), (q_kg, g_kg)):
        assert torch.equal(q[~top], torch.zeros_like(q[~top]))
        assert torch.allclose(g[~top], 1.0 / twin.lam[~top], rtol=1e-15)
        torch.testing.assert_close(q[top], torch.full_like(q[top], expected), equal_nan=True)
    assert torch.equal(q_tw.nan_to_num(7.0), q_kg.nan_to_num(7.0))
    assert torch.equal(g_tw.nan_to_num(7.0), g_kg.nan_to_num(7.0))
    big = twin.factors(10_000)[0][top].abs()
    if frac > 1.0:  # the finite-t factors head where t = ∞ says they end
        assert float(big.min()) == math.inf or float(big.min()) > 1e100
        assert float(twin.train_loss(math.inf)) == math.inf == float(kg.train_loss([math.inf])[0])
    elif frac < 1.0:
        assert float(big.max()) < 1e-100
        pred = kernel_regression(K, y, Kt)  # the t = ∞ limit of any stable η
        torch.testing.assert_close(twin.at_step(math.inf)[1], pred, rtol=1e-9, atol=1e-12)


def test_stability_factors_edge_cases():
    """c = 0 (η = 0) freezes every mode; a live negative eigenvalue diverges monotonically (+inf); the
    marginal mode cλ = 2 oscillates forever (q_t = ±1, g_t ∈ {0, 2/λ}), so t = ∞ is nan."""
    lam = torch.tensor([-1.0, 0.0, 0.5, 1.0], dtype=F64)
    q, g = kernel_gd.spectral_factors(lam, 0.0, math.inf, 1e-12)
    assert q.tolist() == [1.0, 1.0, 1.0, 1.0] and g.tolist() == [0.0, 0.0, 0.0, 0.0]
    q, g = kernel_gd.spectral_factors(lam, 1.0, math.inf, 1e-12)
    assert q.tolist() == [math.inf, 1.0, 0.0, 0.0] and g.tolist() == [math.inf, 0.0, 2.0, 1.0]
    q, g = kernel_gd.spectral_factors(lam, 1.0, 200.0, 1e-12)
    assert float(q[0]) > 1e60 and float(g[0]) > 1e60                 # where t = ∞ says it ends
    q, g = kernel_gd.spectral_factors(lam, 2.0, math.inf, 1e-12)     # cλ = 2 at λ = 1: q_t = (−1)^t
    assert math.isnan(q[3]) and math.isnan(g[3]) and q[2] == 0.0 and g[2] == 2.0
    q_odd, g_odd = kernel_gd.spectral_factors(lam, 2.0, 7.0, 1e-12)
    q_even, g_even = kernel_gd.spectral_factors(lam, 2.0, 8.0, 1e-12)
    assert (q_odd[3], q_even[3], g_odd[3], g_even[3]) == (-1.0, 1.0, 2.0, 0.0)  # no limit


# -- no second copy ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path, calls, defs", [
    ("engines/reduced.py", {"addmm_", "baddbmm_"}, {"step"}),
    ("engines/ensemble.py", {"addmm_", "baddbmm_", "addcmul"}, set()),
    ("engines/linearised.py", {"log1p", "expm1", "pow"}, set()),
    ("theory/kernel_limit.py", {"log1p", "expm1", "pow"}, {"committee_ntk", "committee_kernel_forms"}),
    ("theory/spectrum.py", {"log1p", "pow"}, set()),
    ("theory/closed.py", {"outer"}, set()),
    ("diagnostics/ntk.py", set(), {"_moment_kernel", "closed_form_ntk"}),
])
def test_no_second_copy_of_the_formulas(path, calls, defs):
    """The step's products, the factors' log1p/expm1/pow, T = I − cεA and the ẑ = (1, x) kernel are
    written only in theory/wm_step.py, theory/kernel_gd.py and theory/ntk_closed_form.py."""
    tree = ast.parse((SRC / path).read_text())
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert not (used & calls), f"{path} calls {used & calls}"
    assert not (defined & defs), f"{path} defines {defined & defs}"
