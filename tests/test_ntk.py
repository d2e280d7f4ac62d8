"""Empirical NTK: structured (closed form / layer Gram) = torch.func Jacobians = finite differences."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from grokscope.diagnostics.ntk import _committee_ntk, committee_layers, layer_gram, ntk, ntk_blocks
from grokscope.models.committee import Committee

F64 = torch.float64
PHIS = [("quadratic", 2), ("relu", 2), ("tanh", 2), ("hermite", 2), ("hermite", 3)]
READOUTS = [("fixed", "ones"), ("fixed", "normal"), ("trained", "normal")]
ALPHAS = [0.5, 1.0, 3.0]


def _rel(A: torch.Tensor, B: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(A - B) / torch.linalg.vector_norm(B))


def _setup(phi: str, k: int, readouts: str, init: str, N: int = 6, D: int = 4, n: int = 7, seed: int = 0):
    model = Committee(N, D, phi, eps=0.3, k=k, readouts=readouts, readout_init=init)
    g = torch.Generator().manual_seed(seed)
    params = model.init(g)
    X = torch.randn(8 * n, D, generator=g, dtype=F64) / math.sqrt(D)
    if phi == "relu":  # stay away from the kink so finite differences are valid
        X = X[(X @ params["W"].T).abs().min(1).values > 0.05]
    return model, params, X[:n], X[n:2 * n - 2]


def _fd_ntk(model, params, X1, X2, alpha, trainable, h=1e-6):
    """Central finite differences of f̃ = α·apply over every trainable entry: K = J1 J2ᵀ."""
    def jac(X):
        cols = []
        for name in trainable:
            flat = params[name].reshape(-1)
            for p in range(flat.numel()):
                plus = {k: v.clone() for k, v in params.items()}
                minus = {k: v.clone() for k, v in params.items()}
                plus[name].view(-1)[p] += h
                minus[name].view(-1)[p] -= h
                cols.append(alpha * (model.apply(plus, X) - model.apply(minus, X)) / (2 * h))
        return torch.stack(cols, 1)

    return jac(X1) @ jac(X2).T


@pytest.mark.parametrize("phi,k", PHIS)
@pytest.mark.parametrize("readouts,init", READOUTS)
def test_structured_equals_generic_equals_fd(phi, k, readouts, init):
    model, params, X1, X2 = _setup(phi, k, readouts, init)
    for alpha in ALPHAS:
        Ks = ntk(model, params, X1, X2, alpha=alpha, method="structured")
        Kg = ntk(model, params, X1, X2, alpha=alpha, method="generic")
        assert Ks.shape == (X1.shape[0], X2.shape[0]) and Ks.dtype == F64
        assert _rel(Ks, Kg) <= 1e-10
        if alpha == 1.0:
            Kfd = _fd_ntk(model, params, X1, X2, alpha, model.trainable)
            assert _rel(Ks, Kfd) <= 1e-6
    # symmetric block: X2=None equals X2=X1 and is symmetric
    Kss = ntk(model, params, X1, alpha=2.0, method="structured")
    assert torch.allclose(Kss, Kss.T, rtol=0, atol=1e-14 * float(Kss.abs().max()))
    assert _rel(Kss, ntk(model, params, X1, X1, alpha=2.0, method="generic")) <= 1e-10
    assert _rel(Kss, ntk(model, params, X1, alpha=2.0, method="generic")) <= 1e-10


def test_trained_readouts_split_into_W_and_a_parts():
    model, params, X1, X2 = _setup("tanh", 2, "trained", "normal")
    full = ntk(model, params, X1, X2, alpha=1.5)
    W = ntk(model, params, X1, X2, alpha=1.5, trainable=("W",))
    a = ntk(model, params, X1, X2, alpha=1.5, trainable=("a",))
    assert _rel(full, W + a) <= 1e-12
    assert _rel(a, ntk(model, params, X1, X2, alpha=1.5, trainable=("a",), method="generic")) <= 1e-10


@pytest.mark.parametrize("phi", ["quadratic", "hermite"])
@pytest.mark.parametrize("readouts,init", READOUTS)
@pytest.mark.parametrize("N,D", [(3, 8), (12, 5)])
def test_closed_form_equals_gram_form(phi, readouts, init, N, D):
    model, params, X1, X2 = _setup(phi, 2, readouts, init, N=N, D=D)
    for X2_ in (X2, None):
        closed = _committee_ntk(model, params, X1, X2_, 1.7, model.trainable, form="closed")
        gram = _committee_ntk(model, params, X1, X2_, 1.7, model.trainable, form="gram")
        assert _rel(closed, gram) <= 1e-12


def test_closed_form_is_the_paper_formula():
    """a = 1: K = (α²/N)(x·x')[1 + ε w̄·(x + x') + ε² xᵀMx'], w̄ = Σw_i/N, M = Σw_iw_iᵀ/N."""
    model, params, X1, X2 = _setup("quadratic", 2, "fixed", "ones", N=20, D=6)
    alpha, eps, N = 2.5, model.eps, model.N
    W = params["W"]
    wbar, M = W.mean(0), W.T @ W / N
    bracket = 1 + eps * ((X1 @ wbar)[:, None] + (X2 @ wbar)[None, :]) + eps**2 * X1 @ M @ X2.T
    expected = alpha**2 / N * (X1 @ X2.T) * bracket
    assert _rel(ntk(model, params, X1, X2, alpha=alpha), expected) <= 1e-13
    with pytest.raises(ValueError, match="closed form"):
        _committee_ntk(Committee(4, 3, "tanh"), Committee(4, 3, "tanh").init(torch.Generator()), X1[:, :3],
                       None, 1.0, ("W",), form="closed")


@pytest.mark.parametrize("chunk", [1, 3, 5])
def test_chunked_generic_equals_unchunked(chunk):
    model, params, X1, X2 = _setup("tanh", 2, "trained", "normal", n=9)
    for X2_ in (X2, None):
        ref = ntk(model, params, X1, X2_, alpha=0.7, method="generic", chunk=10_000)
        assert _rel(ntk(model, params, X1, X2_, alpha=0.7, method="generic", chunk=chunk), ref) <= 1e-13


def test_centring_does_not_change_the_ntk():
    model, params, X1, X2 = _setup("quadratic", 2, "fixed", "ones")
    p0 = {k: v + 0.1 for k, v in params.items()}  # θ₀ ≠ θ, so f(θ₀) is a non-trivial offset
    alpha = 2.0

    def centred(p, X):  # f̃ = α(f(θ) − f(θ₀)) as one function of θ
        return alpha * (model.apply(p, X) - model.apply(p0, X))

    K = ntk(centred, params, X1, X2, alpha=1.0, trainable=("W",))
    assert _rel(K, ntk(model, params, X1, X2, alpha=alpha)) <= 1e-10


def test_ntk_blocks_match_direct_calls():
    model, params, Xtr, Xte = _setup("tanh", 2, "fixed", "normal")
    blocks = ntk_blocks(model, params, Xtr, Xte, alpha=1.3)
    assert _rel(blocks.train, ntk(model, params, Xtr, alpha=1.3)) <= 1e-13
    assert _rel(blocks.test_train, ntk(model, params, Xte, Xtr, alpha=1.3)) <= 1e-13
    assert _rel(blocks.test, ntk(model, params, Xte, alpha=1.3)) <= 1e-13


class _MLP:
    """f(x) = v·tanh(W1 x + b1)/√h: the layer-Gram protocol (ntk_layers) an MLP would implement."""

    trainable = ("W1", "b1", "v")

    @staticmethod
    def apply(p, X):
        return torch.tanh(X @ p["W1"].T + p["b1"]) @ p["v"] / math.sqrt(p["v"].numel())

    @staticmethod
    def ntk_layers(p, X, trainable):
        s = math.sqrt(p["v"].numel())
        pre = X @ p["W1"].T + p["b1"]
        G1 = (1 - torch.tanh(pre) ** 2) * p["v"] / s
        ones = torch.ones(X.shape[0], 1, dtype=X.dtype)
        return [(X, G1), (ones, G1), (torch.tanh(pre), ones[:, 0] / s)]


def test_layer_gram_protocol_for_an_mlp():
    g = torch.Generator().manual_seed(3)
    p = {"W1": torch.randn(9, 4, generator=g, dtype=F64), "b1": torch.randn(9, generator=g, dtype=F64),
         "v": torch.randn(9, generator=g, dtype=F64)}
    X1, X2 = torch.randn(6, 4, generator=g, dtype=F64), torch.randn(5, 4, generator=g, dtype=F64)
    Ks = ntk(_MLP(), p, X1, X2, alpha=1.2, method="structured")
    assert _rel(Ks, ntk(_MLP(), p, X1, X2, alpha=1.2, method="generic")) <= 1e-10
    assert _rel(Ks, _fd_ntk(_MLP(), p, X1, X2, 1.2, _MLP.trainable)) <= 1e-6


def test_layer_gram_on_committee_layers():
    model, params, X1, _ = _setup("relu", 2, "trained", "normal")
    L = committee_layers(model, params, X1, ("W", "a"), alpha=1.0)
    K = sum((A @ A.T) * (G.reshape(len(A), -1) @ G.reshape(len(A), -1).T) for A, G in L)
    assert _rel(layer_gram(L), K) <= 1e-14


def test_multi_output_trace_and_full():
    g = torch.Generator().manual_seed(5)
    p = {"W": torch.randn(3, 4, generator=g, dtype=F64)}

    def apply(q, X):  # (n, 3) outputs, f_k = tanh(W x)_k
        return torch.tanh(X @ q["W"].T)

    X1, X2 = torch.randn(5, 4, generator=g, dtype=F64), torch.randn(4, 4, generator=g, dtype=F64)
    full = ntk(apply, p, X1, X2, alpha=2.0, outputs="full")
    trace = ntk(apply, p, X1, X2, alpha=2.0)
    assert full.shape == (5, 4, 3, 3) and trace.shape == (5, 4)
    assert _rel(torch.diagonal(full, dim1=-2, dim2=-1).sum(-1), trace) <= 1e-13
    sym = ntk(apply, p, X1, alpha=1.0, outputs="full", chunk=2)
    assert _rel(sym, ntk(apply, p, X1, X1, alpha=1.0, outputs="full")) <= 1e-13
    # f_k depends only on w_k: the off-diagonal output blocks vanish
    assert float(full[..., 0, 1].abs().max()) == 0.0


def test_bad_arguments_raise():
    model, params, X1, _ = _setup("quadratic", 2, "fixed", "ones")
    with pytest.raises(ValueError, match="method"):
        ntk(model, params, X1, alpha=1.0, method="fast")
    with pytest.raises(ValueError, match="structured"):
        ntk(model.apply, params, X1, alpha=1.0, method="structured")
    with pytest.raises(ValueError, match="trainable"):
        ntk(model, params, X1, alpha=1.0, trainable=("V",))


def test_auto_picks_structured_and_agrees_across_sizes():
    for (N, D), phi in itertools.product([(30, 5), (3, 12)], ["quadratic", "relu"]):
        model, params, X1, X2 = _setup(phi, 2, "fixed", "ones", N=N, D=D, n=6)
        assert _rel(ntk(model, params, X1, X2, alpha=1.0),
                    ntk(model, params, X1, X2, alpha=1.0, method="generic")) <= 1e-10


def test_closed_form_from_statistics_equals_weights_path():
    """The reduced engine's NTK (from w̄, M only) equals the NTK computed from the weights."""
    from grokscope.diagnostics.ntk import closed_form_ntk, ntk
    from grokscope.models.committee import Committee
    g = torch.Generator().manual_seed(5)
    m = Committee(N=40, D=6, eps=0.3)
    params = m.init(g)
    X1 = torch.randn(7, 6, generator=g, dtype=torch.float64)
    X2 = torch.randn(5, 6, generator=g, dtype=torch.float64)
    W = params["W"]
    K = closed_form_ntk(W.mean(0), W.T @ W / 40, X1, X2, eps=0.3, alpha=1.7, N=40)
    torch.testing.assert_close(K, ntk(m, params, X1, X2, alpha=1.7, method="generic"), rtol=1e-10, atol=1e-12)
