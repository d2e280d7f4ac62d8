"""Phase-2 presets: paper Fig 2 (modular MLP) and the neighbours' headline results, each run end to end
at its reduced size (presets.SMALL) through grokscope.training.loop.run, asserting the direction of the effect
with margins measured on these fixed seeds (docs/neighbours-presets.md)."""
from __future__ import annotations

from pathlib import Path

import pytest

from grokscope.api import run
from grokscope.config import load_config
from grokscope.config.presets import PRESETS, SMALL, get_preset

ROOT = Path(__file__).parents[1]


def _run(tmp_path, name: str, **overrides):
    cfg = load_config(get_preset(name), {**SMALL[name], **overrides, "output.root": str(tmp_path),
                                         "output.plots": False, "train.progress": False})
    tag = "-".join(f"{k}={v}" for k, v in overrides.items()) or "base"
    return run(cfg, tmp_path / f"{name}-{tag}", quiet=True).metrics


def _first(m, col: str, thr: float) -> int | None:
    s = m.loc[m[col] >= thr, "step"]
    return int(s.iloc[0]) if len(s) else None


@pytest.mark.parametrize("name", ["fig2", "stablemax", "stablemax-ce", "orthograd", "orthograd-adamw",
                                  "omnigrok-teacher", "omnigrok-teacher-s1", "omnigrok-digits",
                                  "omnigrok-digits-s1", "lowrank", "lowrank-full"])
def test_preset_files_and_small_variants(name):
    assert load_config(ROOT / "experiments" / f"{name}.yaml") == load_config(get_preset(name))
    load_config(get_preset(name), SMALL[name])
    assert name in PRESETS






def test_stablemax_learns_where_float32_softmax_collapses(tmp_path):
    """Prieto et al. 2025: without weight decay, float32 softmax cross-entropy drives the training loss to
    exactly 0 (softmax collapse) and learning stops, while StableMax keeps learning and generalises.
    Reduced presets (a + b mod 31, 80 % train, 1 500 AdamW steps). Measured: final test accuracy 0.19
    (StableMax) vs 0.00 (CE); CE's zero-loss fraction 0.67 at the end, StableMax's 0; StableMax's test
    loss falls from its peak 4.34 to 3.13 while CE's climbs to 17.9."""
    sm, ce = _run(tmp_path, "stablemax"), _run(tmp_path, "stablemax-ce")
    assert sm.train_acc.iloc[-1] == 1.0 and ce.train_acc.iloc[-1] == 1.0  # both memorise
    assert sm.test_acc.iloc[-1] >= ce.test_acc.iloc[-1] + 0.1, (sm.test_acc.iloc[-1], ce.test_acc.iloc[-1])
    assert ce.zero_loss_fraction.iloc[-1] >= 0.3 and sm.zero_loss_fraction.max() == 0.0
    assert sm.test_loss.iloc[-1] <= 0.85 * sm.test_loss.max()  # still learning the test set
    assert ce.test_loss.iloc[-1] >= 2 * sm.test_loss.iloc[-1]


def test_orthograd_generalises_where_adamw_memorises(tmp_path):
    """Prieto et al. 2025: ⊥AdamW (no weight decay) generalises quickly on modular addition; AdamW
    memorises. Reduced presets (a + b mod 41, 50 % train, 300 steps). Measured final test accuracy 0.98
    (⊥AdamW) vs 0.00 (AdamW); both fit the training set."""
    o, a = _run(tmp_path, "orthograd"), _run(tmp_path, "orthograd-adamw")
    assert o.train_acc.iloc[-1] == 1.0 and a.train_acc.iloc[-1] == 1.0
    assert o.test_acc.iloc[-1] >= 0.8 and a.test_acc.iloc[-1] <= 0.1, (o.test_acc.iloc[-1], a.test_acc.iloc[-1])
    assert o.weight_norm.iloc[-1] < a.weight_norm.iloc[-1]  # ⊥Grad removes the norm-growing component


def _lag(m):
    """(first step with train accuracy ≥ 0.9, test accuracy at that step)."""
    t = _first(m, "train_acc", 0.9)
    assert t is not None
    return t, m.loc[m.step == t, "test_acc"].item()


@pytest.mark.parametrize("name,margin", [("omnigrok-teacher", 0.4), ("omnigrok-digits", 0.2)])
def test_omnigrok_large_init_scale_delays_generalisation(tmp_path, name, margin):
    """Omnigrok: a large initial weight norm plus weight decay gives grokking, scale 1 does not. Reduced
    presets. Measured (teacher, 30-30 tanh, 50/50 points, 3 000 steps): train accuracy (θ = 0.001) ≥ 0.9 at
    step 956 with test accuracy 0.12 there (scale 3) vs step 87 with 0.78 (scale 1); the scale-3 test
    accuracy reaches 0.9 at step 2 387. (digits, 100/300 images, [100, 100], 3 000 steps): ≥ 0.9 train at
    step 1 347 with test 0.35 (scale 8, final test 0.80) vs step 28 with 0.73 (scale 1)."""
    big, one = _run(tmp_path, name), _run(tmp_path, f"{name}-s1")
    (t_big, at_big), (t_one, at_one) = _lag(big), _lag(one)
    assert at_one >= at_big + margin, (at_big, at_one)
    assert t_big >= 5 * t_one, (t_big, t_one)
    assert big.test_acc.iloc[-1] >= at_big + 0.3  # the test set is learnt later: grokking, not failure
    assert big.weight_norm.iloc[-1] <= 0.5 * big.weight_norm.iloc[0]  # weight decay pulled the norm down


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_progress_probe_on_the_modular_mlp(tmp_path, loss):
    """The progress probe on an MLP (embedding = first-layer columns of a and b, (p, 2N)) equals the
    progress functions applied to an independent forward pass over all p² pairs, to 1e-12 (float64);
    for mse runs the restricted/excluded losses are the MSE on one-hot targets."""
    import torch

    from grokscope.diagnostics import progress as pg
    from grokscope.numerics.losses import MSE, CrossEntropy
    from grokscope.tasks.modular import encode
    from grokscope.training.build import build
    from grokscope.training.probe_cache import ProbeContext
    from grokscope.training.probe_progress import progress_metrics
    p, alpha = 11, 1.7
    cfg = load_config(get_preset("fig2"), {"task.p": p, "model.hidden": [12], "scaling.alpha": alpha,
                                           "optim.lr": 50.0, "train.loss": loss, "train.steps": 20,
                                           "probes.names": ["loss", "progress"], "output.root": str(tmp_path)})
    b = build(cfg)
    eng, data, model = b.engine, b.data, b.model
    for _ in range(20):
        eng.step()
    got = progress_metrics(ProbeContext(eng, data, b.loss, model=model))
    a, bb = pg.pair_grid(p)
    L = alpha * model.apply(eng.params, encode(torch.stack([a, bb], 1), p, "onehot").to(torch.float64))
    y = (a + bb) % p
    train = torch.zeros(p * p, dtype=torch.bool)
    train[data.meta["pairs_train"][:, 0] * p + data.meta["pairs_train"][:, 1]] = True
    W0 = eng.params["W0"]
    W_E = torch.stack([torch.cat([W0[:, i], W0[:, p + i]]) for i in range(p)])  # row i: a = i and b = i weights
    K = pg.key_frequencies(W_E, n=5)
    lf, yy = (MSE(), torch.nn.functional.one_hot(y, p).double()) if loss == "mse" else (CrossEntropy(), y)
    want = {"fourier_gini": pg.gini(pg.fourier_norms(W_E)),
            "key_freq_energy": float(pg.embedding_spectrum(W_E)[K].sum()),
            "restricted_loss": pg.restricted_loss(L, yy, p, K, loss=lf),
            "excluded_loss": pg.excluded_loss(L, yy, p, K, mask=train, loss=lf)}
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-12, abs=1e-12), k
    assert "progress" in {q.name for q in b.probes}


def test_kernel_misalignment_probe_matches_direct_ntk(tmp_path):
    """kernel_misalignment = 1 − ⟨K₀, K_t⟩_F/(‖K₀‖‖K_t‖) of the test NTK equals that of ntk() on the
    initial and current parameters to 1e-12 (float64); it is 0 for a rescaled kernel and 1 − cos for
    two fixed matrices."""
    import torch

    from grokscope.diagnostics.ntk import ntk
    from grokscope.training.build import build
    from grokscope.training.probe_cache import ProbeContext
    from grokscope.training.probe_kernels import kernel_misalignment
    A = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
    assert kernel_misalignment(7.5 * A, A) == pytest.approx(0.0, abs=1e-15)
    B = torch.tensor([[1.0, 0.0], [0.0, -1.0]])
    assert kernel_misalignment(B, A) == pytest.approx(1 - (2 - 3) / (15**0.5 * 2**0.5), rel=1e-14)
    cfg = load_config(get_preset("lowrank"), {**SMALL["lowrank"], "task.n_train": 30, "task.n_test": 12,
                                             "model.hidden": [8, 8], "output.root": str(tmp_path)})
    b = build(cfg)
    eng, data, model = b.engine, b.data, b.model
    ctx = ProbeContext(eng, data, b.loss, model=model)
    ctx.cache.step = 0
    from grokscope.training.probe_kernels import probe
    assert probe(ctx)["kernel_misalignment"] == pytest.approx(0.0, abs=1e-12)
    for _ in range(25):
        eng.step()
    ctx.cache.step = 25
    got = probe(ctx)["kernel_misalignment"]
    K0, Kt = (ntk(model, th, data.X_test, alpha=1.0) for th in (eng.params0, eng.params))
    want = 1 - float((K0 * Kt).sum() / (K0.norm() * Kt.norm()))
    assert got == pytest.approx(want, rel=1e-12) and got > 0


def test_lowrank_hidden_init_moves_the_kernel_more(tmp_path):
    """Liu et al. 2024: a low-rank initial hidden-to-hidden weight (same Frobenius norm) learns more richly.
    Reduced presets (digits 200/100, [100, 100], 400 momentum steps). Measured final 1 − KA(K₀, K_t) for
    rank 1 vs full rank: 0.229 vs 0.006 (model seed 0; seeds 1, 2: 0.051 vs 0.004, 0.123 vs 0.010).
    The relative Frobenius change kernel_distance does NOT order consistently (seed 1: 3.7 vs 5.8)."""
    mis = {}
    for name in ("lowrank", "lowrank-full"):
        m = _run(tmp_path, name)
        mis[name] = m.kernel_misalignment.dropna().iloc[-1]
        assert m.train_acc.iloc[-1] >= 0.9, name
    assert mis["lowrank"] >= 5 * mis["lowrank-full"], mis
