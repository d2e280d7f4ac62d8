"""Fourier IPR of neurons and pruning by it (issue #22 §3), against explicit DFT sums and a per-neuron
loop."""
from __future__ import annotations

import math

import pytest
import torch

from grokscope.diagnostics.ipr import fourier_ipr, ipr, neuron_ipr, periodic_fraction, prune_by_ipr
from grokscope.models.mlp import MLP


def _dft_ipr(u: list[float], r: int = 2) -> float:
    """Σ_k (|ĉ_k|/‖ĉ‖)^{2r} with ĉ_k = Σ_n u_n e^{−2πikn/p}, k = 0..p//2, written out."""
    p = len(u)
    mags = []
    for k in range(p // 2 + 1):
        re = sum(u[n] * math.cos(2 * math.pi * k * n / p) for n in range(p))
        im = -sum(u[n] * math.sin(2 * math.pi * k * n / p) for n in range(p))
        mags.append(re * re + im * im)
    tot = sum(mags)
    return sum((m / tot) ** r for m in mags)


def test_fourier_ipr_against_the_written_out_dft():
    gen = torch.Generator().manual_seed(0)
    for p in (7, 12, 23):
        U = torch.randn(5, p, generator=gen, dtype=torch.float64)
        got = fourier_ipr(U)
        ref = torch.tensor([_dft_ipr(u.tolist()) for u in U], dtype=torch.float64)
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
        torch.testing.assert_close(fourier_ipr(U, r=3), torch.tensor([_dft_ipr(u.tolist(), 3) for u in U],
                                                                       dtype=torch.float64), rtol=1e-12, atol=0)


def test_known_values():
    p = 23
    n = torch.arange(p, dtype=torch.float64)
    pure = torch.cos(2 * math.pi * 5 * n / p + 0.3)
    two = torch.cos(2 * math.pi * 3 * n / p) + torch.sin(2 * math.pi * 7 * n / p)
    assert abs(float(fourier_ipr(pure)) - 1.0) < 1e-13
    assert abs(float(fourier_ipr(two)) - 0.5) < 1e-13
    assert float(ipr(torch.zeros(4))) == 0.0
    assert periodic_fraction(torch.tensor([0.1, 0.5, 0.9, 0.2])) == 0.5


def test_neuron_ipr_reads_the_a_b_and_output_weights():
    p, N = 11, 6
    gen = torch.Generator().manual_seed(1)
    W0, W1 = torch.randn(N, 2 * p, generator=gen, dtype=torch.float64), torch.randn(p, N, generator=gen,
                                                                                    dtype=torch.float64)
    got = neuron_ipr(W0, W1, p)
    ref = [(_dft_ipr(W0[j, :p].tolist()) + _dft_ipr(W0[j, p:].tolist()) + _dft_ipr(W1[:, j].tolist())) / 3
           for j in range(N)]
    torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="W0 \\(N, 2p\\)"):
        neuron_ipr(W0, W1, p + 1)


def test_pruning_removes_exactly_the_chosen_neurons():
    """The pruned net's output is the sum over the kept neurons, computed neuron by neuron."""
    p, N = 7, 10
    m = MLP(2 * p, (N,), p, activation="square", init_kind="normal")
    P = m.init(torch.Generator().manual_seed(2))
    X = torch.rand(5, 2 * p, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    scores = neuron_ipr(P["W0"], P["W1"], p)
    pruned, keep = prune_by_ipr(P, scores, fraction=0.3)
    assert int((~keep).sum()) == 3 and scores[~keep].max() <= scores[keep].min()
    ref = sum(P["W1"][:, j][None, :] * ((X @ P["W0"][j]) ** 2)[:, None] for j in range(N) if keep[j])
    torch.testing.assert_close(m.apply(pruned, X), ref, rtol=1e-12, atol=1e-12)
    assert torch.equal(P["W0"], m.init(torch.Generator().manual_seed(2))["W0"])  # input not modified
    _, keep2 = prune_by_ipr(P, scores, threshold=float(scores.median()))
    assert torch.equal(keep2, scores >= scores.median())
    with pytest.raises(ValueError, match="exactly one"):
        prune_by_ipr(P, scores)


def test_ipr_probe_in_a_run(tmp_path):
    from grokscope.config import load_config
    from grokscope.training.loop import run
    cfg = load_config({
        "task": {"name": "modular", "p": 11, "frac_train": 0.5, "inputs": "onehot"},
        "model": {"name": "mlp", "hidden": [12], "activation": "square", "init": "normal", "sigma": 0.3},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 1e-2}, "train": {"steps": 10, "log_per_decade": 3, "progress": False},
        "probes": {"names": ["loss", "ipr"], "expensive_points": 2}, "output": {"root": str(tmp_path), "plots": False}})
    df = run(cfg).metrics.dropna(subset=["ipr_mean"])
    assert len(df) == 2 and ((df.ipr_mean > 0) & (df.ipr_mean <= 1)).all()
    from grokscope.config import ConfigError
    with pytest.raises(ConfigError, match="probes.names contains 'ipr'"):
        from grokscope.training.build import build
        build(load_config(cfg.to_dict(), {"model.hidden": [4, 4]}))
