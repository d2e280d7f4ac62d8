"""Diagnostics never stop training (issue #17, item 15): only the trained model's own loss ends a run;
a probe that raises or returns non-finite values is recorded (NaN, with its reason in the summary)."""
from __future__ import annotations

import math

import numpy as np

from grokscope import load_config, run
from grokscope.training.probes import PROBES, Probe

QUIET = {"train.progress": False, "output.plots": False}


def _cfg(tmp_path, **over):
    return load_config(None, {"task.D": 10, "task.P": 40, "task.P_test": 30, "model.N": 20, "train.steps": 300,
                              "output.root": str(tmp_path), **QUIET, **over})


def test_a_diverging_twin_does_not_end_the_run(tmp_path):
    """The issue's case: η = 1e4, uncentred tanh committee — the network settles, its linearised twin
    blows up at step 49. The run completes; the twin's columns turn non-finite and say why."""
    r = run(_cfg(tmp_path, **{"optim.lr": 1e4, "scaling.centre": False, "model.phi": "tanh"}), tmp_path / "a",
            quiet=True)
    assert r.status == "completed" and r.summary["steps_done"] == 300
    assert math.isfinite(r.metrics["train_loss"].iloc[-1])
    assert not np.isfinite(r.metrics["lin_train_loss"].iloc[-1])
    assert "not finite" in r.summary["diagnostics"]["lin_train_loss"]


def test_a_failing_probe_is_recorded_as_nan(tmp_path):
    def boom(ctx):
        if ctx.cache.step >= 100:
            raise ValueError("probe broke")
        return {"boom": 1.0}

    PROBES["boom"] = Probe("boom", ("boom",), boom, lambda cfg: None, "fails after step 100")
    try:
        r = run(_cfg(tmp_path, **{"probes.names": ["loss", "boom"]}), tmp_path / "b", quiet=True)
    finally:
        del PROBES["boom"]
    assert r.status == "completed"
    early, late = r.metrics[r.metrics.step < 100], r.metrics[r.metrics.step >= 100]
    assert (early["boom"] == 1.0).all() and late["boom"].isna().all() and len(late) > 0
    assert "ValueError: probe broke" in r.summary["diagnostics"]["boom"]


def test_the_train_loss_still_ends_a_diverging_run(tmp_path):
    r = run(_cfg(tmp_path, **{"optim.lr": 1e6, "model.eps": 1.0}), tmp_path / "c", quiet=True)
    assert r.status == "diverged" and "train_loss" in r.summary["reason"]


def test_an_all_zero_target_is_not_a_divergence(tmp_path):
    beta = tmp_path / "beta.npy"
    np.save(beta, np.zeros(10))
    r = run(_cfg(tmp_path, **{"task.files.beta": str(beta), "train.steps": 50}), tmp_path / "d", quiet=True)
    assert r.status == "completed", r.summary.get("reason")


def test_a_single_test_point_still_gives_figures_and_report(tmp_path):
    r = run(load_config(None, {"task.D": 6, "task.P": 20, "task.P_test": 1, "model.N": 8, "train.steps": 50,
                               "train.progress": False, "output.root": str(tmp_path)}), tmp_path / "e", quiet=True)
    assert r.status == "completed" and (r.path / "report.html").is_file()
    assert (r.path / "figures" / "fig1.png").is_file()
