"""The autograd ensemble (engines/ensemble_autograd.py): E rate-RNN members trained as one by
torch.func.vmap, against a loop of single runs of the same configs.

Tolerance: float64, 1e-10 relative (parameters pointwise against the largest entry; logged metric
columns as max|member − single| / max|single|). Batched products may round differently from the
single ones by an ulp per operation; observed on CPU: 0 (bit-equal) after 40 steps.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from grokscope.api import run, run_batched
from grokscope.config import ConfigError, load_config
from grokscope.engines.ensemble_autograd import EnsembleAutograd
from grokscope.training.batched import batch_key, ensemble_of
from grokscope.training.build import build

TOL = 1e-10
MEMBERS = [{}, {"model.seed": 3, "optim.lr": 0.01},
           {"init.recurrent.kind": "lowrank", "init.recurrent.rank": 2, "scaling.alpha": 2.0},
           {"init.recurrent.kind": "aligned", "init.recurrent.rank": 1, "model.seed": 1}]


def _cfg(tmp_path, **over):
    base = {"task": {"name": "seq_digits", "n_train": 48, "n_test": 40},
            "model": {"name": "rnn", "N": 12, "seed": 0},
            "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
            "optim": {"name": "momentum", "lr": 0.02, "momentum": 0.9, "batch_size": 16},
            "train": {"steps": 40, "loss": "cross_entropy", "dtype": "float64", "log_per_decade": 10,
                      "progress": False, "engine": "network"},
            "probes": {"names": ["loss", "accuracy", "liu", "liu_kernel"], "liu_trials": 20, "liu_kernel_trials": 3},
            "output": {"root": str(tmp_path / "runs"), "plots": False, "report": False}}
    return load_config(base, over)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_members_share_one_batch_key_and_pick_the_autograd_ensemble(tmp_path):
    cfgs = [_cfg(tmp_path, **m) for m in MEMBERS]
    keys = {batch_key(c) for c in cfgs}
    assert len(keys) == 1 and None not in keys  # seed, init.*, α, lr are member values
    differ = [{"model.N": 13}, {"task.n_train": 50}, {"model.activation": "tanh"}, {"optim.batch_size": 8},
              {"train.seed": 1}, {"train.loss": "mse"}]
    other = {batch_key(cfgs[0].replace(**o)) for o in differ}
    assert None not in other and not other & keys and len(other) == len(differ)
    ens = ensemble_of([build(c) for c in cfgs], cfgs[0])
    assert isinstance(ens, EnsembleAutograd) and ens.E == len(cfgs)


def test_step_equals_single_engines(tmp_path):
    """20 steps (momentum, shared mini-batches) of the stack against each member's own engine."""
    cfgs = [_cfg(tmp_path, **m) for m in MEMBERS]
    ens = ensemble_of([build(c) for c in cfgs], cfgs[0])
    singles = [build(c).engine for c in cfgs]
    for _ in range(20):
        losses = ens.step()
        ref = torch.stack([s.step() for s in singles])
        assert _rel(losses, ref) <= TOL
    for i, s in enumerate(singles):
        for k, v in s.params.items():
            assert _rel(ens.params[k][i], v) <= TOL, (i, k)
            assert ens.members[i].params[k].data_ptr() == ens.params[k][i].data_ptr()  # the view is the slice


def test_keep_drops_members_and_freezes_their_views(tmp_path):
    cfgs = [_cfg(tmp_path, **m) for m in MEMBERS[:3]]
    ens = ensemble_of([build(c) for c in cfgs], cfgs[0])
    ens.step()
    dropped = ens.members[1]
    frozen = {k: v.clone() for k, v in dropped.params.items()}
    ens.keep([0, 2])
    assert ens.E == 2 and ens.eta.shape == (2,) and ens.alpha.tolist() == [1.0, 2.0]
    ens.step()
    assert all(torch.equal(dropped.params[k], v) for k, v in frozen.items())


def test_run_batched_equals_single_runs(tmp_path):
    """Every logged column (losses, accuracies, the liu measures), the status and the final parameters."""
    cfgs = [_cfg(tmp_path, **m) for m in MEMBERS]
    runs = run_batched(cfgs, [tmp_path / f"m{i}" for i in range(len(cfgs))], ["m"] * len(cfgs))
    for i, (c, r) in enumerate(zip(cfgs, runs)):
        s = run(c, tmp_path / f"s{i}")
        assert r.status == s.status == "completed"
        assert r.summary["ensemble"]["engine"] == "EnsembleAutograd" and r.summary["ensemble"]["member"] == i
        a, b = r.metrics, s.metrics
        assert list(a.columns) == list(b.columns) and a["step"].tolist() == b["step"].tolist()
        assert {"liu_weight_change", "liu_kernel_alignment"} <= set(a.columns)
        for col in a.columns:
            x, y = a[col].to_numpy(float), b[col].to_numpy(float)
            ok = ~np.isnan(y)
            assert np.array_equal(np.isnan(x), np.isnan(y)), col
            if ok.any():
                assert np.abs(x[ok] - y[ok]).max() <= TOL * max(np.abs(y[ok]).max(), 1e-300), (i, col)
        pa, pb = (torch.load(tmp_path / d / "params_final.pt") for d in (f"m{i}", f"s{i}"))
        for k in pb:
            assert _rel(pa[k], pb[k]) <= TOL, (i, k)


def test_mismatched_models_are_refused(tmp_path):
    a, b = _cfg(tmp_path), _cfg(tmp_path, **{"model.N": 13})
    with pytest.raises(ConfigError, match="config 1 differs"):
        run_batched([a, b], [tmp_path / "a", tmp_path / "b"], [None, None])
    with pytest.raises(ValueError, match="member 1's model"):
        EnsembleAutograd([build(a).engine, build(b).engine], [0.1, 0.1], a.optim)
