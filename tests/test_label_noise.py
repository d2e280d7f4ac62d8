"""task.label_noise (issue #22 §3): a seeded fraction of training labels moved to another class, the
corrupted indices recorded, test labels untouched; config errors; run ids unchanged at ξ = 0; the
label_noise probe; the phase-diagram sweep spec."""
from __future__ import annotations

import pytest
import torch

from grokscope.config import ConfigError, load_config
from grokscope.store import run_id
from grokscope.tasks.base import TASKS


def _modular(**kw):
    return load_config({"task": {"name": "modular", "p": 13, "frac_train": 0.5, "inputs": "onehot", **kw},
                        "model": {"name": "mlp", "hidden": [8]}}).task


@pytest.mark.parametrize("xi", [0.1, 0.37])
def test_modular_noise_is_exact_seeded_and_recorded(xi):
    clean = TASKS["modular"](_modular())
    noisy = TASKS["modular"](_modular(label_noise=xi, label_noise_seed=3))
    P = clean.P
    idx = noisy.meta["corrupted"]
    assert idx.shape[0] == round(xi * P) and torch.equal(idx, idx.sort().values) and len(set(idx.tolist())) == len(idx)
    changed = (noisy.y_train != clean.y_train).nonzero().flatten()
    assert torch.equal(changed, idx)                                   # every recorded label changed, no other
    assert torch.equal(noisy.meta["labels_clean_train"], clean.y_train)
    assert ((noisy.y_train >= 0) & (noisy.y_train < 13)).all()
    assert torch.equal(noisy.X_train, clean.X_train) and torch.equal(noisy.y_test, clean.y_test)
    again = TASKS["modular"](_modular(label_noise=xi, label_noise_seed=3))
    assert torch.equal(again.y_train, noisy.y_train)
    other = TASKS["modular"](_modular(label_noise=xi, label_noise_seed=4))
    assert not torch.equal(other.meta["corrupted"], idx)


def test_image_noise():
    cfg = load_config({"task": {"name": "images", "source": "digits", "n_train": 200, "n_test": 50,
                                "label_noise": 0.25}, "model": {"name": "mlp", "hidden": [8]}}).task
    clean = TASKS["images"](load_config({"task": {"name": "images", "source": "digits", "n_train": 200,
                                                  "n_test": 50}, "model": {"name": "mlp"}}).task)
    noisy = TASKS["images"](cfg)
    assert torch.equal((noisy.y_train != clean.y_train).nonzero().flatten(), noisy.meta["corrupted"])
    assert noisy.meta["corrupted"].shape[0] == 50 and torch.equal(noisy.y_test, clean.y_test)


def test_config_errors_and_neutral_run_ids():
    for bad in (1.0, -0.1, "x"):
        with pytest.raises(ConfigError, match="task.label_noise"):
            load_config({"task": {"name": "modular", "label_noise": bad}})
    with pytest.raises(ConfigError, match="task.label_noise"):
        load_config({"task": {"name": "polynomial", "label_noise": 0.1}})   # not a classification task
    base = {"task": {"name": "modular", "p": 13, "inputs": "onehot"}, "model": {"name": "mlp"}}
    zero = load_config(base, {"task.label_noise": 0.0, "task.label_noise_seed": 0})
    d = zero.to_dict()
    for k in ("label_noise", "label_noise_seed"):
        del d["task"][k]
    import hashlib
    import json

    from grokscope.store import _drop_neutral_defaults
    _drop_neutral_defaults(d)
    d.pop("output")
    d["train"].pop("progress")
    d["train"].pop("early_stop", None)
    assert run_id(zero) == hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]
    assert run_id(load_config(base, {"task.label_noise": 0.1})) != run_id(zero)


def test_label_noise_probe(tmp_path):
    from grokscope.training.loop import run
    cfg = load_config({
        "task": {"name": "modular", "p": 11, "frac_train": 0.6, "inputs": "onehot", "label_noise": 0.2},
        "model": {"name": "mlp", "hidden": [64], "activation": "square", "init": "normal", "sigma": 0.2},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adam", "lr": 1e-2}, "train": {"steps": 300, "log_per_decade": 3, "progress": False},
        "probes": {"names": ["loss", "accuracy", "label_noise"]}, "output": {"root": str(tmp_path), "plots": False}})
    df = run(cfg).metrics
    last = df.iloc[-1]
    assert last.train_acc == 1.0 and last.noise_memorised == 1.0 and last.noise_corrected == 0.0  # memorised
    assert df.noise_memorised.iloc[0] < 0.5


def test_phase_diagram_spec():
    from grokscope.sweep.spec import expand, load_spec
    full, quick = load_spec(preset="label-noise-phase"), load_spec(preset="label-noise-phase", quick=True)
    for spec in (full, quick):
        plan = expand(spec)
        xis = {r.cfg.task.label_noise for r in plan}
        wds = {r.cfg.optim.weight_decay for r in plan}
        assert len(plan) == len(xis) * len(wds) and len(xis) >= 2 and len(wds) >= 2
    assert len(expand(quick)) < len(expand(full))


def test_the_run_records_its_corrupted_indices(tmp_path):
    """summary.json["label_noise"]["corrupted"] lists the replaced train labels, as the task drew them."""
    from grokscope.config import load_config
    from grokscope.config.presets import SMALL, get_preset
    from grokscope.tasks.modular import build as build_modular
    from grokscope.training.loop import run
    cfg = load_config(get_preset("label-noise"), {**SMALL["label-noise"], "train.steps": 5,
                                                  "output.root": str(tmp_path), "output.plots": False})
    r = run(cfg, tmp_path / "r", quiet=True)
    data = build_modular(cfg.task)
    assert r.summary["label_noise"]["corrupted"] == [int(i) for i in data.meta["corrupted"]]
    assert len(r.summary["label_noise"]["corrupted"]) > 0
