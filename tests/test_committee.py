"""Hand-written committee gradients vs autograd vs finite differences; the engine's analytic
path vs its autograd path; the quadratic form vs the network output."""
from __future__ import annotations

import pytest
import torch
from torch.func import grad

from grokscope.models.committee import Committee

PHIS = [("quadratic", 2), ("relu", 2), ("tanh", 2), ("hermite", 2), ("hermite", 3), ("hermite", 4)]


def _setup(phi, k, readouts, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = Committee(N=7, D=5, phi=phi, eps=0.4, k=k, readouts=readouts,
                  readout_init="normal" if readouts == "trained" else "ones", sigma=0.8)
    params = m.init(g)
    X = torch.randn(9, 5, generator=g, dtype=torch.float64) / 5**0.5
    v = torch.randn(9, generator=g, dtype=torch.float64)
    return m, params, X, v


@pytest.mark.parametrize("phi,k", PHIS)
@pytest.mark.parametrize("readouts", ["fixed", "trained"])
def test_vjp_matches_autograd(phi, k, readouts):
    m, params, X, v = _setup(phi, k, readouts)
    f, H = m.forward(params, X)
    ours = m.vjp(params, X, H, v)
    ref = grad(lambda p: (m.apply({**params, **p}, X) * v).sum())({n: params[n] for n in m.trainable})
    for n in m.trainable:
        torch.testing.assert_close(ours[n], ref[n], rtol=1e-12, atol=1e-13)
    assert set(ours) == set(m.trainable)


@pytest.mark.parametrize("phi,k", [p for p in PHIS if p[0] != "relu"])  # relu: kink at 0
def test_vjp_matches_finite_differences(phi, k):
    m, params, X, v = _setup(phi, k, "trained", seed=3)
    f, H = m.forward(params, X)
    ours = m.vjp(params, X, H, v)
    h = 1e-6
    for n in ("W", "a"):
        fd = torch.zeros_like(params[n])
        flat = fd.view(-1)
        for i in range(flat.numel()):
            p_plus = {kk: t.clone() for kk, t in params.items()}
            p_minus = {kk: t.clone() for kk, t in params.items()}
            p_plus[n].view(-1)[i] += h
            p_minus[n].view(-1)[i] -= h
            flat[i] = ((m.apply(p_plus, X) - m.apply(p_minus, X)) * v).sum() / (2 * h)
        torch.testing.assert_close(ours[n], fd, rtol=1e-7, atol=1e-8)


def test_quadratic_forward_matches_direct_sum():
    m, params, X, _ = _setup("quadratic", 2, "fixed")
    H = X @ params["W"].T
    direct = (H + 0.5 * m.eps * H**2).mean(1)
    torch.testing.assert_close(m.apply(params, X), direct, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("phi,k,readouts", [("quadratic", 2, "fixed"), ("quadratic", 2, "trained"),
                                            ("hermite", 2, "fixed")])
def test_quadratic_form_reproduces_output(phi, k, readouts):
    m, params, X, _ = _setup(phi, k, readouts)
    c, u, S = m.quadratic_form(params)
    form = c + X @ u + 0.5 * ((X @ S) * X).sum(1)
    torch.testing.assert_close(form, m.apply(params, X), rtol=1e-12, atol=1e-13)


def test_quadratic_form_absent_for_other_phi():
    m, params, _, _ = _setup("tanh", 2, "fixed")
    assert m.quadratic_form(params) is None


def test_init_scale_and_determinism():
    m = Committee(N=2000, D=10, sigma=0.5)
    p1 = m.init(torch.Generator().manual_seed(1))
    p2 = m.init(torch.Generator().manual_seed(1))
    assert torch.equal(p1["W"], p2["W"])
    assert abs(p1["W"].std().item() - 0.5) < 0.02
    assert torch.equal(p1["a"], torch.ones(2000, dtype=torch.float64))
