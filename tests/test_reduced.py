"""Reduced (w̄, M) engine vs the network it stands for, the paper's §2.2 recursion and the N → ∞ limit.

Tolerances: float64, 1e-10 relative (observed ~1e-14) over 1000 steps in which the weights move by
‖θ − θ₀‖/‖θ₀‖ ≥ 0.3 and the train loss falls by 2–3 decades (never to the rounding floor; the
linear cases, ε = 0 or 1e-3, to the linear model's floor ≈ 0.7 L(0)).
"""
from __future__ import annotations

import math

import pytest
import torch

from grokscope.config import load_config
from grokscope.engines.reduced import ReducedEngine, build_reduced, reduced_exact_for
from grokscope.engines.registry import EngineInputs
from grokscope.numerics.scaling import learning_rate
from grokscope.training.build import build

TOL = 1e-10


def _cfg(alpha=1.0, eps=0.5, N=30, centre=True, opt="gd", lr=0.5, wd=0.0, mom=0.9, **over):
    base = {"task": {"D": 20, "P": 60, "P_test": 100}, "model": {"N": N, "eps": eps},
            "scaling": {"alpha": alpha, "centre": centre},
            "optim": {"name": opt, "lr": lr, "weight_decay": wd, "momentum": mom},
            "train": {"progress": False, "device": "cpu", "dtype": "float64", "engine": "network"}}
    return load_config(base, over)


def _reduced(cfg, b):
    """The reduced engine for ``cfg`` from a build ``b`` (its data, model, θ₀ and η)."""
    return build_reduced(EngineInputs(cfg, b.data, b.model, b.params0, b.loss, b.eta, torch.Generator()))


def _pair(cfg):
    b = build(cfg)
    return b.engine, _reduced(cfg, b)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


CASES = {
    "fig1-like": {"alpha": 1.0, "eps": 0.5, "N": 30, "centre": True, "lr": 0.5},
    "uncentred-small-alpha": {"alpha": 0.5, "eps": 0.3, "N": 30, "centre": False, "lr": 0.5},
    "lazier-alpha": {"alpha": 3.0, "eps": 0.5, "N": 30, "centre": True, "lr": 0.3},
    "uncentred-alpha2": {"alpha": 2.0, "eps": 0.25, "N": 30, "centre": False, "lr": 1.0},
    "N<D+1": {"alpha": 1.0, "eps": 0.5, "N": 12, "centre": True, "lr": 0.5},
    "momentum+wd": {"alpha": 1.0, "eps": 0.5, "N": 30, "centre": True, "opt": "momentum",
                    "lr": 0.05, "wd": 1e-4},
    "momentum-uncentred": {"alpha": 0.7, "eps": 0.4, "N": 25, "centre": False, "opt": "momentum",
                           "lr": 0.05, "mom": 0.8},
    "gd+wd": {"alpha": 1.0, "eps": 0.5, "N": 30, "centre": True, "lr": 0.5, "wd": 2e-4},
    "hermite2-uncentred": {"alpha": 1.0, "eps": 0.3, "N": 30, "centre": False, "lr": 0.5,
                           "model.phi": "hermite", "model.k": 2},
    # the step shifts H's first column by 1/ε (ε ≠ 0) and has its own branch for ε = 0; a (nearly)
    # linear model only reaches the linear part of the target: its loss floor is ≈ 0.7 of L(0)
    "small-eps": {"alpha": 1.0, "eps": 1e-3, "N": 30, "centre": False, "lr": 0.5, "_drop": 0.75},
    "linear-eps0": {"alpha": 1.0, "eps": 0.0, "N": 30, "centre": False, "lr": 0.5, "_drop": 0.75},
    "linear-eps0-momentum": {"alpha": 1.0, "eps": 0.0, "N": 30, "centre": True, "opt": "momentum",
                             "lr": 0.05, "wd": 1e-4, "_drop": 0.75},
}


@pytest.mark.parametrize("case", list(CASES))
def test_reduced_equals_network(case):
    kw = dict(CASES[case])
    drop = kw.pop("_drop", 0.05)
    cfg = _cfg(**kw)
    assert reduced_exact_for(cfg)[0]
    net, red = _pair(cfg)
    first = None
    for _ in range(1000):
        ln, lr = net.step(), red.step()
        first = first if first is not None else float(ln)
        assert abs(float(ln - lr)) <= TOL * abs(float(ln))
    assert float(ln) < drop * first                           # it trained ...
    assert net.param_change() > 0.3                             # ... and the weights really moved
    for split, y in (("train", net.data.y_train), ("test", net.data.y_test)):
        on, orr = net.outputs(split), red.outputs(split)
        assert _rel(orr, on) < TOL
        assert abs(float(((orr - y) ** 2).mean() / ((on - y) ** 2).mean()) - 1) < TOL
    W = net.params["W"]
    wbar, M = red.stats()
    assert _rel(wbar, W.mean(0)) < TOL and _rel(M, W.T @ W / W.shape[0]) < TOL
    for a, b in zip(red.quadratic_form(), net.quadratic_form()):
        assert float((a - b).abs().max()) <= TOL * max(float(b.abs().max()), 1e-300) or torch.equal(a, b)
    assert red.weight_norm() == pytest.approx(net.weight_norm(), rel=TOL)
    assert red.param_change() == pytest.approx(net.param_change(), rel=TOL)


def _paper_step(wbar, M, X, y, f0, alpha, eps, c):
    """Paper §2.2 (GD, λ = 0): r = α(f − f₀) − y; s = Σ r x; A = Σ r xxᵀ; s_a = Σ r(1 + εw̄·x)x;
    w̄' = w̄ − c(s + εAw̄); M' = M − c(G + Gᵀ) + c²(s_a sᵀ + s s_aᵀ − s sᵀ + ε²AMA), G = s w̄ᵀ + εAM."""
    f = X @ wbar + 0.5 * eps * ((X @ M) * X).sum(1)
    r = alpha * (f - f0) - y
    s, A = X.T @ r, X.T @ (r[:, None] * X)
    sa = X.T @ (r * (1 + eps * (X @ wbar)))
    G = torch.outer(s, wbar) + eps * A @ M
    M_new = M - c * (G + G.T) + c * c * (torch.outer(sa, s) + torch.outer(s, sa) - torch.outer(s, s)
                                         + eps**2 * A @ M @ A)
    return wbar - c * (s + eps * A @ wbar), M_new


@pytest.mark.parametrize("centre", [True, False])
def test_matches_paper_recursion(centre):
    """The factor form against the explicit (w̄, M) recursion, started from the same statistics."""
    cfg = _cfg(centre=centre)
    b = build(cfg)
    data, W = b.data, b.engine.params["W"]
    N, P, alpha, eps, eta = W.shape[0], data.P, 1.0, 0.5, b.eta
    wbar, M = W.mean(0), W.T @ W / N
    red = ReducedEngine(data, N=N, eps=eps, alpha=alpha, eta=eta, centre=centre, wbar0=wbar, M0=M)
    X = data.X_train
    f0 = X @ wbar + 0.5 * eps * ((X @ M) * X).sum(1) if centre else torch.zeros_like(data.y_train)
    c = 2 * eta * alpha / (N * P)
    for _ in range(500):
        red.step()
        wbar, M = _paper_step(wbar, M, X, data.y_train, f0, alpha, eps, c)
    wr, Mr = red.stats()
    assert _rel(wr, wbar) < TOL and _rel(Mr, M) < TOL
    assert red.param_change() > 0.3


def test_constructors_agree():
    """from_params (QR factor), (w̄₀, M₀) (Cholesky factor) and a randomly rotated factor ÛQ
    (canonicalised by a Householder reflection) give the same trajectory."""
    cfg = _cfg()
    net, red = _pair(cfg)
    W = net.params["W"]
    N, D = W.shape
    kw = {"N": N, "eps": 0.5, "alpha": 1.0, "eta": red.eta, "centre": True}
    red2 = ReducedEngine(net.data, wbar0=W.mean(0), M0=W.T @ W / N, **kw)
    Q = torch.linalg.qr(torch.randn(D + 1, D + 1, generator=torch.Generator().manual_seed(3),
                                    dtype=torch.float64))[0]
    Uh = torch.linalg.qr(torch.cat([W, torch.ones(N, 1, dtype=W.dtype)], 1) / math.sqrt(N))[1].T
    red3 = ReducedEngine(net.data, factor=-Uh @ Q, **kw)
    assert torch.count_nonzero(red.outputs("train")) == 0 and torch.count_nonzero(red.outputs("test")) == 0
    for _ in range(300):
        la, lb, lc = red.step(), red2.step(), red3.step()
        assert abs(float(la - lb)) <= TOL * abs(float(la)) and abs(float(la - lc)) <= TOL * abs(float(la))
    for e in (red2, red3):
        for a, b in zip(red.stats(), e.stats()):
            assert _rel(a, b) < TOL
        assert e.param_change() == pytest.approx(red.param_change(), rel=TOL)


def test_quadratic_form_matches_outputs():
    for centre in (True, False):
        _, red = _pair(_cfg(alpha=2.5, centre=centre, **{"model.phi": "hermite", "model.k": 2}))
        for _ in range(30):
            red.step()
        c, u, S = red.quadratic_form()
        X = red.data.X_test
        torch.testing.assert_close(c + X @ u + 0.5 * ((X @ S) * X).sum(1), red.outputs("test"),
                                   rtol=1e-11, atol=1e-12)


def test_infinite_width_limit():
    """Networks of growing N (η = η₀N/α²) approach the w̄ = 0, M = I engine: error ~ N^(-1/2)."""
    steps, sizes = 300, (40, 400, 4000)
    cfg = _cfg(alpha=1.0, eps=0.5, N=sizes[0], lr=0.5)
    b = build(cfg)
    inf = _reduced(cfg.replace(**{"model.init": "infinite"}), b)
    assert inf.param_change() == 0.0
    assert inf.weight_norm() == pytest.approx(math.sqrt(sizes[0] * (cfg.task.D + 1)))
    curve_inf = []
    for _ in range(steps):
        curve_inf.append(float(inf.step()))
    M_inf = inf.stats()[1]
    errs = []
    for N in sizes:
        c = cfg.replace(**{"model.N": N})
        assert learning_rate("paper", 0.5, 1.0, N) == build(c).eta
        net = build(c).engine
        curve = [float(net.step()) for _ in range(steps)]
        W = net.params["W"]
        dl = max(abs(a - b) / b for a, b in zip(curve, curve_inf))
        errs.append(max(dl, _rel(W.T @ W / N, M_inf)))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.2 * errs[0]
    assert inf.param_change() > 0.3


@pytest.mark.parametrize("over,ok", [
    ({}, True),
    ({"optim.name": "momentum", "optim.weight_decay": 0.1}, True),
    ({"optim.name": "sgd"}, True),
    ({"model.phi": "hermite", "model.k": 2}, True),
    ({"scaling.centre": False, "model.init_W": None}, True),
    ({"optim.name": "sgd", "optim.batch_size": 8}, False),
    ({"optim.name": "adam"}, False),
    ({"optim.name": "adamw"}, False),
    ({"model.phi": "tanh"}, False),
    ({"model.phi": "relu"}, False),
    ({"model.phi": "hermite", "model.k": 3}, False),
    ({"model.readouts": "trained"}, False),
    ({"model.readout_init": "normal"}, False),
    ({"train.loss": "cross_entropy"}, False),
])
def test_reduced_exact_for(over, ok):
    got, why = reduced_exact_for(_cfg(**over))
    assert got is ok and isinstance(why, str) and why


def test_bad_inputs():
    cfg = _cfg()
    b = build(cfg)
    with pytest.raises(ValueError, match="exact for"):
        ReducedEngine.infinite_width(b.data, N=30, eps=0.5, alpha=1.0, eta=1.0, centre=True,
                                     optimiser="adam")
    with pytest.raises(ValueError, match="not exact.*adam"):
        _reduced(_cfg(opt="adam", **{"model.init": "infinite"}), b)
    with pytest.raises(ValueError, match="positive semi-definite"):
        D = b.data.D
        ReducedEngine(b.data, N=30, eps=0.5, alpha=1.0, eta=1.0, centre=True,
                      wbar0=torch.ones(D, dtype=torch.float64), M0=torch.eye(D, dtype=torch.float64))


def test_ntk_matches_network():
    for centre in (True, False):
        net, red = _pair(_cfg(centre=centre, alpha=1.5))
        for _ in range(200):
            net.step(), red.step()
        X1, X2 = net.data.X_test[:50], net.data.X_train
        assert _rel(red.ntk(X1), net.ntk(X1)) < TOL
        assert _rel(red.ntk(X1, X2), net.ntk(X1, X2)) < TOL


def test_float32_runs_close_to_float64():
    cfg = _cfg()
    _, red64 = _pair(cfg)
    b = build(cfg.replace(**{"train.dtype": "float32"}))
    red32 = _reduced(cfg, b)
    assert red32.U.dtype == torch.float32
    for _ in range(200):
        l64, l32 = red64.step(), red32.step()
    assert abs(float(l32) / float(l64) - 1) < 1e-3


def test_ntk_input_gram_cache_is_invalidated_by_changes():
    """The engine caches X1X2ᵀ for repeated probes; a new tensor or an in-place edit recomputes it."""
    from grokscope.engines.reduced import ReducedEngine
    from grokscope.tasks.base import Dataset
    g = torch.Generator().manual_seed(5)
    X = torch.randn(20, 4, generator=g, dtype=torch.float64)
    data = Dataset(X, torch.randn(20, generator=g, dtype=torch.float64), X[:5].clone(), X[:5, 0].clone())
    eng = ReducedEngine.from_params(torch.randn(7, 4, generator=g, dtype=torch.float64), data,
                                    eps=0.3, alpha=1.0, eta=0.1, centre=True)
    Xt = torch.randn(6, 4, generator=g, dtype=torch.float64)

    def fresh(A):
        G = torch.mm(A, eng.U).mul_(eng.eps)
        G[:, 0] += 1.0
        return (A @ A.T) * (G @ G.T) / eng.N

    assert torch.allclose(eng.ntk(Xt), fresh(Xt), rtol=1e-14, atol=0)
    Xt.mul_(2.0)  # in place: the cached Gram must not be reused
    assert torch.allclose(eng.ntk(Xt), fresh(Xt), rtol=1e-14, atol=0)
    eng.step()
    assert torch.allclose(eng.ntk(Xt), fresh(Xt), rtol=1e-14, atol=0)
