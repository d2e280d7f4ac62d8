"""Pathway metrics (diagnostics/pathways.py) against brute-force references, and the pathways probe
(training/probe_pathways.py) against the same references on a built run (MLP, MoE transformer, committee)."""
from __future__ import annotations

import itertools
import random

import pytest
import torch

from grokscope.diagnostics import pathways as pw


def test_levenshtein_reference_cases():
    assert pw.levenshtein("kitten", "sitting") == 3
    assert pw.levenshtein([], [1, 2]) == 2
    assert pw.levenshtein([1, 2, 3], [1, 2, 3]) == 0
    assert pw.levenshtein([1, 2, 3], [3, 2, 1]) == 2


def test_levenshtein_batch_equals_python_dp():
    rng = random.Random(0)
    A = [[rng.randrange(6) for _ in range(rng.randrange(0, 12))] for _ in range(400)]
    B = [[rng.randrange(6) for _ in range(rng.randrange(0, 12))] for _ in range(400)]
    assert pw.levenshtein_batch(A, B).tolist() == [pw.levenshtein(a, b) for a, b in zip(A, B)]


def _kept_reference(row, mass, top_k):
    order = sorted(range(len(row)), key=lambda k: (-row[k], k))
    if top_k is not None:
        return order[:top_k] if sum(row) > 0 else []
    total, acc, kept = sum(row), 0.0, []
    for k in order:
        if total == 0 or acc >= mass * total:
            break
        kept.append(k)
        acc += row[k]
    return kept


@pytest.mark.parametrize("mass,top_k", [(0.7, None), (0.5, None), (1.0, None), (0.7, 3)])
def test_pathways_equal_sorted_loop(mass, top_k):
    g = torch.Generator().manual_seed(1)
    layers = [torch.rand(30, 9, generator=g, dtype=torch.float64) ** 3, torch.rand(30, 5, generator=g, dtype=torch.float64)]
    layers[0][4] = 0.0  # a sample that uses no unit of layer 0
    paths = pw.pathways(layers, mass, top_k)
    for i in range(30):
        want = _kept_reference(layers[0][i].tolist(), mass, top_k) + \
            [9 + k for k in _kept_reference(layers[1][i].tolist(), mass, top_k)]
        assert paths[i] == want
    S = pw.unit_sets(layers, mass, top_k)
    assert [sorted(torch.nonzero(r).flatten().tolist()) for r in S] == [sorted(p) for p in paths]


def test_mean_edit_and_jaccard_equal_loops():
    g = torch.Generator().manual_seed(2)
    layers = [torch.rand(25, 12, generator=g, dtype=torch.float64) ** 2, torch.rand(25, 12, generator=g, dtype=torch.float64)]
    paths = pw.pathways(layers)
    pairs = list(itertools.combinations(range(25), 2))
    d = [pw.levenshtein(paths[i], paths[j]) for i, j in pairs]
    raw, norm = pw.mean_edit_distance(paths, max_pairs=10**6)
    assert raw == pytest.approx(sum(d) / len(d), rel=1e-12)
    want = sum(x / max(len(paths[i]), len(paths[j])) for x, (i, j) in zip(d, pairs)) / len(d)
    assert norm == pytest.approx(want, rel=1e-12)
    sets = [set(p) for p in paths]
    jac = [1 - len(sets[i] & sets[j]) / len(sets[i] | sets[j]) for i, j in pairs]
    assert pw.mean_jaccard_distance(pw.unit_sets(layers)) == pytest.approx(sum(jac) / len(jac), rel=1e-12)


def test_sampled_pairs_are_distinct_and_in_range():
    i, j = pw.pair_sample(50, 300, torch.Generator().manual_seed(0))
    assert len(i) == 300 and bool((i < j).all()) and int(j.max()) < 50
    i, j = pw.pair_sample(5, 300)
    assert sorted(zip(i.tolist(), j.tolist())) == list(itertools.combinations(range(5), 2))


def test_consistency_and_layer_cosines_equal_loops():
    g = torch.Generator().manual_seed(3)
    gates = [torch.rand(7, n, generator=g, dtype=torch.float64) for n in (5, 6, 4)]
    Ws = [torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(4, 6, generator=g, dtype=torch.float64)]
    cos = pw.mlp_layer_cosines(gates, Ws)
    for i in range(7):
        for ell in range(2):
            u = [sum(abs(float(Ws[ell][a, b])) * float(gates[ell][i, b]) for b in range(gates[ell].shape[1]))
                 for a in range(Ws[ell].shape[0])]
            v = gates[ell + 1][i].tolist()
            c = sum(x * y for x, y in zip(u, v)) / (sum(x * x for x in u) ** 0.5 * sum(y * y for y in v) ** 0.5)
            assert float(cos[i, ell]) == pytest.approx(c, rel=1e-12)
    C = pw.consistency(cos)
    for i in range(7):
        row = cos[i].tolist()
        assert float(C[i]) == pytest.approx(1 - (sum(row) / len(row)) / max(row), rel=1e-12, abs=1e-15)


def test_memorised_rule_equals_loop():
    g = torch.Generator().manual_seed(4)
    L = torch.rand(12, 40, generator=g, dtype=torch.float64) * torch.linspace(1, 0.01, 12, dtype=torch.float64)[:, None]
    eps, delta = 0.3, 0.2
    got = pw.memorised_from(L, eps, delta).tolist()
    for m in range(40):
        want = -1
        for t in range(12):
            if all(L[s, m] <= eps and abs(L[s, m] - L[-1, m]) <= delta for s in range(t, 12)):
                want = t
                break
        assert got[m] == want


def test_effective_dimension_equals_trace_of_solve():
    g = torch.Generator().manual_seed(5)
    A = torch.randn(30, 12, generator=g, dtype=torch.float64)
    K = A @ A.T
    lam = 0.7
    want = float(torch.trace(K @ torch.linalg.inv(K + lam * torch.eye(30, dtype=torch.float64))))
    assert pw.effective_dimension(K, lam) == pytest.approx(want, rel=1e-10)
    with pytest.raises(ValueError, match="lam"):
        pw.effective_dimension(K, 0.0)


# -- the probe on built runs -------------------------------------------------------------------------
def _context(over):
    from grokscope.config import load_config
    from grokscope.training.build import build
    from grokscope.training.probe_cache import ProbeContext
    cfg = load_config(over)
    b = build(cfg)
    return cfg, ProbeContext(b.engine, b.data, b.loss, b.model)


def _reference(ctx, gates_fn, committee=False, mass=None, top_k=None):
    """Brute force: memorised = correct now (the probe is called twice at the same θ), python pathways,
    all-pairs python Levenshtein and set Jaccard, NTK effective dimension by an explicit inverse."""
    from grokscope.diagnostics.ntk import ntk
    from grokscope.training import probe_pathways as pp
    d, params = ctx.data, ctx.engine.params
    f = ctx.engine.outputs("train")
    ok = (f.argmax(1) == d.y_train) if d.classes else None
    order = pp._state(ctx)["order"]
    idx = [int(i) for i in order if ok is None or bool(ok[i])][: pp.MAX_SAMPLES]
    gates = [g.to(torch.float64) for g in gates_fn(params, d.X_train[idx])]
    paths = [[] for _ in idx]
    off = 0
    for g in gates:
        for n, row in enumerate(g.tolist()):
            paths[n] += [off + k for k in _kept_reference(row, pp.MASS if mass is None else mass, top_k)]
        off += g.shape[1]
    pairs = list(itertools.combinations(range(len(idx)), 2))
    sets = [set(p) for p in paths]
    out = {"pathway_jaccard": sum(1 - len(sets[i] & sets[j]) / max(len(sets[i] | sets[j]), 1) for i, j in pairs) / len(pairs)}
    if not committee:
        out["pathway_distance"] = sum(pw.levenshtein(paths[i], paths[j]) for i, j in pairs) / len(pairs)
    sub = d.X_train[pp._state(ctx)["ntk_idx"]]
    K = ntk(ctx.model, params, sub, alpha=ctx.engine.alpha, method="generic").to(torch.float64)
    lam = float(torch.trace(K)) / K.shape[0]
    out["ntk_eff_dim"] = float(torch.trace(K @ torch.linalg.inv(K + lam * torch.eye(K.shape[0], dtype=K.dtype))))
    return out, len(idx) / d.P


def _check(ctx, gates_fn, committee=False, mass=None, top_k=None):
    from grokscope.training import probe_pathways as pp
    pp.pathway_metrics(ctx)  # first probe: nothing memorised yet
    got = pp.pathway_metrics(ctx)
    want, frac = _reference(ctx, gates_fn, committee, mass, top_k)
    assert got["pathway_memorised"] == pytest.approx(frac, rel=1e-12)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-9), k
    return got


MODULAR = {"name": "modular", "p": 7, "frac_train": 0.6}


@pytest.mark.parametrize("mass, top_k", [(None, None), (0.5, None), (None, 3)])
def test_probe_mlp_matches_brute_force(mass, top_k):
    """probes.pathway_mass / pathway_top_k reach the probe (default: mass 0.7)."""
    sel = {**({"pathway_mass": mass} if mass else {}), **({"pathway_top_k": top_k} if top_k else {})}
    cfg, ctx = _context({"task": {**MODULAR, "inputs": "onehot"}, "model": {"name": "mlp", "hidden": [9, 8, 7]},
                         "train": {"loss": "cross_entropy", "dtype": "float64"}, "scaling": {"centre": False, "lr_rule": "plain"},
                         "probes": {"names": ["pathways"], **sel}})
    m, p = ctx.model, ctx.engine.params

    def gates(params, X):
        a, out = X, []
        for i in range(m.n_layers - 1):
            a = torch.relu(X.new_tensor(1.0) * a @ params[f"W{i}"].T)
            out.append(a.abs())
        return out
    # make most training samples correct so the metrics are defined: fit the readout by least squares
    H = gates(p, ctx.data.X_train)[-1]
    Y = torch.nn.functional.one_hot(ctx.data.y_train, 7).to(H.dtype)
    p["W3"] = torch.linalg.lstsq(H, 10 * Y).solution.T.contiguous()
    got = _check(ctx, gates, mass=mass, top_k=top_k)
    assert got["pathway_cos"] is not None and 0 <= got["pathway_consistency"] <= 1
    assert got["pathway_consistency_inv"] == pytest.approx(1 - got["pathway_consistency"])


def test_moe_transformer_matches_expert_loop_and_probe():
    cfg, ctx = _context({"task": {**MODULAR, "inputs": "tokens"},
                         "model": {"name": "transformer", "d_model": 8, "n_heads": 2, "d_mlp": 24, "moe_experts": 4},
                         "train": {"loss": "cross_entropy", "dtype": "float64"}, "scaling": {"centre": False, "lr_rule": "plain"},
                         "probes": {"names": ["pathways"]}})
    m, p, X = ctx.model, ctx.engine.params, ctx.data.X_train
    assert m.moe_d_expert == 6 and "W_in" not in p
    r = m.mlp_input(p, X)
    want = []
    for n in range(X.shape[0]):  # explicit loop over samples and experts
        probs = torch.softmax(r[n] @ p["W_R"], 0)
        top = sorted(range(4), key=lambda e: -float(probs[e]))[:2]
        z = probs[top[0]] + probs[top[1]]
        y = sum(probs[e] / z * (torch.relu(r[n] @ p["W_in_e"][e] + p["b_in_e"][e]) @ p["W_out_e"][e]) for e in top)
        want.append((r[n] + y + p["b_out"]) @ p["W_U"])
    torch.testing.assert_close(m.apply(p, X), torch.stack(want), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(m.forward_all(p, X)[:, -1], m.apply(p, X), rtol=1e-12, atol=1e-12)
    # give the readout the labels so that samples count as memorised
    p["W_U"] = p["W_U"] + 5 * torch.linalg.lstsq(m._mlp(p, r), torch.nn.functional.one_hot(ctx.data.y_train, 7).double()).solution
    _check(ctx, lambda params, X: [m.routing(params, X)])


def test_probe_committee_jaccard_and_opt_in(monkeypatch):
    from grokscope.config import load_config
    from grokscope.training import probe_pathways as pp
    base = {"task": {"name": "polynomial", "D": 6, "P": 30, "P_test": 10}, "model": {"name": "committee", "N": 12, "phi": "relu"},
            "train": {"engine": "network"}, "probes": {"names": ["pathways"]}}
    assert "opt-in" in pp.supports(load_config({**base, "probes": {"names": "auto"}}))
    quad = {**base, "model": {"name": "committee", "N": 12}, "train": {"engine": "reduced"}}
    assert "network" in pp.supports(load_config(quad))
    monkeypatch.setattr(pp, "EPS_REL", 1.0)  # about half the samples below the mean loss
    cfg, ctx = _context(base)
    pp.pathway_metrics(ctx)
    got = pp.pathway_metrics(ctx)
    # regression rule: ℓ ≤ EPS_REL·mean ℓ₀ at both calls (same θ, so |Δℓ| = 0)
    loss = ctx.loss.per_sample(ctx.engine.outputs("train"), ctx.data.y_train)
    mem = loss <= float(loss.mean())
    assert got["pathway_memorised"] == pytest.approx(float(mem.double().mean()), rel=1e-12)
    idx = [int(i) for i in pp._state(ctx)["order"] if bool(mem[i])]
    W, a = ctx.engine.params["W"], ctx.engine.params["a"]
    sets = [set(_kept_reference([abs(float(a[k]) * max(float(W[k] @ ctx.data.X_train[i]), 0.0)) for k in range(12)],
                                pp.MASS, None)) for i in idx]
    pairs = list(itertools.combinations(range(len(idx)), 2))
    want = sum(1 - len(sets[i] & sets[j]) / len(sets[i] | sets[j]) for i, j in pairs) / len(pairs)
    assert got["pathway_jaccard"] == pytest.approx(want, rel=1e-12)
    assert got["pathway_distance"] is None and got["pathway_cos"] is None
    assert got["ntk_eff_dim"] is not None
