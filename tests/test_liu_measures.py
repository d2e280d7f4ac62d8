"""Liu et al. 2024's laziness measures (diagnostics/liu_measures.py, training/probe_liu.py) against
brute-force references, and init.recurrent (numerics/initialise.py) with its config-time checks."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from grokscope.config import ConfigError, load_config
from grokscope.config.core import Recurrent
from grokscope.diagnostics import liu_measures as lm
from grokscope.models.mlp import MLP
from grokscope.models.rnn import RNN
from grokscope.numerics.initialise import apply_recurrent, effective_rank, low_rank

TOL = 1e-12  # float64, relative to the largest entry
SHIPPED = Path(__file__).parents[1] / "src" / "grokscope" / "data" / "cortical_w_rec_300.npz"


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _loop_kernel(f, params, name, X):
    """The authors' way: one autograd call per output f_{b,o}, J stacked, K = J Jᵀ."""
    W = params[name].clone().requires_grad_(True)
    y = f({**params, name: W}, X).reshape(-1)
    J = torch.stack([torch.autograd.grad(y[i], W, retain_graph=True)[0].reshape(-1) for i in range(y.numel())])
    return J @ J.T


@pytest.mark.parametrize("act, dt", [("relu", 100.0), ("tanh", 30.0)])
def test_tangent_kernel_of_w_rec_matches_per_output_autograd(act, dt):
    m = RNN(n_in=3, T=4, N=9, K=3, dt=dt, activation=act, bias=True)
    p = m.init(_g(0))
    p["b_rec"] = 0.1 * torch.randn(9, generator=_g(1), dtype=torch.float64)
    X = torch.randn(5, 12, generator=_g(2), dtype=torch.float64)
    ref = _loop_kernel(m.tangent_outputs, p, "W_rec", X)  # rows (trial, step, class): 5·4·3 = 60
    for method in ("structured", "generic"):
        K = lm.tangent_kernel(m, p, "W_rec", X, method=method)
        assert K.shape == (60, 60)
        assert (K - ref).abs().max() <= TOL * ref.abs().max(), method
    K_in = lm.tangent_kernel(m, p, "W_in", X)  # any named parameter: the generic path
    assert (K_in - _loop_kernel(m.tangent_outputs, p, "W_in", X)).abs().max() <= TOL * K_in.abs().max()


def test_tangent_kernel_of_an_mlp_layer_matches_per_output_autograd():
    m = MLP(6, (8, 8), 4, activation="relu", init_kind="lecun", sigma=1.25)
    p = m.init(_g(3))
    X = torch.randn(7, 6, generator=_g(4), dtype=torch.float64)
    K = lm.tangent_kernel(m, p, "W1", X)
    ref = _loop_kernel(m.apply, p, "W1", X)
    assert K.shape == (28, 28) and (K - ref).abs().max() <= TOL * ref.abs().max()


def test_alignments_weight_change_sign_and_rank_against_brute_force():
    gen = np.random.default_rng(0)
    K0, K1 = gen.normal(size=(6, 6)), gen.normal(size=(6, 6))
    num = sum(K0[i, j] * K1[i, j] for i in range(6) for j in range(6))
    den = math.sqrt(sum(v * v for v in K0.flat)) * math.sqrt(sum(v * v for v in K1.flat))
    assert lm.alignment(torch.tensor(K0), torch.tensor(K1)) == pytest.approx(num / den, rel=TOL)
    H0, H1 = gen.normal(size=(10, 4)), gen.normal(size=(10, 4))
    ra = lm.alignment(torch.tensor(H0 @ H0.T), torch.tensor(H1 @ H1.T))
    assert lm.representation_alignment(torch.tensor(H0), torch.tensor(H1)) == pytest.approx(ra, rel=TOL)
    assert lm.representation_alignment(torch.tensor(H0), torch.tensor(3 * H0)) == pytest.approx(1, rel=TOL)
    W0, W = torch.tensor(K0), torch.tensor(K1)
    assert lm.weight_change(W, W0) == pytest.approx(math.sqrt(((K1 - K0) ** 2).sum()), rel=TOL)
    same = sum(np.sign(a) == np.sign(b) for a, b in zip(H0.flat, H1.flat)) / H0.size
    assert lm.sign_similarity(torch.tensor(H0), torch.tensor(H1)) == pytest.approx(same, rel=TOL)
    s = np.linalg.svd(K0, compute_uv=False)
    q = s / s.sum()
    assert lm.effective_rank(W0) == pytest.approx(math.exp(-sum(v * math.log(v) for v in q)), rel=1e-12)
    assert effective_rank(torch.tensor([2.0, 2.0, 2.0, 0.0])) == pytest.approx(3, rel=TOL)
    U, _, Vt = np.linalg.svd(K0)
    assert lm.effective_rank(torch.tensor(U[:, :1] @ Vt[:1])) == pytest.approx(1, abs=1e-6)


def test_representation_is_the_decision_step_or_the_last_hidden_layer():
    m = RNN(n_in=2, T=3, N=5, K=2)
    p, X = m.init(_g(5)), torch.randn(4, 6, generator=_g(6), dtype=torch.float64)
    assert torch.equal(lm.representation(m, p, X), m.states(p, X)[:, -1])
    mlp = MLP(4, (6, 5), 3, activation="relu")
    q, Z = mlp.init(_g(7)), torch.randn(4, 4, generator=_g(8), dtype=torch.float64)
    h1 = torch.relu(Z @ q["W0"].T)
    assert torch.allclose(lm.representation(mlp, q, Z), torch.relu(h1 @ q["W1"].T), rtol=0, atol=1e-14)


# -- init.recurrent ---------------------------------------------------------------------------------
def _params(N=40, n_in=3, K=3):
    m = RNN(n_in=n_in, T=2, N=N, K=K)
    return m, m.init(_g(9))


def test_gaussian_and_lowrank_recurrent_init():
    m, p = _params()
    full = apply_recurrent(p, Recurrent(kind="gaussian"), m.trainable, seed=4)["W_rec"]
    ref = 1.25 * torch.randn(40, 40, generator=_g(4), dtype=torch.float64) / math.sqrt(40)
    assert torch.equal(full, ref)
    for r in (1, 7, 40):
        W = apply_recurrent(p, Recurrent(kind="lowrank", rank=r), m.trainable, seed=4)["W_rec"]
        assert torch.linalg.matrix_rank(W).item() == r
        assert torch.allclose(W, low_rank(ref, r), rtol=0, atol=1e-14)
        assert W.norm().item() == pytest.approx(ref.norm().item(), rel=TOL)


def test_spectrum_and_effective_rank_recurrent_init():
    m, p = _params()
    W = apply_recurrent(p, Recurrent(kind="spectrum", decay=1.5), m.trainable, seed=0)["W_rec"]
    s = torch.linalg.svdvals(W)
    assert torch.allclose(s / s[0], torch.arange(1, 41, dtype=torch.float64) ** -1.5, rtol=1e-10, atol=0)
    for target in (2.5, 12.0, 39.0):
        W = apply_recurrent(p, Recurrent(kind="spectrum", effective_rank=target), m.trainable, seed=0)["W_rec"]
        assert lm.effective_rank(W) == pytest.approx(target, rel=1e-9)
        g = apply_recurrent(p, Recurrent(kind="gaussian"), m.trainable, seed=0)["W_rec"]
        assert W.norm().item() == pytest.approx(g.norm().item(), rel=TOL)


def test_aligned_recurrent_init_reads_inputs_and_writes_outputs():
    """Rank r: the row space of W contains span(W_in's columns), its column space span(W_out's rows)."""
    m, p = _params()
    W = apply_recurrent(p, Recurrent(kind="aligned", rank=5), m.trainable, seed=1)["W_rec"]
    assert torch.linalg.matrix_rank(W).item() == 5
    U, _, Vh = torch.linalg.svd(W)
    V5, U5 = Vh[:5].T, U[:, :5]
    for D, B in ((p["W_in"], V5), (p["W_out"].T, U5)):
        resid = D - B @ (B.T @ D)
        assert resid.norm() <= 1e-12 * D.norm()
    W1 = apply_recurrent(p, Recurrent(kind="aligned", rank=1), m.trainable, seed=1)["W_rec"]
    u_in = torch.linalg.svd(p["W_in"])[0][:, 0]  # rank 1: the top input direction
    assert abs(abs(torch.linalg.svd(W1)[2][0] @ u_in) - 1) < 1e-12


def test_file_recurrent_init_and_the_shipped_cortical_model(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("cc", SHIPPED.with_name("cortical_connectivity.py"))
    cc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cc)
    W = np.load(SHIPPED)["W"]
    # the generator reproduces the shipped draw (to summation-order rounding of the norm)
    np.testing.assert_allclose(W, cc.cortical_matrix(), rtol=0, atol=1e-14 * np.abs(W).max())
    n_e = 240
    assert (W[:, :n_e] >= 0).all() and (W[:, n_e:] <= 0).all() and (np.diag(W) == 0).all()  # Dale, no autapses
    assert 0.15 < np.mean(W != 0) < 0.25 and np.linalg.norm(W) == pytest.approx(1.25 * math.sqrt(300), rel=TOL)
    m, p = _params(N=300)
    got = apply_recurrent(p, Recurrent(kind="file", path=str(SHIPPED)), m.trainable, seed=0)["W_rec"]
    assert torch.equal(got, torch.from_numpy(W))
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((4, 4), np.nan))
    with pytest.raises(ConfigError, match=r"init.recurrent.path = .*non-finite"):
        load_config({"init": {"recurrent": {"kind": "file", "path": str(bad)}}})
    np.save(bad, np.ones((4, 4)))
    with pytest.raises(ConfigError, match=r"init.recurrent.path = .*shape \(4, 4\).*model.N"):
        load_config({"model": {"name": "rnn", "N": 5}, "init": {"recurrent": {"kind": "file", "path": str(bad)}}})


def test_recurrent_init_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"init.recurrent.rank = 400: larger than W_rec .*allowed: 1..300"):
        load_config({"model": {"name": "rnn"}, "init": {"recurrent": {"kind": "lowrank", "rank": 400}}})
    with pytest.raises(ConfigError, match=r"init.recurrent.rank = None: required"):
        load_config({"init": {"recurrent": {"kind": "aligned"}}})
    m, p = _params()
    with pytest.raises(ConfigError, match=r"init.recurrent.param = 'W9'.*allowed: W_in, W_rec, W_out"):
        apply_recurrent(p, Recurrent(kind="gaussian", param="W9"), m.trainable, seed=0)
    with pytest.raises(ConfigError, match=r"init.recurrent.rank = 3: larger than min\(shape\) = 2"):
        apply_recurrent({"W": torch.ones(5, 2)}, Recurrent(kind="lowrank", rank=3, param="W"), ("W",), seed=0)


# -- the probes ------------------------------------------------------------------------------------
def _built(**over):
    from grokscope.training.build import build
    base = {"task": {"name": "seq_digits", "n_train": 64, "n_test": 40},
            "model": {"name": "rnn", "N": 12},
            "scaling": {"centre": False, "lr_rule": "plain"},
            "optim": {"name": "momentum", "lr": 0.05, "batch_size": 16},
            "train": {"steps": 5, "loss": "cross_entropy", "progress": False},
            "init": {"recurrent": {"kind": "lowrank", "rank": 2}},
            "probes": {"names": ["loss", "liu", "liu_kernel"], "liu_trials": 20, "liu_kernel_trials": 3}}
    return build(load_config(base, over))


def test_probes_against_brute_force_after_training():
    from grokscope.training.probe_cache import ProbeContext
    from grokscope.training.probe_liu import liu_kernel_metrics, liu_metrics
    b = _built()
    ctx = ProbeContext(b.engine, b.data, b.loss, model=b.model)
    at0 = {**liu_metrics(ctx), **liu_kernel_metrics(ctx)}
    assert at0["liu_weight_change"] == 0 and at0["liu_rep_alignment"] == pytest.approx(1, rel=TOL)
    assert at0["liu_kernel_alignment"] == pytest.approx(1, rel=TOL)
    assert at0["liu_effective_rank"] == pytest.approx(lm.effective_rank(b.params0["W_rec"]), rel=TOL)
    for _ in range(5):
        b.engine.step()
    got = {**liu_metrics(ctx), **liu_kernel_metrics(ctx)}
    m, p, p0 = b.model, b.engine.params, b.params0
    X = b.data.X_test[:20]
    H, H0 = m.states(p, X)[:, -1], m.states(p0, X)[:, -1]
    assert got["liu_weight_change"] == pytest.approx(float((p["W_rec"] - p0["W_rec"]).norm()), rel=1e-12)
    assert got["liu_rep_alignment"] == pytest.approx(lm.alignment(H0 @ H0.T, H @ H.T), rel=1e-12)
    K0 = _loop_kernel(m.tangent_outputs, p0, "W_rec", X[:3])
    K = _loop_kernel(m.tangent_outputs, p, "W_rec", X[:3])
    assert got["liu_kernel_alignment"] == pytest.approx(lm.alignment(K0, K), rel=1e-10)
    assert 0 < got["liu_weight_change"] and got["liu_kernel_alignment"] < 1


def test_probe_parameter_must_exist_at_config_time():
    with pytest.raises(ConfigError, match=r"probes.liu_param = 'W9'.*model.name = 'rnn'.*W_in, W_rec, W_out"):
        _built(**{"probes.liu_param": "W9"})
    from grokscope.training.build import build
    mlp = {"task": {"name": "images", "n_train": 20, "n_test": 10}, "model": {"name": "mlp", "hidden": [8, 8]},
           "train": {"loss": "cross_entropy", "steps": 2}, "probes": {"names": ["liu"]}}
    with pytest.raises(ConfigError, match=r"needs probes.liu_param .*no W_rec.*W0, W1, W2"):
        build(load_config(mlp))
    b = build(load_config(mlp, {"probes.liu_param": "W1"}))  # Liu's measures restricted to an MLP's W1
    assert "liu" in {p.name for p in b.probes}
