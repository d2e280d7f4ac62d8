"""Events at single-step resolution (training/exact_events.py): a run logging on a sparse schedule
reports exactly the t_train / t_test of the same run logging every step (the brute-force reference),
and its logged metrics are bit-for-bit those of the every-step run at the same steps (the replays
leave the trajectory untouched). Engines: reduced, network committee, mini-batch SGD, MLP on modular
addition, batched ensembles with per-member schedules."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from grokscope.config import load_config
from grokscope.config.presets import get_preset
from grokscope.diagnostics.events import grokking_events
from grokscope.sweep.results import summary_columns
from grokscope.training.loop import run, run_batched

EVERY = 10_000  # log_per_decade: every integer step of these short runs is a log point
TH, REL = [0.1, 0.03], [0.5, 0.1]
SMALL_FIG1 = {"train.steps": 400, "task.D": 20, "task.P": 100, "task.P_test": 200, "model.N": 40, "model.eps": 0.2,
              "probes.names": ["loss"], "events.thresholds": TH, "events.relative": REL}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _times(summary):
    ev = summary["events"]
    return {(k, th): (c["t_train"], c["t_test"], c["grok_amount"]) for k in ("absolute", "relative")
            for th, c in ev[k].items()}


def _check(sparse, every, th=TH, rel=REL):
    """Exact events equal the every-step run's; the logged-resolution ones of the sparse run are later
    somewhere (else the test could not fail); logged metrics equal bit for bit at the common steps."""
    assert sparse.summary["event_resolution"]["resolution"] == "step"
    assert not sparse.summary["event_resolution"]["inexact"]
    assert len(every.metrics) == every.summary["steps_done"] + 1  # the reference logged every step
    got, want = _times(sparse.summary), _times(every.summary)
    assert got == want
    logged = _times({"events": grokking_events(sparse.metrics, th, rel)})
    assert logged != got
    for key, (tr, te, _) in got.items():  # never later than the logged resolution
        assert tr is None or tr <= logged[key][0]
        assert te is None or te <= logged[key][1]
    m = every.metrics.set_index("step").loc[sparse.metrics["step"]]
    for col in sparse.metrics.columns:
        if col != "step":
            np.testing.assert_array_equal(sparse.metrics[col].to_numpy(), m[col].to_numpy(), err_msg=col)
    return got


def _pair(tmp_path, preset_or_dict, over):
    base = get_preset(preset_or_dict) if isinstance(preset_or_dict, str) else preset_or_dict
    out = []
    for lpd in (20, EVERY):
        cfg = load_config(base, {**over, "train.log_per_decade": lpd, "output.root": str(tmp_path / str(lpd))})
        out.append(run(cfg, quiet=True, threads=1, checkpoint_every_s=None))
    return out


@pytest.mark.parametrize("engine", ["reduced", "network"])
def test_committee_events_equal_every_step_run(tmp_path, engine):
    sparse, every = _pair(tmp_path, "fig1", {**SMALL_FIG1, "train.engine": engine})
    got = _check(sparse, every)
    assert got[("absolute", "0.1")][:2] == (62, 272)  # both sides cross; pinned for this config
    # sweeps read the summary: their t_* and grok_amount_* columns are the exact ones
    cols = summary_columns(sparse.summary)
    assert (cols["t_train_0.1"], cols["t_test_0.1"], cols["grok_amount_0.1"]) == got[("absolute", "0.1")]


def test_minibatch_sgd_replays_the_same_batches(tmp_path):
    sparse, every = _pair(tmp_path, "fig1", {**SMALL_FIG1, "optim.name": "sgd", "optim.batch_size": 32})
    got = _check(sparse, every)
    assert sparse.summary["event_resolution"]["replayed_steps"] > 0
    assert got[("absolute", "0.1")][1] is not None


def test_mlp_modular_events_equal_every_step_run(tmp_path):
    """A ReLU MLP on a + b mod 11 with AdamW (cross-entropy): it memorises, so only the train side
    crosses here; the teacher–student MLP below crosses on both sides."""
    th, rel = [1.0, 0.1], [0.5]
    mod = {"task": {"name": "modular", "p": 11, "op": "add", "frac_train": 0.6, "split_seed": 0, "inputs": "onehot"},
           "model": {"name": "mlp", "hidden": [32], "activation": "relu", "bias": False, "init": "torch_default",
                     "sigma": 1.0, "norm": "none", "seed": 0},
           "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
           "optim": {"name": "adamw", "lr": 5e-3, "weight_decay": 0.1},
           "train": {"steps": 200, "loss": "cross_entropy", "dtype": "float64"},
           "probes": {"names": ["loss"]}, "events": {"thresholds": th, "relative": rel}}
    sparse, every = _pair(tmp_path, mod, {})
    got = _check(sparse, every, th, rel)
    assert got[("absolute", "1")][0] is not None and got[("relative", "0.5")][0] is not None


def test_teacher_mlp_events_equal_every_step_run(tmp_path):
    th, rel = [0.1], [0.1]
    sparse, every = _pair(tmp_path, "fig8", {"task.hidden": [30, 30], "task.P": 50, "task.P_test": 50,
                                             "model.hidden": [30, 30], "train.steps": 150,
                                             "probes.names": ["loss"], "events.thresholds": th,
                                             "events.relative": rel})
    got = _check(sparse, every, th, rel)
    assert None not in got[("relative", "0.1")]


def test_batched_members_with_own_schedules(tmp_path):
    """Members logging on different schedules (chunks end at other members' points) and a reduced
    ensemble: each member's events equal those of the same ensemble logging every step."""
    members = ((0, 1.0, 20), (1, 0.7, 7), (2, 1.5, 33))
    runs = {}
    for mode in ("sparse", "every"):
        cfgs = [load_config(get_preset("fig1"), {**SMALL_FIG1, "model.seed": s, "scaling.alpha": a,
                                                  "train.log_per_decade": lpd if mode == "sparse" else EVERY})
                for s, a, lpd in members]
        paths = [tmp_path / mode / f"m{i}" for i in range(len(cfgs))]
        runs[mode] = run_batched(cfgs, paths, [None] * len(cfgs), threads=1)
    for sparse, every in zip(runs["sparse"], runs["every"]):
        _check(sparse, every)
