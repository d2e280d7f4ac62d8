"""The fig2 preset against the authors' Figure 2 notebook cell (reference notebook-cells.md): the split
is torch's seeded permutation, and the model's forward pass, loss and GD steps equal a small independent
numpy transcription of the cell, for both values of scaling.alpha_convention (float64, 1e-12)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from grokscope.config import ConfigError, dump_config, load_config
from grokscope.config.presets import get_preset
from grokscope.sweep.spec import load_spec
from grokscope.training.build import build

P_MOD, N = 23, 100


def _cell_forward(W: np.ndarray, A: np.ndarray, X: np.ndarray, alpha: float, twice: bool) -> np.ndarray:
    """The cell's SimpleMLP.forward: layer2((layer1 x)²)·scale/(D·N), times the global scale again when
    ``twice`` (the authors' code); ``twice`` False is the paper's α·f as written."""
    D, width = W.shape[1], W.shape[0]
    out = ((X @ W.T) ** 2) @ A.T * alpha / (D * width)
    return out * alpha if twice else out


def _cell_gd(W, A, X, y, alpha: float, twice: bool, steps: int):
    """``steps`` updates of the cell's optimiser: SGD(lr = 100/α²) on nn.MSELoss(f, y)/α², by hand."""
    D, width = W.shape[1], W.shape[0]
    c = alpha * (alpha if twice else 1.0) / (D * width)
    losses = []
    for _ in range(steps):
        h = X @ W.T                                   # (n, N)
        f = (h**2) @ A.T * c                          # (n, p)
        losses.append(((f - y) ** 2).mean())          # the MSE on the outputs (the cell logs it / α²)
        G = 2 * (f - y) / (f.size * alpha**2)         # d(MSE/α²)/df
        gA = c * G.T @ h**2                           # (p, N)
        gW = (c * (G @ A) * 2 * h).T @ X              # (N, D)
        W, A = W - 100 / alpha**2 * gW, A - 100 / alpha**2 * gA
    return W, A, np.array(losses)


def _cfg(alpha: float, convention: str, **extra):
    return load_config(get_preset("fig2"), {"scaling.alpha": alpha, "optim.lr": 100 / alpha**2,
                                            "scaling.alpha_convention": convention, "probes.names": ["loss"],
                                            **extra})


def test_split_is_the_cells_seeded_permutation():
    """torch.manual_seed(1); torch.randperm(529): the first int(0.9·529) = 476 indices train, the rest test."""
    b = build(_cfg(1.0, "paper-code"))
    with torch.random.fork_rng():
        torch.manual_seed(1)
        perm = torch.randperm(P_MOD**2)
    a, c = perm // P_MOD, perm % P_MOD  # the cell's row i is the pair (i // p, i % p)
    X = torch.zeros(P_MOD**2, 2 * P_MOD, dtype=torch.float64)
    X[torch.arange(P_MOD**2), a] = 1
    X[torch.arange(P_MOD**2), P_MOD + c] = 1
    y = torch.nn.functional.one_hot((a + c) % P_MOD, P_MOD).double()
    assert b.data.X_train.shape == (476, 46) and b.data.X_test.shape == (53, 46)
    assert torch.equal(b.data.X_train, X[:476]) and torch.equal(b.data.X_test, X[476:])
    assert torch.equal(b.data.y_train, y[:476]) and torch.equal(b.data.y_test, y[476:])
    if torch.__version__.startswith("2.13"):  # the indices notebook-cells.md records for torch 2.13 on CPU
        assert perm[:5].tolist() == [239, 444, 289, 101, 392]


@pytest.mark.parametrize("convention,twice", [("paper-code", True), ("as-written", False)])
def test_forward_loss_and_steps_equal_the_cell(convention, twice):
    """Forward pass at θ₀ and 5 GD steps (train MSE before each, and the weights after) equal the numpy
    transcription to 1e-12 relative at α = 1.5, where the two conventions differ by the factor α."""
    alpha = 1.5
    b = build(_cfg(alpha, convention))
    eng, d = b.engine, b.data
    W, A = (eng.params[k].numpy().copy() for k in ("W0", "W1"))
    X, y = d.X_train.numpy(), d.y_train.numpy()
    ref = _cell_forward(W, A, X, alpha, twice)
    np.testing.assert_allclose(eng.outputs("train").numpy(), ref, rtol=1e-12, atol=1e-15)
    assert b.eta == pytest.approx(100 / alpha**4, rel=1e-15)  # the cell's η on MSE/α² = η/α² on the MSE
    got = [float(eng.step()) for _ in range(5)]
    W5, A5, want = _cell_gd(W, A, X, y, alpha, twice, 5)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(eng.params["W0"].numpy(), W5, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(eng.params["W1"].numpy(), A5, rtol=1e-12, atol=1e-12)
    other = _cell_forward(W, A, X, alpha, not twice)
    assert np.abs(other - ref).max() > 0.1 * np.abs(ref).max()  # the switch changes the output


def test_preset_settings_and_sweep():
    """fig2 = the cell at α = 1: N(0, 1) weights, 1/(D·N), uncentred, η = 100, 50 000 steps, no weight
    decay; fig2c = α ∈ {0.5, 1, 1.5, 2} with η = 100/α² on MSE/α², 100 000 steps, α twice."""
    cfg = load_config(get_preset("fig2"))
    t, m, sc = cfg.task, cfg.model, cfg.scaling
    assert (t.p, t.op, t.frac_train, t.split_seed, t.inputs) == (23, "add", 0.9, 1, "onehot")
    assert (m.hidden, m.activation, m.bias, m.init, m.sigma, m.norm) == ([100], "square", False, "normal", 1.0, "none")
    assert m.out_scale == pytest.approx(1 / 4600, rel=1e-15) and m.readout_alpha == 1.0
    assert (sc.alpha, sc.centre, sc.alpha_convention) == (1.0, False, "paper-code")
    assert (cfg.optim.name, cfg.optim.weight_decay, cfg.train.steps, cfg.train.loss) == ("gd", 0.0, 50_000, "mse")
    assert build(cfg).eta == 100.0
    spec = load_spec(preset="fig2c")
    z = spec.zip[0]
    assert z["scaling.alpha"] == [0.5, 1, 1.5, 2] and spec.base.scaling.alpha_convention == "paper-code"
    for a, lr in zip(z["scaling.alpha"], z["optim.lr"]):
        assert lr == pytest.approx(100 / a**2, rel=1e-11)
    assert spec.base.train.steps == 100_000 and spec.base.scaling.lr_rule == "inv_alpha2"


def test_switch_is_derived_and_round_trips(tmp_path):
    """model.readout_alpha follows scaling.alpha under paper-code (1 under as-written), survives dump/load
    and replace, and cannot be set by hand; paper-code needs an MLP."""
    cfg = _cfg(2.0, "paper-code")
    assert cfg.model.readout_alpha == 2.0
    assert load_config(cfg.to_dict()) == cfg and "readout_alpha" not in dump_config(cfg)
    assert cfg.replace(**{"scaling.alpha": 0.5}).model.readout_alpha == 0.5
    assert cfg.replace(**{"scaling.alpha_convention": "as-written"}).model.readout_alpha == 1.0
    with pytest.raises(ConfigError, match="model.readout_alpha = 3"):
        load_config(get_preset("fig2"), {"model.readout_alpha": 3})
    with pytest.raises(ConfigError, match="scaling.alpha_convention = 'paper-code'.*committee"):
        load_config(get_preset("fig1"), {"scaling.alpha_convention": "paper-code"})
    with pytest.raises(ConfigError, match="scaling.alpha_convention"):
        load_config(get_preset("fig2"), {"scaling.alpha_convention": "twice"})
