"""Fuzz (issue #17): generated bad config values, YAML files, array files, sweep specs and derived
expressions. Every case ends within a time limit in a ConfigError naming its key, or is accepted with
a value inside its documented range (then a config case also passes ``grokscope run --dry-run``).
Zero tracebacks, zero hangs. Hypothesis runs derandomized, so the cases are the same on every run."""
from __future__ import annotations

import contextlib
import io
import math
import signal
import zipfile

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from grokscope.cli import main
from grokscope.config import MODEL_SECTIONS, TASK_SECTIONS, Config, ConfigError, load_config
from grokscope.config.arrays import MAX_ABS, load_array
from grokscope.config.limits import find_range, name_problem
from grokscope.sweep.spec import CONFIG_KEYS, count_runs, evaluate_expression, parse_spec

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=list(HealthCheck))


@contextlib.contextmanager
def time_limit(seconds: float):
    """Fail (no hang) when the block runs longer than ``seconds``."""
    def alarm(*_):
        raise TimeoutError(f"case ran longer than {seconds} s")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --- config values --------------------------------------------------------------------------------
POLY = {"name": "polynomial", "D": 8, "P": 16, "P_test": 16}
MLP = {"name": "mlp", "hidden": [8]}
BASES = {
    "polynomial": {"task": POLY, "model": {"name": "committee", "N": 8}},
    "modular": {"task": {"name": "modular", "p": 7, "inputs": "onehot"}, "model": MLP},
    "images": {"task": {"name": "images", "n_train": 20, "n_test": 20}, "model": MLP},
    "teacher": {"task": {"name": "teacher", "D": 3, "hidden": [4], "K": 2, "P": 10, "P_test": 10}, "model": MLP},
    "eigen": {"task": {"name": "eigen", "D": 8, "P": 10, "P_test": 10, "j": 3}, "model": {"name": "committee", "N": 8}},
    "committee": {"task": POLY, "model": {"name": "committee", "N": 8}},
    "mlp": {"task": POLY, "model": MLP},
    "transformer": {"task": {"name": "modular", "p": 7, "inputs": "tokens"}, "scaling": {"lr_rule": "inv_alpha2"},
                    "model": {"name": "transformer", "d_model": 8, "n_heads": 2, "d_mlp": 16}},
    "parity": {"task": {"name": "parity", "n_noise": 4, "n_samples": 40}, "model": MLP},
}
_RNN = {"model": {"name": "rnn", "N": 8}, "scaling": {"centre": False, "lr_rule": "plain"},
        "train": {"loss": "cross_entropy"}, "probes": {"names": ["loss", "accuracy"]}}
BASES.update({
    "neuro": {"task": {"name": "neuro", "n_train": 8, "n_test": 8}, **_RNN},
    "seq_digits": {"task": {"name": "seq_digits", "n_train": 8, "n_test": 8}, **_RNN},
    "rnn": {"task": {"name": "seq_digits", "n_train": 8, "n_test": 8}, **_RNN},
})
# keys whose large accepted values allocate memory at build time: item 12's memory guard, not config's
SIZE_KEYS = {"task.D", "task.P", "task.P_test", "task.K", "task.hidden", "task.n_train", "task.n_test",
             "task.j", "task.n_index", "task.p", "model.N", "model.hidden", "model.d_model", "model.d_head",
             "model.d_mlp", "model.n_heads", "init.rank", "optim.batch_size", "train.steps", "model.k", "task.k",
             "task.n_samples", "task.n_noise", "task.n_relevant", "model.moe_experts", "model.moe_d_expert",
             "probes.lc_points", "probes.lc_vertices", "probes.liu_trials", "probes.liu_kernel_trials",
             "probes.robust_iters", "init.recurrent.rank", "init.recurrent.effective_rank", "task.timing",
             "task.dt", "model.tau", "model.dt", "optim.warmup_steps"}
KEYS = sorted(CONFIG_KEYS)


def _families(key: str) -> list[str]:
    sec, _, field = key.partition(".")
    table = {"task": TASK_SECTIONS, "model": MODEL_SECTIONS}.get(sec)
    if table is None:
        return ["polynomial"]
    return [n for n, cls in table.items() if field.split(".")[0] in cls.model_fields]


HOSTILE = [float("inf"), float("-inf"), float("nan"), 1e308, -1e308, 1e-320, 5e-324, 0.0, -0.0, -1.0, 1e6, 1e7,
           1e12, 1e13, 2**63, 2**63 - 1, 2**64, -2**63, 10**29, 10**400, True, False, None, "", "1e400", "nan",
           "-1", "abc", "../x", "/abs", "..", "a/b", "x" * 300, "a\0b", "cuda:99999", [], [1], [True], [0, -1],
           [1e400], {}, {"a": 1}, {"nkt": 300}, [[1]], "auto", "initial"]
VALUES = st.one_of(
    st.sampled_from(HOSTILE), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=30), st.booleans(),
    st.integers(0, 64), st.floats(0, 4), st.sampled_from(["cpu", "adam", "relu", "tanh", "float32", "mse"]),
    st.lists(st.one_of(st.integers(-10, 10**12), st.floats(), st.booleans(), st.text(max_size=5)), max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers(-5, 10**7), max_size=3))


def _field(key: str, family: str):
    sec, *rest = key.split(".")
    model = TASK_SECTIONS.get(family) if sec == "task" else MODEL_SECTIONS.get(family) if sec == "model" \
        else Config.model_fields[sec].annotation
    for part in rest[:-1]:
        model = model.model_fields[part].annotation
    return model.model_fields[rest[-1]]


def _check_documented(cfg: Config, key: str, family: str, value) -> None:
    """An accepted value: finite, in its stated range, a bool only for a bool field, names safe."""
    node = cfg.to_dict()
    for part in key.split("."):
        node = node[part]
    f = _field(key, family)
    rng = find_range(f.annotation, f.metadata)
    values = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else [node]
    if rng is not None:
        for v in values:
            assert v is None or rng(v) == v, (key, value, v)
    if isinstance(value, bool):
        assert f.annotation is bool, (key, value)
    for v in values:
        if isinstance(v, float):
            assert math.isfinite(v), (key, v)
        if isinstance(v, str):
            assert "\0" not in v and len(v) <= 4096, (key, v)
    if key == "output.name" and node is not None:
        assert name_problem(node) is None, node


def _dry_run(base: dict, key: str, value, tmp) -> None:
    path = tmp / "base.yaml"
    path.write_text(yaml.safe_dump(base))
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).removesuffix("\n...\n").strip()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["run", str(path), "--set", f"{key}={text}", "--out", str(tmp / "runs"), "--dry-run"])
    assert rc in (0, 2), (key, value, rc, err.getvalue())
    if rc == 0:  # accepted: a tiny run (base: 10 steps, no figures) ends cleanly, whatever its status
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(["run", str(path), "--set", f"{key}={text}", "--out", str(tmp / "runs"), "--threads", "1"])
        assert rc in (0, 2, 3), (key, value, rc, err.getvalue())
        event("accepted, then a tiny run")


@settings(FUZZ, max_examples=400)
@given(data=st.data())
def test_fuzz_config_values(tmp_path_factory, data):
    key = data.draw(st.sampled_from(KEYS), label="key")
    family = data.draw(st.sampled_from(_families(key)), label="family")
    value = data.draw(VALUES, label="value")
    base = {**BASES[family], "train": {**BASES[family].get("train", {}), "steps": 10, "progress": False},
            "output": {"plots": False}}
    if key in ("task.name", "model.name"):
        base = {"train": base["train"], "output": base["output"]}
    with time_limit(10):
        try:
            cfg = load_config(base, {key: value})
        except ConfigError as exc:
            assert key in str(exc) or key.rsplit(".", 1)[0] + "." in str(exc), (key, value, str(exc))
            assert len(str(exc)) < 3000, len(str(exc))
            event("rejected")
            return
        _check_documented(cfg, key, family, value)
        event("accepted")
        if key not in SIZE_KEYS and not key.startswith("output."):
            event("accepted, then --dry-run")
            _dry_run(base, key, value, tmp_path_factory.mktemp("dry"))


@settings(FUZZ, max_examples=60)
@given(key=st.text(min_size=1, max_size=40), value=st.sampled_from([1, "x", [1], {"a": 1}]))
def test_fuzz_unknown_keys(key, value):
    with time_limit(5):
        try:
            load_config({}, {key: value})
        except ConfigError as exc:
            parts = [p for p in key.split(".") if p.strip()]
            shown = [q for p in parts for q in (p[:20], repr(p)[1:-1][:20])]
            assert not parts or any(q in str(exc) for q in shown), (key, str(exc))


# --- YAML files -----------------------------------------------------------------------------------
FRAGMENTS = ["model:\n", "task:\n", "  N: ", "  D: 8\n", "&a ", "*a", "[", "]", "{", "}", ", ", "- ", "\n",
             "!!python/object:os.system ", "<<: *a\n", "a: &a [1, 2]\n", "b: [*a, *a, *a, *a]\n", "\t", "\x00",
             "\xff", "é", ": ", "'", '"', "? ", "|\n  x\n", "1e400", ".inf", "~", "%YAML 1.1\n", "---\n", "...\n"]


@settings(FUZZ, max_examples=80)
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=60), raw=st.binary(max_size=40))
def test_fuzz_yaml_files(tmp_path_factory, parts, raw):
    p = tmp_path_factory.mktemp("yaml") / "c.yaml"
    p.write_bytes("".join(parts).encode("utf-8", "surrogatepass") + raw)
    with time_limit(5):
        try:
            load_config(p)
            event("accepted")
        except ConfigError as exc:
            assert len(str(exc)) < 3000
            event("rejected")


# --- array files ----------------------------------------------------------------------------------
KEY = "task.files.X_train"
DTYPES = ["<f8", "<f4", "<i8", "|b1", "<c16", "|O", "<U3", "|V8", "<f2"]


@st.composite
def array_files(draw):
    kind = draw(st.sampled_from(["npy", "npz", "forged", "random", "renamed"]))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
    a = np.asarray(draw(st.lists(st.sampled_from([0.0, 1.0, -2.5, np.nan, np.inf, 1e200, -1e11, 3.0]),
                                 min_size=math.prod(shape), max_size=math.prod(shape))), dtype=float).reshape(shape)
    ext = draw(st.sampled_from([".npy", ".npz"]))
    buf = io.BytesIO()
    if kind == "forged":
        fake = tuple(draw(st.lists(st.sampled_from([0, 1, 3, 10**6, 10**12, 2**62]), min_size=1, max_size=3)))
        hdr = {"descr": draw(st.sampled_from(DTYPES)), "fortran_order": draw(st.booleans()), "shape": fake}
        np.lib.format.write_array_header_1_0(buf, hdr)
        buf.write(draw(st.binary(max_size=64)))
        data = buf.getvalue()
    elif kind == "random":
        data = draw(st.sampled_from([b"", b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06"])) + draw(st.binary(max_size=64))
    else:
        with np.errstate(all="ignore"):
            np.save(buf, a.astype(draw(st.sampled_from(["<f8", "<f4", "<i8", "|b1"]))))
        data = buf.getvalue()
        if kind == "npz" or (kind == "renamed" and ext == ".npy"):
            zbuf = io.BytesIO()
            with zipfile.ZipFile(zbuf, "w") as z:
                for i in range(draw(st.integers(1, 2))):
                    z.writestr(f"a{i}.npy", data)
            data = zbuf.getvalue()
    expected = draw(st.one_of(st.none(), st.just(shape), st.lists(st.sampled_from([None, 1, 2, 3]), max_size=3)))
    return ext, data, expected


@settings(FUZZ, max_examples=120)
@given(case=array_files())
def test_fuzz_array_files(tmp_path_factory, case):
    ext, data, expected = case
    p = tmp_path_factory.mktemp("arr") / f"x{ext}"
    p.write_bytes(data)
    with time_limit(5):
        try:
            t = load_array(str(p), KEY, expected)
        except ConfigError as exc:
            assert KEY in str(exc) and len(str(exc)) < 1000, str(exc)
            event("rejected")
            return
    event("accepted")
    arr = t.numpy()
    assert arr.dtype == np.float64 and arr.size > 0 and np.isfinite(arr).all() and np.abs(arr).max() <= MAX_ABS
    if expected is not None:
        assert arr.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape))


# --- sweep specs ----------------------------------------------------------------------------------
SPEC_BASE = {"set": {"task.D": 8, "task.P": 16, "task.P_test": 16, "model.N": 8, "train.steps": 10}}
NUMS = st.sampled_from([1, 2, 3, 0, -1, 10**7, 10**12, True, 2.5, "3", None])
BOUNDS = st.sampled_from([0.5, 1, 2, 0, -1, float("inf"), float("nan"), 10**400, 1e308, True, "a"])
AXIS = st.one_of(
    st.lists(st.sampled_from([0.1, 0.5, 1, 2, -1, 0, True, None, "x", float("nan"), 1e400]), max_size=3),
    st.fixed_dictionaries({"lin": st.lists(BOUNDS, min_size=0, max_size=3), "num": NUMS}),
    st.fixed_dictionaries({"log": st.lists(BOUNDS, min_size=0, max_size=3), "num": NUMS}),
    st.sampled_from([3, "x", None, {}, {"lin": [1, 2]}]))
AXIS_KEYS = st.sampled_from(["scaling.alpha", "model.eps", "model.sigma", "optim.lr", "model.seed", "task.P",
                             "output.name", "nope", "model.N", "train.steps"])
EXPRS = ["9**9**9", "1/0", "model.sigma**2*scaling.alpha", "+".join(["1"] * 5000), "-" * 10000 + "1", "x[0]"]


@settings(FUZZ, max_examples=120)
@given(spec=st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.sampled_from(["ok", "../../../x", "/abs", "..", "a/b", "x" * 300, "", "ok-2"]),
                      st.integers(), st.lists(st.integers(), max_size=2), st.text(max_size=20)),
    "axes": st.dictionaries(AXIS_KEYS, AXIS, max_size=3),
    "zip": st.lists(st.dictionaries(AXIS_KEYS, AXIS, max_size=2), max_size=2),
    "seeds": NUMS, "pack_size": NUMS, "max_runs": st.sampled_from([1, 5, 10**6, 10**7, 0, True, "9"]),
    "plots": st.lists(st.fixed_dictionaries({"collapse": st.just("grok_step"), "derived": st.sampled_from(EXPRS)}),
                      max_size=1)}))
def test_fuzz_sweep_specs(spec):
    with time_limit(10):
        try:
            s = parse_spec({**spec, "base": SPEC_BASE})
        except ConfigError as exc:
            assert str(exc).startswith(("sweep", "--", "invalid")) and len(str(exc)) < 3000, str(exc)
            event("rejected")
            return
    event("accepted")
    assert count_runs(s) <= s.max_runs and name_problem(s.name) is None


# --- derived expressions --------------------------------------------------------------------------
ATOMS = st.sampled_from(["1", "0", "2.5", "9", "1e308", "1e400", "x", "model.sigma", "a.b.c", "True", "'s'", "[1]"])
EXPR = st.recursive(ATOMS, lambda e: st.one_of(
    st.tuples(e, st.sampled_from(["+", "-", "*", "/", "**", "//", "%", "@"]), e).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
    e.map(lambda x: f"-{x}"), e.map(lambda x: f"log({x})"), e.map(lambda x: f"exp({x})"),
    e.map(lambda x: f"__import__({x})")), max_leaves=40)


@settings(FUZZ, max_examples=150)
@given(expr=st.one_of(EXPR, st.text(max_size=60), st.sampled_from(EXPRS)))
def test_fuzz_expressions(expr):
    with time_limit(5):
        try:
            out = evaluate_expression(expr, lambda k: np.array([0.0, 1.0, 2.0]))
        except ConfigError as exc:
            assert "--derived" in str(exc) and len(str(exc)) < 1000
            event("rejected")
            return
    event("accepted")
    assert isinstance(out, np.ndarray) and out.dtype == np.float64


# --- the issue's hand-listed cases through the CLI ------------------------------------------------
@pytest.mark.parametrize("args", [
    ["--set", "scaling.alpha=.inf"], ["--set", "model.sigma=.nan"], ["--set", "init.scale=1e400"],
    ["--set", "events.k0_ridge=.inf"], ["--set", "model.eps=1e400"], ["--set", "scaling.alpha=1e-320"],
    ["--set", "scaling.alpha=1e308"], ["--set", "optim.lr=.inf"], ["--set", "optim.weight_decay=.inf"],
    ["--set", "model.seed=9223372036854775808"], ["--set", "train.steps=100000000000000000000000000000"],
    ["--set", "train.steps=true"], ["--set", "task.D=true"], ["--set", "model.init=infinite", "--set",
    "model.init_W=w.npy"], ["--set", "output.name=.."], ["--set", "output.name=a/b/c"], ["--name", "/abs"],
    ["--name", "x" * 300],
])
def test_issue_cases_through_cli(args, capsys):
    with time_limit(20):
        assert main(["run", "--preset", "fig1", *args, "--dry-run"]) == 2
    err = capsys.readouterr().err
    key = next(a.split("=")[0] for a in args if "=" in a) if "--set" in args else "output.name"
    assert err.startswith("grokscope: error:") and key in err, err
