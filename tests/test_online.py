"""task.online: fresh samples every step. Grokking needs the re-use of one train set (issue #20 §3):
online, train and test cross together, and the run follows the population (P = ∞) GD of the theory."""
from __future__ import annotations

import math

import numpy as np
import pytest

from grokscope.config import ConfigError, load_config
from grokscope.config.presets import get_preset
from grokscope.theory.closed import stats_from_weights
from grokscope.theory.population import population_trajectory
from grokscope.training.build import build
from grokscope.training.loop import run, run_batched

# The README's lazy example (α = 4): offline it groks by ≈ 7 400 steps.
SMALL = {"task.D": 20, "task.P": 100, "task.P_test": 300, "model.N": 50, "model.eps": 0.05, "optim.lr": 0.5,
         "train.steps": 12000, "scaling.alpha": 4, "train.progress": False, "output.plots": False,
         "probes.names": ["loss", "exact_loss"], "train.log_per_decade": 40}


def _cfg(tmp_path, **kw):
    return load_config(get_preset("fig1"), {**SMALL, "output.root": str(tmp_path), **kw})


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("online")
    return {on: run(_cfg(tmp, **{"task.online": on}), tmp / str(on), quiet=True) for on in (False, True)}


def test_online_has_no_delay_where_offline_groks(pair):
    off = pair[False].summary["events"]["absolute"]["0.1"]
    on = pair[True].summary["events"]["absolute"]["0.1"]
    assert off["grok_amount"] > 3000 and off["delay_ratio"] > 3  # offline: the lazy network groks
    assert on["t_test"] is not None and on["delay_ratio"] < 1.1  # online: train and test cross together
    assert on["grok_amount"] < 0.05 * off["grok_amount"]
    assert pair[True].summary["engine"]["name"] == "network"


def test_online_follows_population_gradient_descent(pair, tmp_path):
    """Online GD on P fresh samples is an unbiased estimate of population GD; the run's exact test loss
    crosses 0.1 within 10 % of the step at which the theory's P = ∞ trajectory (same W₀, same η) does."""
    cfg = _cfg(tmp_path, **{"task.online": True})
    b = build(cfg)
    w0, M0 = stats_from_weights(b.params0["W"].double())
    pop = population_trajectory(b.data.target, cfg.scaling.alpha, cfg.model.eps, b.eta, cfg.model.N, w0, M0,
                                cfg.train.steps)
    t_pop = int(np.argmax(np.asarray(pop["test_loss_exact"]) < 0.1))
    m = pair[True].metrics.dropna(subset=["test_loss_exact"])
    t_sim = int(m["step"][m["test_loss_exact"] < 0.1].iloc[0])
    assert t_pop > 0 and abs(t_sim - t_pop) <= 0.1 * t_pop + 50, (t_sim, t_pop)


def test_online_is_reproducible(tmp_path):
    cfg = _cfg(tmp_path, **{"task.online": True, "train.steps": 200})
    a, b = run(cfg, tmp_path / "a", quiet=True), run(cfg, tmp_path / "b", quiet=True)
    assert a.metrics.equals(b.metrics)
    c = run(_cfg(tmp_path, **{"task.online": True, "train.steps": 200, "train.seed": 5}), tmp_path / "c", quiet=True)
    assert not math.isclose(float(a.metrics["train_loss"].iloc[-1]), float(c.metrics["train_loss"].iloc[-1]))


@pytest.mark.parametrize("over, match", [
    ({"task.files.X_train": "x.npy"}, r"task.online = true: draws fresh Gaussian inputs every step, so "
                                      r"task.files.X_train cannot be used"),
    ({"optim.name": "sgd", "optim.batch_size": 10}, r"optim.batch_size = 10 would sub-sample them"),
    ({"train.engine": "reduced"}, r"the reduced engine needs one fixed train set"),
    ({"probes.names": ["loss", "twin"]}, r"probes.names contains 'twin': not supported .* task.online"),
])
def test_online_refuses_what_needs_a_fixed_train_set(tmp_path, over, match):
    with pytest.raises(ConfigError, match=match):
        build(_cfg(tmp_path, **{"task.online": True, **over}))


def test_online_runs_are_not_batched(tmp_path):
    cfgs = [_cfg(tmp_path, **{"task.online": True, "train.steps": 20, "model.seed": s}) for s in (0, 1)]
    with pytest.raises(ConfigError, match="task.online = true: the batched engines train one fixed train set"):
        run_batched(cfgs, [tmp_path / "e0", tmp_path / "e1"], [None, None])
