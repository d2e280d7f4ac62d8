"""Batched ensembles: member i equals the single run with the same config.

Tolerance: float64, 1e-12 relative. For the parameters and per-step losses it is pointwise
relative; for a logged metric column it is max|member − single| / max|single| over the column
(columns such as decomp_variance or kernel_velocity are differences that pass near zero, where a
pointwise relative error of rounding is meaningless). Observed: ≲ 1e-14 for parameters and losses.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import small_config

from grokscope.api import run, run_batched
from grokscope.config import ConfigError
from grokscope.training.batched import batch_key, ensemble_of
from grokscope.training.build import build
from grokscope.training.stopping import EventWatch

TOL = 1e-12
STEPS = 200
MEMBERS = [{}, {"scaling.alpha": 2.0, "model.seed": 3}, {"model.eps": 0.1, "model.sigma": 0.7},
           {"optim.lr": 0.3, "scaling.alpha": 0.5, "model.seed": 5}]


def _cfgs(tmp_path, over=None, members=MEMBERS):
    return [small_config(tmp_path, **{"train.steps": STEPS, **(over or {}), **m}) for m in members]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def _assert_metrics_equal(a, b):
    assert list(a.columns) == list(b.columns) and a["step"].tolist() == b["step"].tolist()
    for col in a.columns:
        x, y = a[col].to_numpy(float), b[col].to_numpy(float)
        assert np.array_equal(np.isnan(x), np.isnan(y)), col
        ok = ~np.isnan(y)
        if ok.any():
            err = np.abs(x[ok] - y[ok]).max() / max(np.abs(y[ok]).max(), 1e-300)
            assert err <= TOL, (col, err)


def _state(engine):
    return engine.U if engine.name == "reduced" else engine.params["W"]


@pytest.mark.parametrize("engine", ["network", "reduced"])
@pytest.mark.parametrize("over", [
    {},
    {"optim.name": "momentum", "optim.lr": 0.05, "optim.weight_decay": 1e-3},
    {"scaling.centre": False, "model.phi": "hermite", "model.k": 2},
])
def test_ensemble_engine_step_equals_single_engines(tmp_path, engine, over):
    cfgs = _cfgs(tmp_path, {"train.engine": engine, **over})
    bs = [build(c) for c in cfgs]
    singles = [build(c).engine for c in cfgs]
    ens = ensemble_of(bs, cfgs[0])
    assert ens.name == engine and ens.E == len(cfgs)
    for _ in range(STEPS):
        values = ens.step()
        for i, s in enumerate(singles):
            ref = s.step()
            assert abs(float(values[i]) - float(ref)) <= TOL * abs(float(ref))
    for view, s in zip((b.engine for b in bs), singles):
        assert _rel(_state(view), _state(s)) <= TOL       # the view reads the ensemble's slice
        assert view.param_change() == pytest.approx(s.param_change(), rel=TOL)
        assert _rel(view.outputs("test"), s.outputs("test")) <= TOL
    assert min(s.param_change() for s in singles) > 0.05  # the weights really moved


@pytest.mark.parametrize("over", [
    {"optim.name": "adam", "optim.lr": 0.01},
    {"optim.name": "adamw", "optim.lr": 0.01, "optim.weight_decay": 0.1},
    {"optim.name": "sgd", "optim.batch_size": 8},
    {"model.phi": "tanh", "model.readouts": "trained", "model.readout_init": "normal"},
])
def test_network_ensemble_optimisers_and_models(tmp_path, over):
    cfgs = _cfgs(tmp_path, {"train.engine": "network", **over})
    bs = [build(c) for c in cfgs]
    singles = [build(c).engine for c in cfgs]
    ens = ensemble_of(bs, cfgs[0])
    for _ in range(STEPS):
        values = ens.step()
        for i, s in enumerate(singles):
            ref = s.step()
            assert abs(float(values[i]) - float(ref)) <= TOL * abs(float(ref))
    for b, s in zip(bs, singles):
        for k in s.params:
            assert _rel(b.engine.params[k], s.params[k]) <= TOL, k


@pytest.mark.parametrize("engine", ["network", "reduced"])
def test_run_batched_equals_single_runs(tmp_path, engine):
    """Every probe (NTK, spectrum, twin, decomposition, K₀), events and final values."""
    cfgs = _cfgs(tmp_path, {"train.engine": engine})
    runs = run_batched(cfgs, [tmp_path / f"m{i}" for i in range(len(cfgs))], ["m"] * len(cfgs))
    for i, (c, r) in enumerate(zip(cfgs, runs)):
        s = run(c, tmp_path / f"s{i}")
        assert r.status == s.status == "completed" and r.config == c
        assert r.summary["engine"] == s.summary["engine"] and r.summary["engine"]["name"] == engine
        assert r.summary["ensemble"]["member"] == i and r.summary["ensemble"]["size"] == len(cfgs)
        _assert_metrics_equal(r.metrics, s.metrics)
        assert r.summary["events"]["absolute"] == s.summary["events"]["absolute"]
        assert r.summary["k0"]["test_mse"] == pytest.approx(s.summary["k0"]["test_mse"], rel=TOL)
        assert r.summary["twin"] == s.summary["twin"]
        assert (tmp_path / f"m{i}" / "summary.json").is_file()
    assert len({r.summary["eta"] for r in runs}) > 1  # η really differs per member


@pytest.mark.parametrize("engine", ["network", "reduced"])
def test_diverging_member_stops_alone(tmp_path, engine):
    members = [{}, {"optim.lr": 50.0}, {"scaling.alpha": 2.0, "model.seed": 1}]
    over = {"train.engine": engine, "probes.names": ["loss", "weights", "exact_loss"], "train.steps": 400}
    cfgs = _cfgs(tmp_path, over, members)
    runs = run_batched(cfgs, [tmp_path / f"m{i}" for i in range(3)], ["m"] * 3)
    singles = [run(c, tmp_path / f"s{i}") for i, c in enumerate(cfgs)]
    assert [r.status for r in runs] == [s.status for s in singles] == ["completed", "diverged", "completed"]
    assert runs[1].summary["diverged_at"] == singles[1].summary["diverged_at"] < 400
    assert runs[1].summary["reason"] == singles[1].summary["reason"]
    assert runs[1].metrics["step"].tolist() == singles[1].metrics["step"].tolist()
    finite = singles[1].metrics.iloc[:-1]  # rows before the blow-up
    _assert_metrics_equal(runs[1].metrics.iloc[:len(finite)], finite)
    for i in (0, 2):
        assert runs[i].summary["steps_done"] == 400
        _assert_metrics_equal(runs[i].metrics, singles[i].metrics)


def test_keep_drops_members_and_freezes_their_views(tmp_path):
    cfgs = _cfgs(tmp_path, {"train.engine": "reduced"})
    bs = [build(c) for c in cfgs]
    singles = [build(c).engine for c in cfgs]
    ens = ensemble_of(bs, cfgs[0])
    for _ in range(50):
        ens.step()
        for s in singles:
            s.step()
    ens.keep([0, 2, 3])
    assert ens.E == 3 and ens.U.shape[0] == 3
    frozen = bs[1].engine.U.clone()
    for _ in range(50):
        ens.step()
        for i in (0, 2, 3):
            singles[i].step()
    assert torch.equal(bs[1].engine.U, frozen)              # the dropped member kept its state
    for i in (0, 2, 3):
        assert _rel(bs[i].engine.U, singles[i].U) <= TOL


def test_early_stop_single_and_member(tmp_path):
    members = [{"scaling.alpha": 0.5}, {"scaling.alpha": 0.7, "model.seed": 2}, {"scaling.alpha": 1.0}]
    over = {"train.engine": "reduced", "train.steps": 1000, "train.early_stop": 1.5,
            "events.thresholds": [0.3], "events.relative": [0.5], "probes.names": ["loss", "exact_loss"]}
    cfgs = _cfgs(tmp_path, over, members)
    full = run(cfgs[0].replace(**{"train.early_stop": None}), tmp_path / "full")
    runs = run_batched(cfgs, [tmp_path / f"m{i}" for i in range(3)], ["m"] * 3)
    for i, c in enumerate(cfgs):
        s = run(c, tmp_path / f"s{i}")
        es = s.summary["early_stop"]
        assert s.status == "completed" and s.summary["steps_done"] == es["step"] < 1000
        assert es["step"] >= 1.5 * es["last_crossing"] and "early stop" in s.summary["reason"]
        assert runs[i].summary["early_stop"] == es
        _assert_metrics_equal(runs[i].metrics, s.metrics)
        if i == 0:  # the crossings are those of the full-length run
            for kind in ("absolute", "relative"):
                assert s.summary["events"][kind] == full.summary["events"][kind]
            ev = full.summary["events"]
            assert es["last_crossing"] == max(v for kind in ("absolute", "relative") for c in ev[kind].values()
                                              for v in (c["t_train"], c["t_test"]))
    assert len({r.summary["steps_done"] for r in runs}) > 1  # members stopped at different steps


def test_event_watch_rule():
    class C:
        class train:
            early_stop = 2.0

        class events:
            test_metric, thresholds, relative = "test_loss", [0.5], [0.1]

    w = EventWatch(C)
    rows = [(0, 1.0, 2.0), (1, 0.4, 1.5), (3, 0.05, 0.6), (5, 0.01, 0.4), (8, 0.01, 0.19), (15, 0.01, 0.1),
            (16, 0.01, 0.1)]
    got = [w.update({"step": s, "train_loss": a, "test_loss": b}) for s, a, b in rows]
    # crossings: train 0.5 @1, test 0.5 @5, train 0.1·1.0 @3, test 0.1·2.0 @8 → settled at t ≥ 16
    assert got == [False] * 6 + [True] and w.last_crossing == 8
    C.train.early_stop = None
    assert not EventWatch(C).update({"step": 0, "train_loss": 0.0, "test_loss": 0.0})
    C.events.thresholds, C.events.relative, C.train.early_stop = [], [], 1.0
    assert not EventWatch(C).update({"step": 0, "train_loss": 0.0, "test_loss": math.nan})


def test_batch_key_groups(tmp_path):
    base = small_config(tmp_path)
    k = batch_key(base)
    assert k is not None
    same = [{"scaling.alpha": 3.0}, {"model.eps": 0.1}, {"optim.lr": 0.1}, {"model.seed": 7},
            {"model.sigma": 0.5}, {"train.steps": 10}, {"probes.names": ["loss"]}, {"output.name": "x"},
            {"events.thresholds": [0.01]}, {"train.early_stop": 2.0}, {"scaling.lr_rule": "plain"}]
    for over in same:
        assert batch_key(base.replace(**over)) == k, over
    differ = [{"model.N": 17}, {"task.D": 11}, {"task.P": 41}, {"task.data_seed": 5}, {"model.phi": "tanh"},
              {"optim.name": "momentum"}, {"scaling.centre": False}, {"train.engine": "auto"},
              {"train.dtype": "float32"}, {"optim.weight_decay": 0.1}]
    keys = {batch_key(base.replace(**over)) for over in differ}
    assert None not in keys and k not in keys and len(keys) == len(differ)
    assert batch_key(base.replace(**{"train.grad": "autograd"})) is None
    assert batch_key(base.replace(**{"train.loss": "cross_entropy"})) is None


def test_run_batched_rejects_mixed_or_bad_groups(tmp_path):
    a = small_config(tmp_path)
    with pytest.raises(ConfigError, match="config 1 differs"):
        run_batched([a, a.replace(**{"model.N": 17})], [tmp_path / "a", tmp_path / "b"], [None, None])
    with pytest.raises(ConfigError, match="cannot be batched.*autograd"):
        run_batched([a.replace(**{"train.grad": "autograd"})], [tmp_path / "c"], [None])
    with pytest.raises(ConfigError, match="share a run directory"):
        run_batched([a, a], [tmp_path / "d", tmp_path / "d"], [None, None])
    assert not (tmp_path / "a").exists() and not (tmp_path / "d").exists()  # nothing started


def test_interrupt_leaves_every_member_readable(tmp_path, monkeypatch):
    from grokscope.engines.ensemble import EnsembleReduced
    from grokscope.store import load_run
    calls = {"n": 0}
    orig = EnsembleReduced.step

    def step(self):
        calls["n"] += 1
        if calls["n"] == 57:
            raise KeyboardInterrupt
        return orig(self)

    monkeypatch.setattr(EnsembleReduced, "step", step)
    # no events: the exact-event search replays steps, which this call counter would count
    cfgs = _cfgs(tmp_path, {"train.engine": "reduced", "probes.names": ["loss"], "events.thresholds": [], "events.relative": []}, MEMBERS[:2])
    with pytest.raises(KeyboardInterrupt):
        run_batched(cfgs, [tmp_path / "a", tmp_path / "b"], [None, None])
    for p in ("a", "b"):
        r = load_run(tmp_path / p)
        assert r.status == "interrupted" and r.summary["steps_done"] == 56 and r.metrics["step"].max() == 56


def test_resources_checked_for_the_whole_ensemble(tmp_path):
    from grokscope.training.build import check_resources
    cfg = small_config(tmp_path, **{"model.N": 200_000, "task.D": 50, "task.P": 100, "task.P_test": 100})
    check_resources(cfg, torch.device("cpu"))  # one member (~1.1 GiB) fits
    with pytest.raises(ConfigError, match="100000 ensemble members"):
        check_resources(cfg, torch.device("cpu"), members=100_000)


def test_member_whose_probe_raises_fails_alone(tmp_path, monkeypatch):
    from grokscope.training.record import RunState
    orig = RunState.probe

    def probe(self, step):
        if self.label == "bad" and step >= 20:
            raise ValueError("probe broke")
        return orig(self, step)

    monkeypatch.setattr(RunState, "probe", probe)
    cfgs = _cfgs(tmp_path, {"train.engine": "network", "probes.names": ["loss"]}, MEMBERS[:3])
    runs = run_batched(cfgs, [tmp_path / f"m{i}" for i in range(3)], ["ok", "bad", "ok"])
    assert [r.status for r in runs] == ["completed", "failed", "completed"]
    assert "probe broke" in runs[1].summary["reason"] and 20 <= runs[1].summary["steps_done"] < 30
    assert runs[0].summary["steps_done"] == runs[2].summary["steps_done"] == STEPS
    _assert_metrics_equal(runs[2].metrics, run(cfgs[2], tmp_path / "s2").metrics)


def test_infinite_width_members(tmp_path):
    members = [{}, {"scaling.alpha": 2.0, "model.sigma": 0.8}, {"model.eps": 0.1, "optim.lr": 0.3}]
    over = {"train.engine": "reduced", "model.init": "infinite", "probes.names": ["loss", "exact_loss", "weights"]}
    cfgs = _cfgs(tmp_path, over, members)
    runs = run_batched(cfgs, [tmp_path / f"m{i}" for i in range(3)], ["inf"] * 3)
    for i, c in enumerate(cfgs):
        s = run(c, tmp_path / f"s{i}")
        assert runs[i].status == s.status == "completed"
        _assert_metrics_equal(runs[i].metrics, s.metrics)
