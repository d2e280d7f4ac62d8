"""Issue #17, validation items 7–14: every bad input is one clean ConfigError naming its key.

Each test failed before the fix (tracebacks, hangs, or silently accepted values)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import yaml

from grokscope.cli import main
from grokscope.config import ConfigError, load_config
from grokscope.config.arrays import load_array
from grokscope.sweep.spec import parse_spec

TINY = {"task": {"D": 8, "P": 16, "P_test": 16}, "model": {"N": 8}, "train": {"steps": 10, "progress": False}}


def _error(over: dict, base: dict | None = None) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(base if base is not None else TINY, over)
    return str(exc.value)


# --- 7. non-finite and extreme floats -------------------------------------------------------------
@pytest.mark.parametrize("key", ["scaling.alpha", "model.sigma", "init.scale", "events.k0_ridge", "model.eps",
                                 "optim.lr", "optim.weight_decay", "optim.momentum", "events.departure",
                                 "output.flush_every_s", "optim.adam_eps", "train.early_stop"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), "1e400", 10**400])
def test_non_finite_floats_rejected(key, value):
    msg = _error({key: value})
    assert key in msg and "finite" in msg and "allowed" in msg, msg


@pytest.mark.parametrize("over", [{"scaling.alpha": 1e-320}, {"scaling.alpha": 1e308}, {"scaling.alpha": "1e-320"},
                                  {"model.sigma": 1e300}, {"optim.lr": 1e300}, {"events.thresholds": [1e-1, 1e300]},
                                  {"model.eps": -1e300}])
def test_extreme_floats_rejected_with_range(over):
    key = next(iter(over))
    msg = _error(over)
    assert key in msg and " x ≤ " in msg and "allowed" in msg, msg


def test_float_ranges_are_stated_in_descriptions():
    from grokscope.config import Scaling
    assert "1e-06 ≤ x ≤ 1e+06" in Scaling.model_fields["alpha"].description


# --- 8. integers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("over", [{"model.seed": 2**63}, {"train.seed": 2**64}, {"task.data_seed": -1},
                                  {"train.steps": 10**29}, {"task.D": 10**12}, {"probes.expensive_points": 10**20}])
def test_integers_bounded(over):
    key = next(iter(over))
    msg = _error(over)
    assert key in msg and "allowed: an integer" in msg, msg


@pytest.mark.parametrize("key", ["train.steps", "task.D", "model.N", "task.P", "model.seed", "scaling.alpha",
                                 "optim.lr", "train.log_per_decade"])
def test_booleans_are_not_numbers(key):
    msg = _error({key: True})
    assert key in msg and "boolean" in msg, msg


def test_dry_run_refuses_huge_steps(capsys):
    assert main(["run", "--preset", "fig1", "--set", "train.steps=100000000000000000000000000000", "--dry-run"]) == 2
    assert "train.steps" in capsys.readouterr().err


# --- 9. silently ignored settings -----------------------------------------------------------------
def test_duplicate_yaml_key_is_an_error(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("task:\n  D: 8\nmodel:\n  N: 8\ntask:\n  P: 16\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'task' \(lines 1 and 5\)"):
        load_config(p)
    p.write_text("model:\n  N: 8\n  N: 9\n")
    with pytest.raises(ConfigError, match="duplicate key 'N'"):
        load_config(p)


def test_yaml_merge_keys_still_override(tmp_path):
    p = tmp_path / "merge.yaml"
    p.write_text("model: &m {N: 8, sigma: 2.0}\noptim: {lr: 0.5}\ntask:\n  D: 8\n")
    assert load_config(p).model.sigma == 2.0


def test_init_W_with_infinite_init_is_an_error():
    msg = _error({"model.init": "infinite", "model.init_W": "W.npy"})
    assert "model.init_W" in msg and "infinite" in msg


def test_unknown_probe_in_cadence_is_an_error(tmp_path):
    from grokscope.training.build import build
    cfg = load_config(TINY, {"probes.cadence": {"nkt": 300}, "output.root": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"probes\.cadence.*nkt"):
        build(cfg)


# --- 10. hostile YAML -----------------------------------------------------------------------------
def _laughs(levels: int = 9) -> str:
    lines = ["defs:", "  x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"  x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nmodel:\n  N: [{', '.join([f'*x{levels - 1}'] * 9)}]\n"


def test_billion_laughs_fails_fast_and_short(tmp_path, capsys):
    p = tmp_path / "laughs.yaml"
    p.write_text(_laughs())
    assert len(p.read_bytes()) < 600
    t = time.perf_counter()
    assert main(["run", str(p), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert time.perf_counter() - t < 5 and "aliases" in err and len(err) < 1000, err


def test_error_messages_truncate_values(tmp_path):
    msg = _error({"model.N": ["x" * 5000] * 100})
    assert "model.N" in msg and len(msg) < 1000


@pytest.mark.parametrize("content,needle", [
    (bytes(range(256)) * 4, "not UTF-8"),
    ("model:\n  phi: café\n".encode("latin-1"), "not UTF-8"),
    (b"model:\n  N: 5\x00\n", "unacceptable character"),
    (("model:\n  N: " + "[" * 5000 + "]" * 5000 + "\n").encode(), "nesting deeper"),
    (("model:\n  N: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n").encode(), "nesting deeper"),
    (b"model: &m\n  N: *m\n", "recursive alias"),
    (b"# " + b"x" * (2 << 20), "at most"),
])
def test_bad_yaml_files_give_clean_errors(tmp_path, content, needle):
    p = tmp_path / "bad.yaml"
    p.write_bytes(content)
    with pytest.raises(ConfigError, match=needle):
        load_config(p)


def test_directory_and_device_say_what_they_are(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="character device"):
        load_config("/dev/null")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_set_values_use_the_strict_loader():
    with pytest.raises(ConfigError, match="duplicate key"):
        load_config(TINY, ["task={D: 8, D: 9}"])


# --- 11. arrays -----------------------------------------------------------------------------------
KEY = "task.files.X_train"


def _array_error(path, shape=None) -> str:
    with pytest.raises(ConfigError) as exc:
        load_array(str(path), KEY, shape)
    msg = str(exc.value)
    assert KEY in msg, msg
    return msg


def test_renamed_npz_and_npy(tmp_path):
    np.savez(tmp_path / "a.npz", a=np.ones((3, 2)))
    (tmp_path / "a.npz").rename(tmp_path / "z.npy")
    assert ".npz archive named .npy" in _array_error(tmp_path / "z.npy")
    np.save(tmp_path / "b.npy", np.ones((3, 2)))
    (tmp_path / "b.npy").rename(tmp_path / "y.npz")
    assert ".npy file named .npz" in _array_error(tmp_path / "y.npz")


def test_header_shape_checked_before_loading(tmp_path):
    p = tmp_path / "huge.npy"
    with open(p, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
        fh.write(b"\0" * 64)
    assert "header declares shape (1000000, 1000000)" in _array_error(p)
    p = tmp_path / "trunc.npy"
    with open(p, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (100, 100)})
        fh.write(b"\0" * 64)
    assert "truncated" in _array_error(p)


def test_expected_shape_checked_from_header(tmp_path):
    p = tmp_path / "x.npy"
    with open(p, "wb") as fh:  # a header that lies about its data: the shape check must come first
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (10, 5)})
        fh.write(b"\0" * 400)
    assert "does not match the expected (550, 100)" in _array_error(p, (550, 100))


@pytest.mark.parametrize("scale", [1e200, -1e20])
def test_extreme_values_rejected(tmp_path, scale):
    np.save(tmp_path / "x.npy", np.ones((3, 2)) * scale)
    assert "|x| ≤ 1e+10" in _array_error(tmp_path / "x.npy")


def test_empty_array_rejected(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((0, 2)))
    assert "no values" in _array_error(tmp_path / "x.npy")


# --- 13. sweep specs ------------------------------------------------------------------------------
BASE = {"set": {"task.D": 8, "task.P": 16, "task.P_test": 16, "model.N": 8, "train.steps": 10}}


def _spec_error(**kw) -> str:
    t = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        parse_spec({"name": "s", "base": BASE, **kw})
    assert time.perf_counter() - t < 5
    return str(exc.value)


@pytest.mark.parametrize("kw", [
    {"axes": {"scaling.alpha": {"lin": [1, 2], "num": 10_000_000}}},
    {"seeds": 1_000_000_000},
    {"axes": {"scaling.alpha": {"lin": [1, 2], "num": 1000}, "model.eps": {"lin": [0, 1], "num": 1000}}},
    {"axes": {"model.eps": [0.1, 0.2, 0.3]}, "seeds": 2, "max_runs": 5},
])
def test_grid_counted_before_expanding(kw):
    assert "max_runs" in _spec_error(**kw)


def test_max_runs_is_configurable():
    spec = parse_spec({"name": "s", "base": BASE, "axes": {"model.eps": [0.1, 0.2, 0.3]}, "seeds": 2, "max_runs": 6})
    assert spec.max_runs == 6
    assert "max_runs" in _spec_error(max_runs=10**9)


@pytest.mark.parametrize("name", ["../../../x", "/abs/x", [1], "a/b", "..", "x" * 300])
def test_sweep_name_is_one_path_component(name):
    assert "sweep name" in _spec_error(name=name)


@pytest.mark.parametrize("name", ["..", "a/b/c", "/abs", "x" * 300, ["a"], "a\0b"])
def test_output_name_is_one_path_component(name):
    assert "output.name" in _error({"output.name": name})


def test_run_name_flag_checked(capsys):
    assert main(["run", "--preset", "fig1", "--name", "../x", "--dry-run"]) == 2
    assert "output.name" in capsys.readouterr().err


# --- 14. expressions ------------------------------------------------------------------------------
@pytest.mark.parametrize("expr,needle", [
    ("9**9**9", "exponent"), ("x**2000", "exponent"), ("+".join(["1"] * 5000), "characters"),
    ("-" * 200_000 + "1", "characters"), ("(" * 300 + "1" + ")" * 300, "characters"),
    ("-" * 40 + "1", "too large"), ("__import__('os')", "not allowed"), ("1e400", "too large"),
])
def test_expressions_bounded(expr, needle):
    from grokscope.sweep.spec import evaluate_expression
    with pytest.raises(ConfigError, match=needle):
        evaluate_expression(expr, lambda k: np.ones(3))


def test_division_by_zero_gives_nan():
    from grokscope.sweep.spec import evaluate_expression
    out = evaluate_expression("1/x", lambda k: np.array([2.0, 0.0]))
    assert out[0] == 0.5 and np.isnan(out[1])
    assert np.isnan(evaluate_expression("1/0", lambda k: np.ones(1)))


def test_spec_plot_expressions_checked():
    msg = _spec_error(plots=[{"collapse": "grok_step", "derived": "9**9**9"}])
    assert "plots[0].derived" in msg and "exponent" in msg


def test_yaml_sweep_spec_hardened(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"name": "s", "base": BASE}) + "name: t\n")
    from grokscope.sweep.spec import load_spec
    with pytest.raises(ConfigError, match="duplicate key 'name'"):
        load_spec(p)
