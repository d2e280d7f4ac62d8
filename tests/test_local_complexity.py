"""Local complexity (issue #22 §2): the cross-polytope count against closed forms and brute-force
sampling of the neighbourhood, and the probe in a run."""
from __future__ import annotations

import torch

from grokscope.diagnostics.local_complexity import (
    cross_polytope,
    frame_directions,
    hidden_preactivations,
    local_complexity,
    random_points,
)
from grokscope.models.mlp import MLP


def _net(D=3, hidden=(6, 5), seed=0):
    m = MLP(D, tuple(hidden), 4, activation="relu", bias=True, init_kind="torch_default")
    return m, m.init(torch.Generator().manual_seed(seed))


def _l1_ball(n, k, gen):
    """n points uniform in the unit L1 ball of R^k (exponential spacings with random signs)."""
    e = -torch.log(torch.rand(n, k + 1, generator=gen, dtype=torch.float64))
    c = e[:, :k] / e.sum(dim=1, keepdim=True)
    return c * (2 * torch.randint(0, 2, (n, k), generator=gen) - 1)


def test_preactivations_are_the_models_forward():
    m, P = _net(D=5, hidden=(7, 6, 5))
    X = torch.randn(9, 5, dtype=torch.float64)
    hs = hidden_preactivations(m, P, X)
    assert [h.shape[1] for h in hs] == [7, 6, 5]
    out = m.layer_scale(3) * (m.act(hs[-1]) @ P["W3"].T) + P["b3"]
    torch.testing.assert_close(out * m.out_scale, m.apply(P, X), rtol=1e-14, atol=1e-14)


def test_frames_are_orthonormal():
    V = frame_directions(4, 6, 3, torch.Generator().manual_seed(1))
    torch.testing.assert_close(V @ V.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(4, 3, 3),
                               rtol=0, atol=1e-13)


def test_first_layer_count_is_the_closed_form():
    """Hyperplane j meets x + r·conv{±v_p} iff |h_j(x)| ≤ r·c₀·max_p |w_j·v_p| (exact, integer equality)."""
    m, P = _net(D=8, hidden=(40, 30))
    X = torch.rand(50, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for r, nv in ((0.05, 6), (0.3, 16), (1.0, 4)):
        counts = local_complexity(m, P, X, r, nv, torch.Generator().manual_seed(3))
        V = frame_directions(50, 8, nv // 2, torch.Generator().manual_seed(3))
        h = hidden_preactivations(m, P, X)[0]                          # (n, 40)
        reach = r * m.layer_scale(0) * (V @ P["W0"].T).abs().amax(dim=1)  # (n, 40)
        assert torch.equal(counts[:, 0], (h.abs() <= reach).sum(dim=1)), (r, nv)
        assert counts[:, 0].sum() > 0


def test_counts_match_sampling_of_the_neighbourhood():
    """Dense Monte Carlo inside the cross-polytope (20 000 points, D = k = 3): a unit whose sign changes
    anywhere inside is counted, and none is counted whose sign is constant. Layer 1 always; deeper layers
    where no first-layer boundary crosses (the net is affine there, so the propagated hull is exact)."""
    m, P = _net()
    gen = torch.Generator().manual_seed(4)
    X = torch.rand(40, 3, generator=gen, dtype=torch.float64) * 2 - 1
    r = 0.25
    counts = local_complexity(m, P, X, r, 6, torch.Generator().manual_seed(5))
    V = frame_directions(40, 3, 3, torch.Generator().manual_seed(5))
    affine_points = 0
    for i in range(40):
        c = _l1_ball(20_000, 3, gen)
        pts = torch.cat([X[i] + r * c @ V[i], cross_polytope(X[i:i + 1], r, V[i:i + 1])[0]])
        hs = hidden_preactivations(m, P, pts)
        sampled = [int(((h.amax(0) >= 0) & (h.amin(0) <= 0)).sum()) for h in hs]
        assert counts[i, 0] == sampled[0], i
        if sampled[0] == 0:
            affine_points += 1
            assert counts[i].tolist() == sampled, i
    assert 0 < affine_points < 40


def test_centroid_only_adds_crossings_and_random_points_stay_in_the_box():
    m, P = _net(D=4, hidden=(20, 20))
    X = torch.rand(30, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    a = local_complexity(m, P, X, 0.2, 8, torch.Generator().manual_seed(7))
    b = local_complexity(m, P, X, 0.2, 8, torch.Generator().manual_seed(7), centroid=True)
    assert (b >= a).all() and torch.equal(a[:, 0], b[:, 0])  # layer 1: x is inside the hull already
    R = random_points(X, 500, torch.Generator().manual_seed(8))
    assert (R >= X.amin(0)).all() and (R <= X.amax(0)).all()


def test_probe_in_a_run(tmp_path):
    from grokscope.config import load_config
    from grokscope.training.loop import run
    cfg = load_config({
        "task": {"name": "modular", "p": 11, "frac_train": 0.5, "inputs": "onehot"},
        "model": {"name": "mlp", "hidden": [16, 16], "activation": "relu", "bias": True, "init": "torch_default"},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adam", "lr": 1e-2}, "train": {"steps": 20, "log_per_decade": 3, "progress": False},
        "probes": {"names": ["loss", "accuracy", "local_complexity"], "expensive_points": 3, "lc_points": 10},
        "output": {"root": str(tmp_path), "plots": False}})
    df = run(cfg).metrics.dropna(subset=["lc_train"])
    assert len(df) == 3
    for s in ("train", "test", "random"):
        total = df[f"lc_{s}_l1"] + df[f"lc_{s}_l2"]
        assert ((df[f"lc_{s}"] - total).abs() < 1e-12).all() and (df[f"lc_{s}"] <= 32).all()
