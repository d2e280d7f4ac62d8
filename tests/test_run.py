"""The trainer and the run directory: determinism, schedule, events, divergence, Ctrl-C, BYO data, CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import small_config

from grokscope import load_run
from grokscope.api import run
from grokscope.cli import main
from grokscope.diagnostics.events import grokking_events
from grokscope.training.schedule import log_schedule


def test_run_directory_and_load(tmp_path):
    cfg = small_config(tmp_path, **{"output.plots": True})
    r = run(cfg, tmp_path / "r1")
    for f in ("config.yaml", "metrics.parquet", "summary.json", "figures/fig1.png", "figures/decomposition.png"):
        assert (tmp_path / "r1" / f).is_file(), f
    config, metrics, summary = load_run(tmp_path / "r1")
    assert config == cfg and summary["status"] == "completed" and r.complete
    for col in ("step", "train_loss", "test_loss", "test_loss_exact", "decomp_variance", "decomp_misalignment",
                "decomp_linear", "weight_norm", "param_change"):
        assert col in metrics, col
    assert metrics["step"].tolist() == log_schedule(200, 20).tolist()
    terms = metrics[["decomp_variance", "decomp_misalignment", "decomp_linear", "decomp_orthogonal"]].sum(axis=1)
    np.testing.assert_allclose(terms, metrics["test_loss_exact"], rtol=1e-12)
    assert summary["events"]["final"]["step"] == 200
    assert summary["timings"]["probes_s"]["loss"] >= 0
    assert not list((tmp_path / "r1").glob(".*.tmp"))  # atomic writes leave no temporaries


def test_same_config_bit_identical(tmp_path):
    cfg = small_config(tmp_path, **{"optim.name": "sgd", "optim.batch_size": 8})
    a = run(cfg, tmp_path / "a").metrics
    b = run(cfg, tmp_path / "b").metrics
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_log_schedule_density():
    s = log_schedule(100_000, 100)
    assert s[0] == 0 and s[-1] == 100_000 and np.all(np.diff(s) > 0)
    per_decade = [((s >= 10**k) & (s < 10 ** (k + 1))).sum() for k in range(2, 5)]
    assert min(per_decade) >= 95
    assert s[:11].tolist() == list(range(11))


def test_events_hand_made():
    df = pd.DataFrame({"step": [0, 1, 10, 100, 1000], "train_loss": [1.0, 0.5, 0.05, 0.01, 0.001],
                       "test_loss": [1.0, 1.2, 0.9, 0.5, 0.05]})
    ev = grokking_events(df, [0.1], [0.5])
    c = ev["absolute"]["0.1"]
    assert (c["t_train"], c["t_test"], c["grok_amount"], c["delay_ratio"]) == (10, 1000, 990, 100.0)
    r = ev["relative"]["0.5"]
    assert (r["t_train"], r["t_test"]) == (1, 100)
    assert (ev["peak_test_loss"], ev["peak_test_step"]) == (1.2, 1)
    ev2 = grokking_events(df.assign(test_loss=1.0), [0.1], [])
    assert ev2["absolute"]["0.1"]["t_test"] is None and ev2["absolute"]["0.1"]["grok_amount"] is None


def test_divergence_recorded_not_crashed(tmp_path):
    cfg = small_config(tmp_path, **{"optim.lr": 50.0, "train.steps": 5000})
    r = run(cfg, tmp_path / "div")
    s = r.summary
    assert s["status"] == "diverged" and ("not finite" in s["reason"] or "train loss" in s["reason"])
    assert 0 < s["diverged_at"] < 5000
    assert len(r.metrics) > 3 and np.isfinite(r.metrics["train_loss"].iloc[0])


def _interrupt_at_call(monkeypatch, n: int) -> None:
    """Make the network engine's n-th step() raise KeyboardInterrupt (a Ctrl-C mid-run)."""
    from grokscope.engines.network import NetworkEngine
    calls = {"n": 0}
    orig = NetworkEngine.step

    def step(self):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return orig(self)

    monkeypatch.setattr(NetworkEngine, "step", step)


def test_interrupt_leaves_readable_run(tmp_path, monkeypatch, capsys):
    _interrupt_at_call(monkeypatch, 57)
    cfg = small_config(tmp_path, **{"events.thresholds": [], "events.relative": []})  # no events: their exact search replays steps (counted calls)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, tmp_path / "int")
    r = load_run(tmp_path / "int")
    assert r.status == "interrupted" and not r.complete
    assert r.summary["steps_done"] == 56 and r.metrics["step"].max() == 56
    assert main(["show", str(tmp_path / "int")]) == 3  # interrupted: non-zero (docs/reports.md)
    assert "interrupted" in capsys.readouterr().out


def test_interrupt_between_logged_steps_keeps_twin_in_step(tmp_path, monkeypatch):
    """The trainer steps in chunks between logged steps and advances the twin after each chunk; the
    row written at an interrupt (step 61, not a logged step) must still pair the network and its twin
    at that step: equal to the last row of a completed 61-step run."""
    noev = {"events.thresholds": [], "events.relative": []}  # no events: their exact search replays steps, which the call counter would count
    ref = run(small_config(tmp_path, **{"train.steps": 61, **noev}), tmp_path / "ref").metrics.iloc[-1]
    _interrupt_at_call(monkeypatch, 62)
    with pytest.raises(KeyboardInterrupt):
        run(small_config(tmp_path, **noev), tmp_path / "int")
    last = load_run(tmp_path / "int").metrics.iloc[-1]
    assert last["step"] == ref["step"] == 61
    for col in ("train_loss", "test_loss", "lin_train_loss", "lin_test_loss"):
        assert last[col] == pytest.approx(ref[col], rel=1e-12), col


def test_byo_arrays_reproduce_generated_run(tmp_path):
    cfg = small_config(tmp_path)
    ref = run(cfg, tmp_path / "ref")
    from grokscope.training.build import build
    b = build(cfg)
    d, e = b.data, b.engine
    files = {"X_train": d.X_train, "y_train": d.y_train, "X_test": d.X_test, "y_test": d.y_test,
             "beta": d.meta["beta"]}
    over = {}
    for k, t in files.items():
        np.save(tmp_path / f"{k}.npy", t.numpy())
        over[f"task.files.{k}"] = str(tmp_path / f"{k}.npy")
    np.save(tmp_path / "W.npy", e.params0["W"].numpy())
    over["model.init_W"] = str(tmp_path / "W.npy")
    over["model.seed"] = 99  # ignored for W: the file wins
    byo = run(small_config(tmp_path, **over), tmp_path / "byo")
    pd.testing.assert_frame_equal(ref.metrics, byo.metrics, check_exact=True)


def test_cli_run_show_and_skip(tmp_path, capsys):
    args = ["run", "--preset", "fig1", "--out", str(tmp_path), "--name", "cli", "--no-progress",
            "--set", "task.D=10", "--set", "task.P=30", "--set", "task.P_test=50", "--set", "model.N=12",
            "--set", "train.steps=100", "--set", "output.plots=false"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "status: completed" in out and "loss ≤ 0.1" in out
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["status"] == "completed"
    assert main(args) == 0
    assert "already complete" in capsys.readouterr().out
    assert main(["show", str(tmp_path / "cli")]) == 0
    assert main(["run", "--preset", "nope"]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert main(["show", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert main(["run", "--preset", "fig1", "--dry-run", "--set", "model.N=7"]) == 0
    assert "N: 7" in capsys.readouterr().out


def test_float32_runs(tmp_path):
    r = run(small_config(tmp_path, **{"train.dtype": "float32"}), tmp_path / "f32")
    assert r.status == "completed"
    assert r.metrics["train_loss"].iloc[-1] < r.metrics["train_loss"].iloc[0]
    assert torch.float32  # dtype selectable end to end


def test_cli_theory(capsys):
    assert main(["theory", "--preset", "fig1", "--set", "task.D=20", "--set", "task.P=110",
                 "--set", "model.N=50"]) == 0
    out = capsys.readouterr().out
    assert "P/D = 5.5" in out and "verdict" in out


def test_auto_engine_picks_reduced_when_exact_and_matches_network(tmp_path):
    auto = run(small_config(tmp_path, **{"train.engine": "auto"}), tmp_path / "auto")
    assert auto.summary["engine"]["name"] == "reduced" and "exact" in auto.summary["engine"]["reason"]
    net = run(small_config(tmp_path), tmp_path / "net")
    cols = [c for c in net.metrics.columns if c != "kernel_velocity"]
    pd.testing.assert_frame_equal(auto.metrics[cols], net.metrics[cols], rtol=1e-9, atol=1e-12)
    tanh = run(small_config(tmp_path, **{"train.engine": "auto", "model.phi": "tanh"}), tmp_path / "tanh")
    assert tanh.summary["engine"]["name"] == "network" and "phi" in tanh.summary["engine"]["reason"]


def test_infinite_width_needs_reduced_engine(tmp_path):
    from grokscope.config import ConfigError
    with pytest.raises(ConfigError, match="model.init = 'infinite'"):
        run(small_config(tmp_path, **{"model.init": "infinite"}), tmp_path / "x")
    with pytest.raises(ConfigError, match="train.engine = 'reduced'.*optim.name"):
        run(small_config(tmp_path, **{"train.engine": "reduced", "optim.name": "adam"}), tmp_path / "y")
    r = run(small_config(tmp_path, **{"model.init": "infinite", "train.engine": "reduced"}), tmp_path / "inf")
    assert r.status == "completed" and r.summary["twin"]["method"] is None
