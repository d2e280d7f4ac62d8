"""StableMax cross-entropy vs direct formulas, autograd and finite differences (float64); the working
precision wrapper; Softmax Collapse and zero-loss fractions on constructed logits."""
import math

import pytest
import torch

from grokscope.config import ConfigError, load_config
from grokscope.numerics.losses import (
    CrossEntropy,
    Precision,
    StableMaxCrossEntropy,
    get_loss,
    softmax_collapse_fraction,
    with_precision,
    working_dtypes,
    zero_loss_fraction,
)

TOL = 1e-12


def _s(x: float) -> float:
    return x + 1.0 if x >= 0 else 1.0 / (1.0 - x)


def _reference_loss(z: torch.Tensor, y: torch.Tensor) -> list[float]:
    """−log(s(z_y)/Σ_j s(z_j)) = log1p(Σ_{j≠y} s(z_j)/s(z_y)) per sample, in Python floats (math.fsum)."""
    out = []
    for row, label in zip(z.tolist(), y.tolist()):
        s = [_s(v) for v in row]
        out.append(math.log1p(math.fsum(s[:label] + s[label + 1:]) / s[label]))
    return out


def row_has_zero(z, i, k):
    return z[i, k].item() == 0.0


def _logits(scale, P=9, K=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(P, K, generator=gen, dtype=torch.float64)
    y = torch.randint(0, K, (P,), generator=gen)
    return z, y


@pytest.mark.parametrize("scale", [0.5, 3.0, 1e3, 1e8])
def test_value_matches_direct_formula(scale):
    z, y = _logits(scale)
    loss = get_loss("stablemax")
    ref = torch.tensor(_reference_loss(z, y), dtype=torch.float64)
    per = loss.per_sample(z, y)
    assert per.shape == (z.shape[0],)
    assert ((per - ref).abs() / ref.abs().clamp_min(1e-300)).max() <= TOL
    assert abs(loss.value(z, y).item() - ref.mean().item()) <= TOL * ref.mean().item()
    p = torch.tensor([[_s(v) for v in row] for row in z.tolist()], dtype=torch.float64)
    assert torch.allclose((p / p.sum(1, keepdim=True)).sum(1), torch.ones(z.shape[0], dtype=torch.float64))


@pytest.mark.parametrize("scale", [0.5, 3.0, 1e3, 1e8])
def test_grad_matches_autograd(scale):
    z, y = _logits(scale, seed=1)
    loss = StableMaxCrossEntropy()
    zz = z.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(loss.value(zz, y), zz)
    g = loss.grad(z, y)
    assert g.shape == z.shape
    assert (g - ref).abs().max() <= TOL * ref.abs().max()
    assert torch.isfinite(ref).all()  # the clamped negative branch keeps autograd finite at z ≥ 1


def test_grad_matches_finite_differences_and_hand_formula():
    z, y = _logits(2.0, P=4, K=5, seed=2)
    z[0, 0] = 0.0  # the kink-free junction z = 0: s and s' are continuous there
    g = StableMaxCrossEntropy().grad(z, y)
    h = 1e-6
    for i in range(z.shape[0]):
        for k in range(z.shape[1]):
            zp, zm = z.clone(), z.clone()
            zp[i, k] += h
            zm[i, k] -= h
            fd = (sum(_reference_loss(zp, y)) - sum(_reference_loss(zm, y))) / (2 * h) / z.shape[0]
            # central differences: O(h²) error, but O(h) at z = 0 where s'' jumps (0 → 2/(1 − z)³)
            assert abs(g[i, k].item() - fd) <= (1e-7 if row_has_zero(z, i, k) else 1e-9), (i, k)
            # hand formula: (s'(z_k)/S − δ_ky s'(z_y)/s(z_y)) / P
            row = z[i].tolist()
            ds = 1.0 if row[k] >= 0 else 1.0 / (1.0 - row[k]) ** 2
            want = ds / math.fsum(_s(v) for v in row)
            if k == y[i].item():
                want -= ds / _s(row[k])
            assert abs(g[i, k].item() - want / z.shape[0]) <= TOL * max(abs(want), 1e-300)


def test_large_logits_stay_finite_where_softmax_collapses():
    z = torch.tensor([[1e30, 0.0, -1e30]], dtype=torch.float64)
    y = torch.tensor([0])
    v = StableMaxCrossEntropy().value(z, y)
    ref = math.log1p((1.0 + 1.0 / (1.0 + 1e30)) / (1e30 + 1.0))  # ≈ 1e-30: the reference's form gives 0
    assert math.isfinite(v.item()) and v.item() > 0 and abs(v.item() - ref) <= TOL * ref
    assert torch.isfinite(StableMaxCrossEntropy().grad(z, y)).all()


def test_bad_labels_raise():
    with pytest.raises(ValueError, match="integer labels"):
        StableMaxCrossEntropy().value(torch.zeros(3, 2), torch.zeros(3))


# -- working precision ------------------------------------------------------------------------------
def test_precision_wrapper_rounds_logits_then_computes_in_loss_dtype():
    z, y = _logits(3.0, seed=3)
    for base in (CrossEntropy(), StableMaxCrossEntropy()):
        loss = with_precision(base, "float16", "float32", torch.float64)
        assert isinstance(loss, Precision) and loss.name == base.name
        want = base.per_sample(z.half().float(), y)
        got = loss.per_sample(z, y)
        assert got.dtype == torch.float64 and torch.equal(got, want.double())
        # the gradient goes back through the same casts: fp32 → fp16 → fp64
        assert torch.equal(loss.grad(z, y), base.grad(z.half().float(), y).half().double())
        assert working_dtypes(loss, z) == (torch.float16, torch.float32)
        # the autograd path sees the same rounding
        zz = z.clone().requires_grad_(True)
        (ag,) = torch.autograd.grad(loss.value(zz, y), zz)
        assert ag.dtype == torch.float64 and torch.equal(ag, ag.half().double())  # fp16-valued
        assert (ag - loss.grad(z, y)).abs().max() <= 2.0**-10 * ag.abs().max()  # ≤ 1 fp16 ulp apart
    assert with_precision(CrossEntropy(), "auto", "auto", torch.float64) == CrossEntropy()
    assert with_precision(CrossEntropy(), "float64", "auto", torch.float64) == CrossEntropy()
    assert working_dtypes(CrossEntropy(), z) == (torch.float64, torch.float64)


def test_precision_config_fields():
    cfg = load_config(None, ["train.loss=stablemax", "train.logits_dtype=float32", "train.loss_dtype=float64"])
    assert (cfg.train.loss, cfg.train.logits_dtype, cfg.train.loss_dtype) == ("stablemax", "float32", "float64")
    with pytest.raises(ConfigError, match="train.loss_dtype"):
        load_config(None, ["train.loss_dtype=bfloat8"])


# -- Softmax Collapse ---------------------------------------------------------------------------------
# fl(1 + e^-d) == 1 once e^-d is below half the spacing at 1: 2^-11 (fp16), 2^-24 (fp32), 2^-53 (fp64).
ROWS = torch.tensor([[0.0, -5.0, -6.0],    # e^-5 ≈ 6.7e-3: no collapse anywhere
                     [3.0, -6.0, -7.0],    # e^-9 ≈ 1.2e-4 < 2^-11: collapses in fp16 only
                     [1.0, -19.0, -30.0],  # e^-20 ≈ 2.1e-9 < 2^-24: fp16 and fp32
                     [0.0, -40.0, -41.0]],  # e^-40 ≈ 4.2e-18 < 2^-53: everywhere
                    dtype=torch.float64)


@pytest.mark.parametrize("dtype, want", [(torch.float16, 0.75), (torch.float32, 0.5), (torch.float64, 0.25)])
def test_softmax_collapse_fraction_per_precision(dtype, want):
    assert softmax_collapse_fraction(ROWS, dtype, dtype) == want
    # the logits precision and the loss precision are separate knobs
    assert softmax_collapse_fraction(ROWS, torch.float64, dtype) == want


def test_softmax_collapse_needs_all_other_terms_lost():
    tie = torch.tensor([[2.0, 2.0, -50.0]], dtype=torch.float64)  # two maximal terms: sum 2, not 1
    assert softmax_collapse_fraction(tie, torch.float32, torch.float32) == 0.0
    assert softmax_collapse_fraction(ROWS) == 0.25  # defaults to the logits' own dtype
    with pytest.raises(ValueError, match=r"\(P, K\)"):
        softmax_collapse_fraction(torch.zeros(3))


def test_stablemax_collapse_uses_its_own_normaliser():
    """s(1000)/s(−1000) ≈ 1e6: StableMax's normaliser keeps the small term in fp32 (ulp 1.2e-7), loses it in
    fp16 (half-spacing 4.9e-4); softmax loses e^−2000 in every precision."""
    z = torch.tensor([[1000.0, -1000.0]], dtype=torch.float64)
    assert softmax_collapse_fraction(z, torch.float32, torch.float32, stablemax=True) == 0.0
    assert softmax_collapse_fraction(z, torch.float16, torch.float16, stablemax=True) == 1.0
    assert softmax_collapse_fraction(z, torch.float64, torch.float64) == 1.0


def test_collapse_on_a_training_trajectory():
    """Adam (lr 1) on a separable linear 4-class problem with float32 working precision: cross-entropy
    drives some samples into Softmax Collapse (their loss is exactly 0 and their gradient vanishes);
    StableMax on the same trajectory budget never collapses its own normaliser and no loss is exactly 0."""
    from grokscope.config import Optim
    from grokscope.numerics.optim import make_optimiser
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(32, 64, generator=gen, dtype=torch.float64) / 8.0
    y = torch.randint(0, 4, (32,), generator=gen)
    W0 = 0.1 * torch.randn(64, 4, generator=gen, dtype=torch.float64)
    out = {}
    for name in ("cross_entropy", "stablemax"):
        loss = with_precision(get_loss(name), "float32", "float32", torch.float64)
        params = {"W": W0.clone()}
        opt = make_optimiser(Optim(name="adam"), 1.0)
        st = opt.init(params)
        for _ in range(200):
            opt.step(params, {"W": X.T @ loss.grad(X @ params["W"], y)}, st)
        z = X @ params["W"]
        out[name] = (softmax_collapse_fraction(z, torch.float32, torch.float32, stablemax=name == "stablemax"),
                     zero_loss_fraction(loss, z, y))
    assert out["cross_entropy"][0] > 0 and out["cross_entropy"][1] > 0  # measured: 3/32 and 5/32
    assert out["stablemax"] == (0.0, 0.0)


def test_zero_loss_fraction_in_working_precision():
    y = torch.zeros(ROWS.shape[0], dtype=torch.long)  # the max class is always right
    ce = CrossEntropy()
    assert zero_loss_fraction(ce, ROWS, y) == 0.25  # fp64: only e^-40 vanishes (log1p(4e-18) == 0)
    assert zero_loss_fraction(with_precision(ce, "float32", "float32", torch.float64), ROWS, y) == 0.5
    # StableMax grows linearly: its loss is never exactly 0 here, in any precision (its point)
    sm = with_precision(StableMaxCrossEntropy(), "float32", "float32", torch.float64)
    assert zero_loss_fraction(sm, ROWS, y) == 0.0
    wrong = torch.ones_like(y)
    assert zero_loss_fraction(with_precision(ce, "float16", "float16", torch.float64), ROWS, wrong) == 0.0


def test_softmax_collapse_probe_on_constructed_engine():
    from types import SimpleNamespace

    from grokscope.training.probe_cache import ProbeContext
    from grokscope.training.probes import PROBES
    y = torch.zeros(ROWS.shape[0], dtype=torch.long)
    engine = SimpleNamespace(outputs=lambda split: ROWS)
    data = SimpleNamespace(y_train=y)
    probe = PROBES["softmax_collapse"]
    loss32 = with_precision(CrossEntropy(), "float32", "float32", torch.float64)
    assert probe.fn(ProbeContext(engine, data, loss32)) == {"sc_fraction": 0.5, "zero_loss_fraction": 0.5}
    assert probe.fn(ProbeContext(engine, data, CrossEntropy())) == {"sc_fraction": 0.25,
                                                                    "zero_loss_fraction": 0.25}
    sm32 = with_precision(StableMaxCrossEntropy(), "float32", "float32", torch.float64)
    assert probe.fn(ProbeContext(engine, data, sm32)) == {"sc_fraction": 0.0, "zero_loss_fraction": 0.0}
    from grokscope.training.metrics import METRICS
    assert set(probe.metrics) <= set(METRICS)


def test_softmax_collapse_probe_refused_for_regression():
    from grokscope.training.probes import select_probes
    cfg = load_config(None, {"probes.names": ["softmax_collapse"]})
    with pytest.raises(ConfigError, match="classification"):
        select_probes(cfg)
    assert "softmax_collapse" not in [p.name for p in select_probes(load_config(None))]
