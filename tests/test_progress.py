"""Fourier progress measures on constructed embeddings and logits with known frequencies (float64)."""
import math

import pytest
import torch
import torch.nn.functional as F

from grokscope.diagnostics.progress import (
    embedding_spectrum,
    excluded_logits,
    excluded_loss,
    fourier_basis,
    fourier_norms,
    gini,
    key_frequencies,
    logit_coefficients,
    neuron_frequencies,
    pair_directions,
    pair_grid,
    restricted_logits,
    restricted_loss,
)

TOL = 1e-12


@pytest.mark.parametrize("p", [2, 7, 12, 13])
def test_fourier_basis_is_orthonormal(p):
    Fb, freq, names = fourier_basis(p)
    assert Fb.shape == (p, p) and len(names) == p and freq.shape == (p,)
    assert (Fb @ Fb.T - torch.eye(p, dtype=torch.float64)).abs().max() <= TOL
    x = torch.arange(p, dtype=torch.float64)
    assert torch.allclose(Fb[names.index("cos 1")] if p > 2 else Fb[1], torch.cos(2 * math.pi * x / p)
                          * Fb[1].abs().max(), atol=TOL)


def _embedding(p=13, d=8, seed=0):
    """W_E = c·1 u₀ᵀ + Σ_k A_k (cos(w_k x) u_kᵀ + sin(w_k x) v_kᵀ) and its energy per frequency."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.arange(p, dtype=torch.float64)[:, None]
    amps = {0: 0.3, 2: 1.0, 5: 2.0, 1: 0.05}
    W = torch.zeros(p, d, dtype=torch.float64)
    energy = torch.zeros(p // 2 + 1, dtype=torch.float64)
    for k, A in amps.items():
        u, v = torch.randn(2, d, generator=gen, dtype=torch.float64)
        if k == 0:
            W += A * u
            energy[0] = p * A**2 * u.square().sum()
        else:
            w = 2 * math.pi * k / p
            W += A * (torch.cos(w * x) * u + torch.sin(w * x) * v)
            energy[k] = (p / 2) * A**2 * (u.square().sum() + v.square().sum())  # ‖cos(w_k x)‖² = p/2
    return W, energy


def test_embedding_spectrum_and_key_frequencies():
    W, energy = _embedding()
    frac = embedding_spectrum(W)
    assert frac.shape == (7,)
    assert (frac - energy / energy.sum()).abs().max() <= TOL
    assert abs(energy.sum().item() - W.square().sum().item()) <= TOL * energy.sum().item()  # Parseval
    assert key_frequencies(W, n=2) == [5, 2]
    assert set(key_frequencies(W, threshold=0.05)) == {2, 5}
    assert key_frequencies(W, n=3) == [5, 2, 1]
    norms = fourier_norms(W)
    assert norms.shape == (13,) and abs(norms.square().sum().item() - W.square().sum().item()) <= 1e-10
    with pytest.raises(ValueError, match="exactly one"):
        key_frequencies(W)
    with pytest.raises(ValueError, match="W_E"):
        embedding_spectrum(torch.zeros(3))


def test_gini():
    assert gini(torch.ones(4)) == 0.0
    assert abs(gini(torch.tensor([0.0, 0.0, 0.0, 1.0])) - 0.75) <= TOL
    assert abs(gini(torch.tensor([1.0, 2.0, 3.0])) - 8 / 36) <= TOL
    W, _ = _embedding()
    sparse = gini(embedding_spectrum(W)[1:].sqrt())
    dense = gini(embedding_spectrum(torch.randn(13, 8, dtype=torch.float64,
                                                generator=torch.Generator().manual_seed(3)))[1:].sqrt())
    assert sparse > dense


P = 11
KEY, OTHER = (1, 4), (2,)


def _logits():
    """L[(a,b), c] = Σ_{k∈KEY} A_k cos(w_k(a+b−c)) + Σ_{k∈OTHER} B_k cos(w_k(a+b−c)) + β_c + γ cos(w_3 a)."""
    a, b = pair_grid(P)
    c = torch.arange(P)
    s = ((a + b)[:, None] - c[None, :]).to(torch.float64)
    w = lambda k: 2 * math.pi * k / P
    key = 3.0 * torch.cos(w(1) * s) + 2.0 * torch.cos(w(4) * s)
    other = 1.5 * torch.cos(w(2) * s)
    beta = torch.linspace(-1, 1, P, dtype=torch.float64)[None, :]
    a_only = 0.7 * torch.cos(w(3) * a.to(torch.float64))[:, None].expand(-1, P)
    labels = (a + b) % P
    return key + other + beta + a_only, key, other, beta, a_only, labels


def test_restricted_and_excluded_logits_on_constructed_logits():
    L, key, other, beta, a_only, labels = _logits()
    R = restricted_logits(L, P, KEY)
    assert (R - (key + beta)).abs().max() <= TOL * L.abs().max()
    X = excluded_logits(L, P, KEY)
    assert (X - (other + beta + a_only)).abs().max() <= TOL * L.abs().max()
    mask = torch.arange(P * P) % 3 != 0
    want_r = F.cross_entropy(key + beta, labels).item()
    assert abs(restricted_loss(L, labels, P, KEY) - want_r) <= TOL * want_r
    want_x = F.cross_entropy((other + beta + a_only)[mask], labels[mask]).item()
    assert abs(excluded_loss(L, labels, P, KEY, mask=mask) - want_x) <= TOL * want_x
    # every (a+b−c) term votes for the right class: removing the key ones hurts more than keeping only them
    assert F.cross_entropy(L, labels).item() < restricted_loss(L, labels, P, KEY) < excluded_loss(L, labels, P, KEY)


def test_restricted_logits_equal_least_squares_fit():
    """On arbitrary logits: the projection + bias correction = the least-squares fit of each column on
    [1, cos(w_k(a+b)), sin(w_k(a+b))], a slow independent reference."""
    gen = torch.Generator().manual_seed(5)
    L = torch.randn(P * P, P, generator=gen, dtype=torch.float64)
    a, b = pair_grid(P)
    s = (a + b).to(torch.float64)
    cols = [torch.ones(P * P, dtype=torch.float64)]
    for k in KEY:
        cols += [torch.cos(2 * math.pi * k * s / P), torch.sin(2 * math.pi * k * s / P)]
    A = torch.stack(cols, 1)
    fit = A @ torch.linalg.lstsq(A, L).solution
    assert (restricted_logits(L, P, KEY) - fit).abs().max() <= 1e-10
    U = pair_directions(P, KEY)
    assert U.shape == (P * P, 4) and (U.T @ U - torch.eye(4, dtype=torch.float64)).abs().max() <= TOL


def test_logit_coefficients():
    L = _logits()[0]
    coef = logit_coefficients(L, P)
    norm = math.sqrt(P**3 / 2)  # ‖cos(w_k(a+b−c))‖ over the p³ grid
    want = torch.zeros(P // 2, dtype=torch.float64)
    want[0], want[3], want[1] = 3.0 * norm, 2.0 * norm, 1.5 * norm
    assert (coef - want).abs().max() <= 1e-10 * norm


def test_bad_inputs():
    L = _logits()[0]
    with pytest.raises(ValueError, match="frequency 6"):
        restricted_logits(L, P, [6])
    with pytest.raises(ValueError, match=r"\(p², C\)"):
        excluded_logits(L[:10], P, KEY)


def test_neuron_frequencies_on_constructed_neurons():
    """Neurons built from linear and quadratic terms of one frequency are explained by it exactly."""
    a, b = pair_grid(P)
    af, bf = a.to(torch.float64), b.to(torch.float64)
    w = lambda k: 2 * math.pi * k / P
    cols = [torch.cos(w(2) * af + 0.3) + 0.5 * torch.sin(w(2) * bf) + 2.0 * torch.cos(w(2) * (af + bf)) + 4.0,
            torch.sin(w(5) * af) * torch.cos(w(5) * bf) - 0.2 * torch.cos(w(5) * bf + 1.0),
            torch.cos(w(1) * af) + 0.5 * torch.cos(w(3) * bf),  # two frequencies: 1 explains 4/5
            torch.zeros(P * P, dtype=torch.float64)]
    freq, frac = neuron_frequencies(torch.stack(cols, 1), P)
    assert freq.tolist() == [2, 5, 1, 0]
    assert abs(frac[0].item() - 1) <= TOL and abs(frac[1].item() - 1) <= TOL
    assert abs(frac[2].item() - 0.8) <= TOL and frac[3].item() == 0.0
