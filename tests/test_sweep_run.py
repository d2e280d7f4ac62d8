"""Sweep runner: results table, resumption after SIGKILL, failures recorded, process = local, views, CLI.

Results tables are compared on every column except the timing ones (wall_s, train_s, probes_s,
steps_per_s), exactly (no tolerance): the same config on the same machine gives bit-identical metrics.
These sweeps set ``batch: false``; batched ensembles (when grokscope.training.batched exists) are compared with
single runs at 1e-12 relative in ``test_batched_sweep_matches_single_runs``.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from grokscope.cli import main
from grokscope.store import is_complete
from grokscope.sweep.results import TIMING_COLUMNS
from grokscope.sweep.runner import load_sweep, rebuild_results, run_sweep
from grokscope.sweep.spec import expand, parse_spec

SRC = str(Path(__file__).resolve().parents[1] / "src")
BASE = {"task": {"D": 8, "P": 24, "P_test": 40}, "model": {"N": 10, "eps": 0.3}, "optim": {"lr": 0.5},
        "train": {"steps": 60, "log_per_decade": 10, "engine": "network"},
        "probes": {"names": ["loss", "exact_loss", "weights"]}, "output": {"plots": False}}


def tiny_spec(**kw):
    data = {"name": "tiny", "base": BASE, "axes": {"scaling.alpha": {"log": [0.5, 2], "num": 3}},
            "seeds": 2, "pack_size": 2, "batch": False, **kw}
    return parse_spec(data)


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in TIMING_COLUMNS if c in df.columns])


def assert_same_results(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(comparable(a), comparable(b), check_exact=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    return d, run_sweep(tiny_spec(), d, progress=False)


def test_local_sweep_writes_runs_table_and_spec(reference):
    d, df = reference
    assert len(df) == 6 and (df["status"] == "completed").all() and df["error"].isna().all()
    assert list(df.columns[:8]) == ["run_id", "run_dir", "status", "error", "wall_s", "seed_index",
                                    "scaling.alpha", "model.seed"]
    assert df["run_id"].is_unique
    for _, r in df.iterrows():
        assert is_complete(d / r["run_dir"])
        summ = json.loads((d / r["run_dir"] / "summary.json").read_text())
        ev = summ["events"]
        assert r["final_test_loss"] == ev["final"]["test_loss"]
        assert r["peak_test_loss"] == ev["peak_test_loss"]
        t = ev["absolute"]["0.1"]["t_train"]
        assert (pd.isna(r["t_train_0.1"]) and t is None) or r["t_train_0.1"] == t
        assert r["wall_s"] == summ["timings"]["total_s"]
    on_disk = yaml.safe_load((d / "sweep.yaml").read_text())
    assert on_disk["axes_keys"] == ["scaling.alpha", "model.seed", "train.seed"]
    assert on_disk["scales"] == {"scaling.alpha": "log"}
    assert_same_results(pd.read_parquet(d / "results.parquet"), df)
    assert_same_results(rebuild_results(d), df)


def test_complete_runs_are_skipped_and_incomplete_redone(reference, tmp_path):
    _, ref = reference
    spec = tiny_spec()
    run_sweep(spec, tmp_path, progress=False)
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/summary.json")}
    victim = tmp_path / "runs" / expand(spec)[3].run_id
    (victim / "summary.json").unlink()  # as if killed mid-run
    df = run_sweep(spec, tmp_path, progress=False)
    for p, m in mtimes.items():
        if p.parent != victim:
            assert p.stat().st_mtime_ns == m  # not rerun
    assert is_complete(victim)
    assert_same_results(df, ref)


def _slow_runs(tmp_path: Path) -> str:
    """A sitecustomize that slows every run by 0.7 s, so a kill lands between the first and the last."""
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(
        "import time, grokscope.training.loop as t\n_run = t.run\n"
        "def run(*a, **k):\n    time.sleep(0.7)\n    return _run(*a, **k)\nt.run = run\n")
    return os.pathsep.join([str(slow), SRC])


def _n_complete(out: Path) -> int:
    return sum(is_complete(p) for p in (out / "runs").glob("*")) if (out / "runs").is_dir() else 0


def test_sigkill_mid_sweep_then_resume_gives_the_same_results(reference, tmp_path):
    _, ref = reference
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump({"name": "tiny", "base": BASE,
                                         "axes": {"scaling.alpha": {"log": [0.5, 2], "num": 3}},
                                         "seeds": 2, "pack_size": 1, "batch": False}))
    out = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": _slow_runs(tmp_path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "grokscope.cli", "sweep", str(spec_path), "--out", str(out),
                             "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if _n_complete(out) >= 1:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _n_complete(out)
    assert 1 <= done < 6, f"kill landed after {done} of 6 runs"
    spec, _ = load_sweep(out)
    df = run_sweep(spec, out, progress=False)  # resume in this process
    assert_same_results(df, ref)
    assert_same_results(pd.read_parquet(out / "results.parquet"), ref)
    assert len(list((out / "runs").iterdir())) == 6  # no duplicate run directories


def test_batched_sweep_matches_single_runs(reference, tmp_path):
    """With grokscope.training.batched: one ensemble per pack; a resumed sweep (different ensembles) still
    matches the unbatched reference to 1e-12 relative on every float column, exactly elsewhere."""
    pytest.importorskip("grokscope.training.batched", reason="grokscope.training.batched (batched ensembles) is not in this tree")
    _, ref = reference
    spec = tiny_spec(batch=True, pack_size=6)
    df = run_sweep(spec, tmp_path, progress=False)
    assert (df["ensemble_size"] > 1).all()  # really trained as ensembles (one per batch key in the pack)
    redo = [1, 3]  # same seed, different α: one batch key
    for rid in df["run_id"][redo]:
        (tmp_path / "runs" / rid / "summary.json").unlink()
    df2 = run_sweep(spec, tmp_path, progress=False)
    assert (df2["ensemble_size"][redo] == 2).all()
    assert (df2["ensemble_size"].drop(index=redo) == df["ensemble_size"].drop(index=redo)).all()
    for d in (df, df2):
        a, b = comparable(d).drop(columns=["ensemble_size"]), comparable(ref).drop(columns=["ensemble_size"])
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=0)


def test_failing_run_is_recorded_while_the_others_finish(tmp_path):
    spec = parse_spec({"name": "f", "base": BASE, "axes": {"model.init_W": [None, str(tmp_path / "missing.npy")],
                                                          "scaling.alpha": [1, 2]}, "pack_size": 4})
    df = run_sweep(spec, tmp_path / "s", progress=False)
    bad = df[df["model.init_W"].notna()]
    good = df[df["model.init_W"].isna()]
    assert (good["status"] == "completed").all() and len(good) == 2
    assert (bad["status"] == "failed").all() and len(bad) == 2
    assert bad["error"].str.contains("missing.npy").all() and bad["wall_s"].notna().all()
    err = json.loads((tmp_path / "s" / bad["run_dir"].iloc[0] / "sweep_error.json").read_text())
    assert "Traceback" in err["traceback"]
    assert main(["sweep", str(_write(tmp_path, spec)), "--out", str(tmp_path / "s"), "--no-progress"]) == 3


def _write(tmp_path, spec):
    p = tmp_path / "f.yaml"
    d = spec.to_dict()
    p.write_text(yaml.safe_dump({"name": d["name"], "base": d["base"], "axes": d["axes"], "pack_size": 4}))
    return p


def _worker_pids() -> list[int]:
    """Pool workers of this process (children running spawn_main, not the resource tracker)."""
    pids = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for c in (task / "children").read_text().split():
            cmd = Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
                pids.append(int(c))
    return pids


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the pool workers")
def test_killing_one_worker_loses_nothing(reference, tmp_path, monkeypatch, capsys):
    """The process backend (2 workers) with one worker SIGKILLed mid-sweep equals the local backend."""
    import threading
    _, ref = reference
    monkeypatch.setenv("PYTHONPATH", _slow_runs(tmp_path))  # inherited by the spawned workers
    out = tmp_path / "sweep"
    result: dict = {}
    spec = tiny_spec(pack_size=1)
    th = threading.Thread(target=lambda: result.update(df=run_sweep(spec, out, backend="process", workers=2,
                                                                    progress=False)))
    th.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and th.is_alive() and _n_complete(out) < 1:
        time.sleep(0.02)
    victims = _worker_pids()
    assert victims and _n_complete(out) < 6
    os.kill(victims[0], signal.SIGKILL)
    th.join(timeout=300)
    assert "a sweep worker died; restarting the pool" in capsys.readouterr().err
    assert_same_results(result["df"], ref)


def test_views_and_cli(reference, tmp_path, capsys):
    d, _ = reference
    assert main(["plot", str(d), "--heatmap", "final_test_loss", "--x", "scaling.alpha", "--y", "model.seed"]) == 0
    assert main(["plot", str(d), "--curves", "test_loss", "--colour", "scaling.alpha", "--normalise"]) == 0
    assert main(["plot", str(d), "--collapse", "final_param_change", "--derived", "model.sigma**2*scaling.alpha"]) == 0
    figs = sorted(p.name for p in (d / "figures").glob("*.png"))
    assert len(figs) == 3 and all((d / "figures" / f).stat().st_size > 1000 for f in figs)
    assert main(["plot", str(d), "--heatmap", "nope", "--x", "scaling.alpha", "--y", "model.seed"]) == 2
    assert "'nope': not a results column" in capsys.readouterr().err
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a sweep directory" in capsys.readouterr().err
    spec_path = _write(tmp_path, tiny_spec())
    assert main(["sweep", str(spec_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "3 runs" in out and "scaling.alpha (log): [0.5, 1.0, 2.0]" in out
    with pytest.raises(SystemExit):
        main(["sweep", str(spec_path), "--backend", "slurm"])
