"""The rate RNN of Liu et al. 2024 (models/rnn.py): the recurrence against a plain loop of the paper's
formula, gradients against central finite differences, torch.func (grad, vmap over members), the
registration and its config checks, and BPTT training through the trainer."""
from __future__ import annotations

import math

import pytest
import torch

from grokscope.config import ConfigError, load_config
from grokscope.models import supports
from grokscope.models.rnn import RNN


def _net(**kw):
    base = dict(n_in=3, T=5, N=7, K=3, tau=100.0, dt=100.0, activation="relu", bias=False)
    base.update(kw)
    return RNN(**base)


def _X(n, m, seed=1):
    return torch.randn(n, m.T * m.n_in, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _loop_reference(m, p, X):
    """h_{t+1} = (1 − a)h_t + a(W_rec φ(h_t) + W_in u_t + b), y_t = W_out φ(h_{t+1}) + b_out, one trial
    and one unit at a time (scalar Python arithmetic)."""
    a, phi = m.dt / m.tau, (lambda v: max(v, 0.0)) if m.activation == "relu" else math.tanh
    W_in, W, W_out = (p[k].tolist() for k in ("W_in", "W_rec", "W_out"))
    b, bo = (p["b_rec"].tolist(), p["b_out"].tolist()) if m.bias else ([0.0] * m.N, [0.0] * m.K)
    out = []
    for x in X.tolist():
        h, ys = [0.0] * m.N, []
        for t in range(m.T):
            u = x[t * m.n_in:(t + 1) * m.n_in]
            r = [phi(v) for v in h]
            h = [(1 - a) * h[i] + a * (sum(W[i][j] * r[j] for j in range(m.N))
                                       + sum(W_in[i][j] * u[j] for j in range(m.n_in)) + b[i]) for i in range(m.N)]
            r = [phi(v) for v in h]
            ys.append([sum(W_out[k][i] * r[i] for i in range(m.N)) + bo[k] for k in range(m.K)])
        out.append(ys)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("act, dt, bias", [("relu", 100.0, False), ("tanh", 25.0, True)])
def test_recurrence_matches_the_formula_loop(act, dt, bias):
    m = _net(activation=act, dt=dt, bias=bias)
    p = m.init(torch.Generator().manual_seed(0))
    if bias:
        p["b_rec"], p["b_out"] = 0.1 * torch.randn(m.N, dtype=torch.float64), 0.2 * torch.ones(m.K, dtype=torch.float64)
    X = _X(4, m)
    ref = _loop_reference(m, p, X)
    y = m.apply_sequence(p, X)
    assert y.shape == (4, m.T, m.K)
    assert (y - ref).abs().max() <= 1e-12 * ref.abs().max()
    assert torch.equal(m.apply(p, X), y[:, -1])
    assert torch.equal(m.representation(p, X), m.states(p, X)[:, -1])


def test_init_is_the_papers():
    """W_rec = 1.25·N(0,1)/√N: Frobenius norm² ≈ 1.25²·N; W_in, W_out uniform in ±1/√fan_in; no biases."""
    m = RNN(n_in=3, T=8, N=300, K=3)
    p = m.init(torch.Generator().manual_seed(0))
    assert set(p) == {"W_in", "W_rec", "W_out"} and m.trainable == ("W_in", "W_rec", "W_out")
    assert abs(p["W_rec"].pow(2).sum().item() / (1.25**2 * 300) - 1) < 0.02  # 90 000 draws: sd 0.5 %
    assert p["W_in"].abs().max() <= 1 / math.sqrt(3) and p["W_out"].abs().max() <= 1 / math.sqrt(300)
    again = m.init(torch.Generator().manual_seed(0))
    assert all(torch.equal(p[k], again[k]) for k in p)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_gradients_match_finite_differences(act):
    """∇ of the cross-entropy of the decision logits w.r.t. every parameter (autograd, as the trainer uses)
    against central differences, step 1e-6, float64: relative error ≤ 1e-6."""
    m = _net(activation=act, bias=True, dt=50.0)
    p = m.init(torch.Generator().manual_seed(2))
    p = {k: v + 0.05 * torch.randn(v.shape, generator=torch.Generator().manual_seed(3), dtype=v.dtype)
         for k, v in p.items()}
    X, y = _X(6, m), torch.tensor([0, 1, 2, 1, 0, 2])

    def loss(q):
        return torch.nn.functional.cross_entropy(m.apply(q, X), y)

    grads = torch.func.grad(loss)(p)
    h = 1e-6
    for k, v in p.items():
        fd = torch.empty_like(v).reshape(-1)
        for i in range(v.numel()):
            e = torch.zeros(v.numel(), dtype=v.dtype)
            e[i] = h
            fd[i] = (loss({**p, k: v + e.reshape(v.shape)}) - loss({**p, k: v - e.reshape(v.shape)})) / (2 * h)
        fd = fd.reshape(v.shape)
        assert (grads[k] - fd).abs().max() <= 1e-6 * max(fd.abs().max().item(), 1e-3), k


def test_vmap_over_members_equals_a_loop():
    """An ensemble over seeds/inits: params stacked on a leading member axis, one vmapped apply."""
    m = _net()
    members = [m.init(torch.Generator().manual_seed(s)) for s in range(3)]
    stacked = {k: torch.stack([p[k] for p in members]) for k in members[0]}
    X = _X(5, m)
    batched = torch.func.vmap(m.apply, in_dims=(0, None))(stacked, X)
    for e, p in enumerate(members):
        assert torch.allclose(batched[e], m.apply(p, X), rtol=0, atol=1e-13)


def test_registration_and_config_checks():
    cfg = load_config({"model": {"name": "rnn", "N": 20}, "task": {"name": "seq_digits"}})
    assert supports(cfg.model, "ntk") and supports(cfg.model, "width") and supports(cfg.model, "batched")
    assert (cfg.model.tau, cfg.model.dt, cfg.model.activation, cfg.model.bias) == (100.0, 100.0, "relu", False)
    with pytest.raises(ConfigError, match=r"model.dt = 200.0: must be ≤ model.tau"):
        load_config({"model": {"name": "rnn", "dt": 200}})
    with pytest.raises(ConfigError, match=r"model.activation"):
        load_config({"model": {"name": "rnn", "activation": "square"}})
    from grokscope.training.build import build
    with pytest.raises(ConfigError, match="needs a sequence task"):
        build(load_config({"model": {"name": "rnn", "N": 4}, "task": {"name": "images", "n_train": 10, "n_test": 5},
                           "train": {"loss": "cross_entropy"}}))


def test_bptt_training_reduces_the_loss(tmp_path):
    """The trainer's network engine (autograd BPTT) with SGD momentum on row-by-row digits."""
    from grokscope.api import run
    cfg = load_config({"task": {"name": "seq_digits", "n_train": 256, "n_test": 64},
                       "model": {"name": "rnn", "N": 32},
                       "scaling": {"centre": False, "lr_rule": "plain"},
                       "optim": {"name": "momentum", "lr": 0.05, "momentum": 0.9, "batch_size": 32},
                       "train": {"steps": 150, "loss": "cross_entropy", "progress": False, "log_per_decade": 5},
                       "probes": {"names": ["loss", "accuracy"]},
                       "output": {"root": str(tmp_path), "plots": False}})
    m = run(cfg, tmp_path / "r", quiet=True).metrics
    assert m["train_loss"].iloc[-1] < 0.6 * m["train_loss"].iloc[0]
    assert m["test_acc"].iloc[-1] > 0.5  # chance is 0.1
