"""The fast NTK-row read-outs (one matvec, shared norms, shared eq. 6 terms) against the direct
functions they replace. Tolerance: float64, 1e-12 relative (the identities only reorder sums of
non-cancelling terms; a kernel dominated by its constant mode takes the direct branch)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import small_config

from grokscope.diagnostics import kernels as kr
from grokscope.diagnostics import ntk_row
from grokscope.theory.sufficient import decomposition, population_loss
from grokscope.training.probe_cache import initial_kernel
from grokscope.training.probe_kernels import kernel_misalignment
from grokscope.training.probes import PROBES, kernel_labels

F64 = torch.float64
TOL = 1e-12


def _close(a, b, tol=TOL) -> bool:
    return abs(float(a) - float(b)) <= tol * abs(float(b))


def _direct(K, y) -> dict[str, float]:
    return {"ntk_alignment": float(kr.alignment_onesided(K, y)), "ntk_alignment_uncentred": float(kr.alignment(K, y)),
            "ntk_cka": float(kr.cka_labels(K, y))}


def _kernel(n, p, seed, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    Phi = torch.randn(n, p, generator=g, dtype=F64) + shift
    return Phi @ Phi.T


@pytest.mark.parametrize("shift", [0.0, 0.3, 30.0])  # 30: the constant mode dominates → direct branch
@pytest.mark.parametrize("labels", ["vector", "onehot"])
@pytest.mark.parametrize("force_direct", [False, True])
def test_alignments_match_the_direct_functions(shift, labels, force_direct, monkeypatch):
    n = 70
    K = _kernel(n, 25, 1, shift)
    g = torch.Generator().manual_seed(2)
    y = (torch.randn(n, generator=g, dtype=F64) + 0.7 if labels == "vector" else
         torch.nn.functional.one_hot(torch.randint(0, 4, (n,), generator=g), 4).to(F64))
    if force_direct:
        monkeypatch.setattr(ntk_row, "SAFE", 2.0)  # every centred norm taken the direct way
    got = {k: float(v) for k, v in ntk_row.alignments(K, y).items()}
    want = _direct(K, y)
    assert got.keys() == want.keys()
    for k in want:
        assert _close(got[k], want[k]), (k, got[k], want[k])
    # a given ‖K‖ is used as is
    assert _close(ntk_row.alignments(K, y, torch.linalg.matrix_norm(K))["ntk_cka"], want["ntk_cka"])


def test_constant_dominated_kernel_takes_the_direct_branch():
    """With K ≈ c·11ᵀ the identity ‖K‖² − n‖m‖² cancels; the guard must catch it (it is below SAFE)."""
    n = 50
    K = _kernel(n, 10, 3, 0.0) + 1e6
    m = K.sum(1) / n
    assert float(torch.linalg.matrix_norm(K) ** 2 - n * (m * m).sum()) < ntk_row.SAFE * float(K.square().sum())
    y = torch.randn(n, generator=torch.Generator().manual_seed(4), dtype=F64)
    got, want = ntk_row.alignments(K, y), _direct(K, y)
    for k in want:
        assert _close(got[k], want[k], 1e-10), (k, float(got[k]), want[k])


def _reduced_ctx(tmp_path):
    from grokscope.training.build import build
    from grokscope.training.record import RunState
    cfg = small_config(tmp_path, **{"train.engine": "reduced", "train.steps": 50, "task.D": 10, "task.P": 30,
                                    "task.P_test": 40})
    b = build(cfg)
    rs = RunState(cfg, Path(tmp_path) / "run", None, b, 0.0)
    return rs.ctx, b.engine, rs


def test_ntk_and_kernel_alignment_probes_match_the_direct_computation(tmp_path):
    """Row by row (steps 0, 3, 7): every NTK metric of the probes equals the direct kernels.py
    computation on a freshly built K (velocity against the previous row's K), 1e-12 relative."""
    ctx, eng, _ = _reduced_ctx(tmp_path)
    X, y = ctx.data.X_test, kernel_labels(ctx.data)
    # the probes' K₀ is the test block of one kernel over train + test: the test kernel up to the
    # rounding of products of another shape (bitwise on an Intel machine, 1e-16 relative on an AMD one)
    K0 = initial_kernel(ctx).test
    assert float((K0 - eng.ntk(X)).abs().max()) <= 1e-14 * float(K0.abs().max())
    prev, step = None, 0
    for target in (0, 3, 7):
        while step < target:
            eng.step()
            step += 1
        ctx.cache.step = step
        got = PROBES["ntk"].fn(ctx) | PROBES["kernel_alignment"].fn(ctx)
        K = eng.ntk(X)
        want = _direct(K, y) | {"kernel_distance": float(kr.kernel_distance(K, K0)),
                                "kernel_misalignment": kernel_misalignment(K, K0)}
        want["kernel_velocity"] = None if prev is None else float(kr.kernel_velocity(prev[1], K, step - prev[0]))
        assert list(got) == ["ntk_alignment", "ntk_alignment_uncentred", "ntk_cka", "kernel_distance",
                             "kernel_velocity", "kernel_misalignment"]
        for k, v in want.items():
            if v is None:
                assert got[k] is None
            elif step == 0 and k in ("kernel_distance", "kernel_misalignment"):  # K = K₀ up to rounding
                assert abs(got[k]) <= 1e-14 and abs(v) <= 1e-14, (step, k, got[k], v)
            else:
                assert _close(got[k], v), (step, k, got[k], v)
        if step:
            assert got["kernel_distance"] > 0 and got["kernel_velocity"] > 0
        prev = (step, K)


def test_kernel_alignment_probe_alone_uses_the_direct_path(tmp_path):
    """Without an ntk row at this step (e.g. probes.names = [kernel_alignment]) the probe computes its norms."""
    ctx, eng, _ = _reduced_ctx(tmp_path)
    for _ in range(4):
        eng.step()
    ctx.cache.step = 4
    K, K0 = eng.ntk(ctx.data.X_test), initial_kernel(ctx).test
    got = PROBES["kernel_alignment"].fn(ctx)["kernel_misalignment"]
    assert ctx.cache.ntk_row is None
    assert got == kernel_misalignment(K, K0) and got > 0


def test_exact_and_decomposition_share_one_evaluation_per_step(tmp_path, monkeypatch):
    ctx, eng, _ = _reduced_ctx(tmp_path)
    target = ctx.data.target
    step = 0
    for target_step in (0, 1, 5):
        while step < target_step:
            eng.step()
            step += 1
        ctx.cache.step = step
        form = eng.quadratic_form()
        want_terms = decomposition(*form, target)
        exact = PROBES["exact_loss"].fn(ctx)["test_loss_exact"]
        terms = PROBES["decomposition"].fn(ctx)
        assert exact == float(population_loss(*form, target))  # the same sum, bit for bit
        assert terms == {f"decomp_{k}": float(v) for k, v in want_terms.items()}
    # one quadratic_form per step, whichever probe asks first
    calls = []
    orig = eng.quadratic_form
    monkeypatch.setattr(eng, "quadratic_form", lambda: calls.append(1) or orig())
    eng.step()
    ctx.cache.step = 99
    PROBES["exact_loss"].fn(ctx), PROBES["decomposition"].fn(ctx)
    assert len(calls) == 1
    # no step in the cache (a caller outside RunState): always recomputed, never stale
    ctx.cache.step = None
    before = PROBES["exact_loss"].fn(ctx)["test_loss_exact"]
    eng.step()
    assert PROBES["exact_loss"].fn(ctx)["test_loss_exact"] != before


def test_blocked_difference_norms_match_the_direct_ones():
    """‖K − O‖ in row blocks (two full blocks and a partial one) vs matrix_norm(K − O): the same entrywise
    differences summed in another order (dot products per block), 1e-13 relative."""
    K = _kernel(150, 30, 7)
    others = [K + 1e-6 * _kernel(150, 5, 8), K * 1.001, K]
    got = ntk_row.diff_norms(K, others, rows=64)
    for g, O in zip(got, others):
        want = torch.linalg.matrix_norm(K - O)
        assert (g == want == 0) or _close(g, want, 1e-13), (float(g), float(want))
    assert float(got[2]) == 0.0


def test_float32_kernels_are_read_in_float64():
    """A float32 kernel's alignments are those of the same kernel converted to float64 (the identities
    would cancel in float32), to 1e-12 of the direct functions on it; the difference norms of a float32
    kernel off the blocked path are matrix_norm(K − O) as before."""
    K = _kernel(40, 10, 9).float()
    y = torch.randn(40, generator=torch.Generator().manual_seed(1)).float()
    got = ntk_row.alignments(K, y)
    assert all(v.dtype == F64 for v in got.values())
    for k, v in _direct(K.double(), y.double()).items():
        assert _close(got[k], v), (k, float(got[k]), v)
    O = K * 1.01
    assert torch.equal(ntk_row.diff_norms(K, [O])[0], torch.linalg.matrix_norm(K - O))


def test_float32_run_probes_match_the_float64_reading_of_its_kernel(tmp_path):
    """In a float32 run the ntk and kernel_alignment probes read the float32 test NTK converted to
    float64: every value equals the direct kernels.py computation on that float64 kernel, 1e-12."""
    from grokscope.training.build import build
    from grokscope.training.record import RunState
    cfg = small_config(tmp_path, **{"train.engine": "reduced", "train.dtype": "float32", "task.D": 10,
                                    "task.P": 30, "task.P_test": 40})
    b = build(cfg)
    ctx, eng = RunState(cfg, Path(tmp_path) / "run", None, b, 0.0).ctx, b.engine
    X, y = ctx.data.X_test, kernel_labels(ctx.data).double()
    K0 = initial_kernel(ctx).test.double()
    for step in range(4):
        eng.step()
    ctx.cache.step = 4
    got = PROBES["ntk"].fn(ctx) | PROBES["kernel_alignment"].fn(ctx)
    K = eng.ntk(X)
    assert K.dtype == torch.float32
    K = K.double()
    want = _direct(K, y) | {"kernel_distance": float(kr.kernel_distance(K, K0)),
                            "kernel_misalignment": kernel_misalignment(K, K0)}
    for k, v in want.items():
        assert _close(got[k], v) and v > 0, (k, got[k], v)


def test_misalignment_forms_do_not_cancel_near_alignment():
    """K_t = K₀ + δE with ⟨K₀, E⟩ = 0: 1 − cos = 1 − 1/√(1 + t), t = δ²‖E‖²/‖K₀‖² ≈ 5e-13 here. The
    reference function and the probe's norm identity both get it to 1e-6 relative; the cancelling form
    1 − ⟨K₀, K_t⟩/(‖K₀‖‖K_t‖) has an absolute error of a few 1e-16 there (≈ 1e-3 relative)."""
    import math

    from grokscope.training.probe_kernels import from_norms
    A = _kernel(60, 20, 11)
    E = _kernel(60, 20, 12)
    E = E - (A * E).sum() / (A * A).sum() * A
    B = A + 1e-6 * E
    nA, nB = torch.linalg.matrix_norm(A), torch.linalg.matrix_norm(B)
    t = float((1e-6 * torch.linalg.matrix_norm(E) / nA) ** 2)
    want = -math.expm1(-0.5 * math.log1p(t))
    assert 1e-14 < want < 1e-11
    assert _close(kernel_misalignment(B, A), want, 1e-6)
    assert _close(from_norms(torch.linalg.matrix_norm(B - A), nB, nA), want, 1e-6)
