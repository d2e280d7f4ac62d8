"""General MLP: forward formulas, gradients against finite differences, structured NTK against the
torch.func Jacobian contraction, init laws, config errors, and the network engine on it."""
from __future__ import annotations

import math

import pytest
import torch

from grokscope.config import ConfigError, load_config
from grokscope.diagnostics.ntk import ntk
from grokscope.models.mlp import MLP

F64 = torch.float64
CASES = [
    dict(activation="relu", bias=False, init_kind="kaiming", norm="paper"),
    dict(activation="tanh", bias=True, init_kind="torch_default", norm="none"),
    dict(activation="quadratic", eps=0.3, bias=True, init_kind="lecun", norm="ntk"),
    dict(activation="square", bias=False, init_kind="normal", norm="none", out_scale=0.05),
    dict(activation="linear", bias=True, init_kind="normal", norm="ntk"),
]


def _setup(kw, K=3, seed=0):
    m = MLP(6, (5, 4), K, **kw)
    gen = torch.Generator().manual_seed(seed)
    p = m.init(gen)
    if m.bias:  # non-zero biases so their gradients and NTK terms are exercised
        p = {k: v + 0.1 * torch.randn(v.shape, generator=gen, dtype=F64) if k.startswith("b") else v
             for k, v in p.items()}
    X = torch.randn(7, 6, generator=gen, dtype=F64)
    return m, p, X


def test_paper_forward_formula():
    """norm = paper is the authors' MNIST forward: h = W₀x/√D, W_l relu(h)/√200, f = W_out relu(h)/200."""
    m = MLP(784, (200, 200, 200), 10, activation="relu", init_kind="kaiming", sigma=2.0, norm="paper")
    p = m.init(torch.Generator().manual_seed(0))
    X = torch.rand(5, 784, dtype=F64, generator=torch.Generator().manual_seed(3))
    h = X @ p["W0"].T / math.sqrt(784)
    h = torch.relu(h) @ p["W1"].T / math.sqrt(200)
    h = torch.relu(h) @ p["W2"].T / math.sqrt(200)
    f = torch.relu(h) @ p["W3"].T / 200
    # relative to the output scale: an output near 0 has no relative precision to hold to
    torch.testing.assert_close(m.apply(p, X), f, rtol=1e-13, atol=1e-13 * float(f.abs().max()))


def test_fig2_modular_mlp_expressible():
    """Fig 2: Linear(D,N,no bias) → h² → Linear(N,p,no bias), N(0,1) weights, factor 1/(DN)."""
    D, N, p_ = 46, 100, 23
    cfg = load_config({"model": {"name": "mlp", "hidden": [N], "activation": "square", "bias": False,
                                 "init": "normal", "sigma": 1.0, "norm": "none", "out_scale": 1 / (D * N)}})
    m = MLP.from_config(cfg.model, D, p_)
    params = m.init(torch.Generator().manual_seed(1))
    assert set(params) == {"W0", "W1"} and params["W0"].shape == (N, D) and params["W1"].shape == (p_, N)
    assert abs(float(params["W0"].std()) - 1.0) < 0.05  # N(0, 1) entries, no fan-in factor
    X = torch.rand(4, D, dtype=F64, generator=torch.Generator().manual_seed(4))
    ref = ((X @ params["W0"].T) ** 2) @ params["W1"].T / (D * N)
    torch.testing.assert_close(m.apply(params, X), ref, rtol=1e-13, atol=1e-13 * float(ref.abs().max()))


def test_init_laws():
    gen = torch.Generator().manual_seed(0)
    m = MLP(400, (300,), 2, activation="tanh", bias=True, init_kind="torch_default", sigma=2.0)
    p = m.init(gen)
    assert float(p["W0"].abs().max()) <= 2.0 / math.sqrt(400) and float(p["b1"].abs().max()) <= 2.0 / math.sqrt(300)
    assert abs(float(p["W0"].std()) - 2.0 / math.sqrt(3 * 400)) < 0.01 * 2.0 / math.sqrt(3 * 400) * 5
    k = MLP(400, (300,), 2, init_kind="kaiming", sigma=3.0, bias=True).init(torch.Generator().manual_seed(0))
    assert abs(float(k["W0"].std()) / (3.0 * math.sqrt(2 / 400)) - 1) < 0.02 and float(k["b0"].abs().max()) == 0
    again = m.init(torch.Generator().manual_seed(0))
    assert all(torch.equal(p[n], again[n]) for n in p)


def test_scalar_output_shape():
    m = MLP(3, (4,), None, activation="tanh")
    p = m.init(torch.Generator().manual_seed(0))
    assert m.apply(p, torch.randn(5, 3, dtype=F64)).shape == (5,)


@pytest.mark.parametrize("kw", CASES)
def test_vjp_matches_finite_differences(kw):
    """forward/vjp (autograd) against central differences of Σ v·f, float64, rel. error < 1e-7."""
    m, p, X = _setup(kw)
    v = torch.randn(7, 3, generator=torch.Generator().manual_seed(9), dtype=F64)
    f, cache = m.forward(p, X)
    g = m.vjp(p, X, cache, v)
    h = 1e-6
    for name in m.trainable:
        for idx in [(0,) * p[name].dim(), tuple(s - 1 for s in p[name].shape)]:
            pp = {k: t.clone() for k, t in p.items()}
            pm = {k: t.clone() for k, t in p.items()}
            pp[name][idx] += h
            pm[name][idx] -= h
            fd = float(((m.apply(pp, X) - m.apply(pm, X)) * v).sum()) / (2 * h)
            assert abs(float(g[name][idx]) - fd) <= 1e-7 * max(1.0, abs(fd)), (name, idx)


@pytest.mark.parametrize("kw", CASES)
def test_structured_ntk_matches_jacobian(kw):
    """ntk_layers (output-trace NTK) = α² Σ_k J_k J_kᵀ from torch.func, rel. 1e-12 (observed ~1e-15)."""
    m, p, X = _setup(kw)
    X2 = torch.randn(4, 6, generator=torch.Generator().manual_seed(5), dtype=F64)
    for A, B in ((X, None), (X, X2)):
        s = ntk(m, p, A, B, alpha=1.7, method="structured")
        g = ntk(m, p, A, B, alpha=1.7, method="generic")
        assert float((s - g).abs().max()) <= 1e-12 * float(g.abs().max())


def test_structured_ntk_against_explicit_jacobian():
    """Independent reference: jacrev of the flattened outputs, contracted by hand."""
    from torch.func import jacrev
    m, p, X = _setup(CASES[1], K=2)
    names = m.trainable

    def flat(*ts):
        return m.apply(dict(zip(names, ts)), X).reshape(-1)  # (n·K,)

    J = torch.cat([j.reshape(X.shape[0] * 2, -1) for j in jacrev(flat, argnums=tuple(range(len(names))))(
        *[p[n] for n in names])], dim=1).reshape(X.shape[0], 2, -1)
    ref = torch.einsum("akp,bkp->ab", J, J)
    torch.testing.assert_close(ntk(m, p, X, alpha=1.0), ref, rtol=1e-12, atol=0)
    full = ntk(m, p, X, alpha=1.0, outputs="full")  # routed to the generic path
    torch.testing.assert_close(full, torch.einsum("akp,blp->abkl", J, J), rtol=1e-12, atol=0)


def test_engine_analytic_equals_autograd(tmp_path):
    """The network engine's analytic path (MLP forward/vjp) and its torch.func path agree to 1e-12."""
    from grokscope.training.build import build
    base = {"task": {"name": "teacher", "P": 20, "P_test": 10, "hidden": [8]},
            "model": {"name": "mlp", "hidden": [8], "activation": "tanh", "bias": True,
                      "init": "torch_default", "sigma": 2.0, "seed": 1},
            "scaling": {"alpha": 2.0, "centre": True, "lr_rule": "plain"},
            "optim": {"name": "adamw", "lr": 1e-2, "weight_decay": 0.05},
            "train": {"progress": False, "engine": "network"}, "output": {"root": str(tmp_path)}}
    engines = [build(load_config(base, {"train.grad": g})).engine for g in ("analytic", "autograd")]
    for _ in range(20):
        for e in engines:
            e.step()
    for name, t in engines[0].params.items():
        torch.testing.assert_close(t, engines[1].params[name], rtol=1e-12, atol=1e-14)


def test_config_errors():
    with pytest.raises(ConfigError, match=r"model.hidden = \[4, 0\]: widths must be > 0"):
        load_config({"model": {"name": "mlp", "hidden": [4, 0]}})
    with pytest.raises(ConfigError, match=r"model.activation = 'gelu'"):
        load_config({"model": {"name": "mlp", "activation": "gelu"}})
    with pytest.raises(ConfigError, match=r"model.N: unknown key; allowed here: name, hidden"):
        load_config({"model": {"name": "mlp", "N": 3}})
    with pytest.raises(ConfigError, match=r"optim.batch_size = 10: not allowed with optim.name = gd"):
        load_config({"optim": {"name": "gd", "batch_size": 10}})
