"""Config: round-trip, overrides, and one clear error per bad value (key, value, what is allowed)."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import small_config

from grokscope.config import ConfigError, dump_config, load_config
from grokscope.config.presets import PRESETS, get_preset
from grokscope.training.build import build


def test_round_trip(tmp_path):
    cfg = load_config(get_preset("fig1"), ["model.N=1000", "scaling.centre=false", "events.thresholds=[0.1, 0.01]"])
    assert cfg.model.N == 1000 and cfg.scaling.centre is False and cfg.events.thresholds == [0.1, 0.01]
    p = tmp_path / "c.yaml"
    p.write_text(dump_config(cfg))
    assert load_config(p) == cfg


def test_experiment_files_equal_presets():
    from pathlib import Path
    root = Path(__file__).parents[1] / "experiments"
    for name in PRESETS:
        assert load_config(root / f"{name}.yaml") == load_config(get_preset(name)), name


@pytest.mark.parametrize("override,needles", [
    ("task.P=-5", ["task.P", "-5", "greater than 0"]),
    ("scaling.alpha=0", ["scaling.alpha", "0", "greater than 0"]),
    ("scaling.alpha=-1.5", ["scaling.alpha", "-1.5"]),
    ("model.phi=gelu", ["model.phi", "gelu", "quadratic", "relu", "tanh", "hermite"]),
    ("model.N=abc", ["model.N", "abc", "integer"]),
    ("model.Nx=3", ["model.Nx", "unknown key", "N, phi"]),
    ("optim.name=lbfgs", ["optim.name", "lbfgs", "adamw"]),
    ("optim.batch_size=10", ["optim.batch_size", "sgd"]),
    ("optim.betas=[0.9, 1.5]", ["optim.betas[1]", "1.5"]),
    ("train.device=tpu", ["train.device", "tpu", "cuda"]),
    ("events.thresholds=[0.1, -1]", ["events.thresholds", "-1"]),
    ("train.steps=0", ["train.steps", "0"]),
])
def test_bad_values_name_key_value_and_allowed(override, needles):
    with pytest.raises(ConfigError) as err:
        load_config(get_preset("fig1"), [override])
    msg = str(err.value)
    for n in needles:
        assert n in msg, (n, msg)


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config({}, ["model.N"])


def test_too_large_for_memory_fails_before_work(tmp_path):
    cfg = small_config(tmp_path, **{"model.N": 10**7, "task.D": 10**5})
    with pytest.raises(ConfigError, match=r"model.N = 10000000 .*GiB"):
        build(cfg)


def test_unsupported_probe_fails_at_config_time(tmp_path):
    cfg = small_config(tmp_path, **{"model.phi": "relu", "probes.names": ["decomposition"]})
    with pytest.raises(ConfigError, match="decomposition.*phi = quadratic"):
        build(cfg)
    with pytest.raises(ConfigError, match="unknown probe"):
        build(small_config(tmp_path, **{"probes.names": ["nope"]}))


def test_misshaped_init_file(tmp_path):
    np.save(tmp_path / "W.npy", np.zeros((3, 3)))
    cfg = small_config(tmp_path, **{"model.init_W": str(tmp_path / "W.npy")})
    with pytest.raises(ConfigError, match=r"model.init_W.*\(3, 3\).*\(16, 12\)"):
        build(cfg)
    cfg = small_config(tmp_path, **{"model.init_W": str(tmp_path / "missing.npy")})
    with pytest.raises(ConfigError, match="model.init_W.*missing.npy"):
        build(cfg)


def test_yaml_top_level_must_be_mapping(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(p)
