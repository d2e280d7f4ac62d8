"""Issue 19 item 4: the analytic-solution init of Fig 10 (``init.interp``), checked against the
network's own forward pass, its validation, and the packaged sweep specs of the remaining figures."""
from __future__ import annotations

import math

import pytest
import torch

from grokscope.config import ConfigError, load_config
from grokscope.config.presets import SMALL, get_preset
from grokscope.models.committee import Committee
from grokscope.numerics.interp_init import analytic_solution
from grokscope.sweep.spec import expand, load_spec
from grokscope.training.build import build

F64 = torch.float64


def _cfg(**over):
    base = get_preset("fig10")
    return load_config(base, {**SMALL["fig10"], "train.progress": False, "output.plots": False, **over})


@pytest.mark.parametrize("N,alpha,eps,n_index", [(2, 1.0, 0.25, 1), (7, 0.5, 0.3, 3), (12, 2.0, 0.02, 2)])
def test_solution_reproduces_the_target_through_the_network(N, alpha, eps, n_index):
    """α f(x; W⋆), evaluated by the committee's forward pass, equals ½Σ_j(β_j·x)² on fresh x (1e-10 rel)."""
    g = torch.Generator().manual_seed(N)
    D = 9
    beta = torch.randn(n_index, D, generator=g, dtype=F64)
    W = analytic_solution(beta.T @ beta, N, alpha, eps)
    X = torch.randn(500, D, generator=g, dtype=F64) / math.sqrt(D)
    y = 0.5 * ((X @ beta.T) ** 2).sum(-1)
    f = alpha * Committee(N, D, eps=eps).apply({"W": W, "a": torch.ones(N, dtype=F64)}, X)
    torch.testing.assert_close(f, y, rtol=1e-10, atol=1e-12)
    assert float(W.sum(0).abs().max()) < 1e-12  # w̄ = 0
    if N % 2:
        assert float(W[-1].abs().max()) == 0.0  # the odd neuron is left at zero


def test_n2_solution_is_the_authors_construction():
    beta = torch.randn(6, generator=torch.Generator().manual_seed(3), dtype=F64)
    W = analytic_solution(torch.outer(beta, beta), 2, 1.0, 0.25)
    torch.testing.assert_close(W, torch.stack([beta, -beta]) / math.sqrt(0.25), rtol=1e-13, atol=1e-13)


def test_interp_mixes_the_draw_and_the_solution():
    b0 = build(_cfg(**{"init.interp": 0.0}))
    b1 = build(_cfg(**{"init.interp": 1.0}))
    bh = build(_cfg(**{"init.interp": 0.3}))
    W_rand, W_star = b0.params0["W"], b1.params0["W"]
    torch.testing.assert_close(bh.params0["W"], 0.3 * W_star + 0.7 * W_rand, rtol=1e-14, atol=1e-14)
    assert float(b1.engine.step()) < 1e-20  # the solution fits the training set exactly
    assert float(b0.engine.step()) > 0.1


def test_interp_is_refused_where_no_solution_exists():
    with pytest.raises(ConfigError, match=r"init\.interp = 0\.5: W⋆ solves the uncentred problem"):
        _cfg(**{"init.interp": 0.5, "scaling.centre": True})
    with pytest.raises(ConfigError, match=r"init\.interp = 0\.5: needs a known target"):
        build(_cfg(**{"init.interp": 0.5, "task.target": "hermite", "task.k": 3}))
    with pytest.raises(ConfigError, match=r"init\.interp = 0\.5: this model does not reach the target"):
        build(_cfg(**{"init.interp": 0.5, "model.readouts": "trained", "model.readout_init": "normal"}))
    with pytest.raises(ConfigError, match=r"init\.interp = 0\.5: model\.N = 3: the target has rank 2"):
        build(_cfg(**{"init.interp": 0.5, "task.target": "multi_index", "task.n_index": 2, "model.N": 3}))
    with pytest.raises(ConfigError, match=r"init\.interp = 1\.5"):
        _cfg(**{"init.interp": 1.5})


def test_packaged_specs_of_the_remaining_figures():
    counts = {"fig3b": (6, 6), "fig10": (24, 12), "fig13c": (2, 2), "fig19": (15, 12), "nanda-frac": (5, 5)}
    for name, (n_full, n_quick) in counts.items():
        full, quick = load_spec(preset=name), load_spec(preset=name, quick=True)
        assert (len(expand(full)), len(expand(quick))) == (n_full, n_quick), name
        assert full.plots, name
    nanda = load_spec(preset="nanda-frac").base
    assert (nanda.task.p, nanda.optim.warmup_steps, nanda.optim.betas, nanda.optim.weight_decay) == \
        (113, 10, (0.9, 0.98), 1.0)
