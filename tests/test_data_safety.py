"""No run data is ever lost (issue #17, data safety): directory locks, runs of another config never
overwritten, SIGTERM handled like Ctrl-C, file modes that honour the umask."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grokscope import ConfigError, load_config, run
from grokscope.locks import LOCK, DirectoryLocked, DirLock
from grokscope.store import run_id

SMALL = {"task.D": 8, "task.P": 30, "task.P_test": 20, "model.N": 10, "train.steps": 60, "train.progress": False}


def _cfg(tmp_path, **over):
    return load_config(None, {**SMALL, "output.root": str(tmp_path), "output.plots": False, **over})


def _holder(path: Path, what: str = "run") -> subprocess.Popen:
    """Another process that takes ``path``'s lock and keeps it until killed."""
    code = ("import sys, time; from grokscope.locks import DirLock; DirLock(sys.argv[1], sys.argv[2]).acquire(); "
            "print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), what], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_is_refused_and_a_dead_holders_lock_is_broken(tmp_path):
    path = tmp_path / "r"
    proc = _holder(path)
    try:
        with pytest.raises(DirectoryLocked, match=f"being written by process {proc.pid}"):
            run(_cfg(tmp_path), path, quiet=True)
        assert not (path / "summary.json").exists() and not (path / "config.yaml").exists()
    finally:
        proc.kill()
        proc.wait()
    assert (path / LOCK).exists()                      # the dead process's lock is still there ...
    r = run(_cfg(tmp_path), path, quiet=True)          # ... and is broken as stale
    assert r.status == "completed" and not (path / LOCK).exists()


def test_lock_is_reentrant_and_released(tmp_path):
    with DirLock(tmp_path / "d") as lock:
        with DirLock(tmp_path / "d"):
            assert lock.file.exists()
        assert lock.file.exists()
    assert not (tmp_path / "d" / LOCK).exists()


def test_a_finished_run_is_kept_and_another_config_is_refused(tmp_path):
    path = tmp_path / "shared"
    first = run(_cfg(tmp_path), path, quiet=True)
    stamp = (path / "summary.json").stat().st_mtime_ns
    again = run(_cfg(tmp_path), path, quiet=True)      # same config: the finished run, not retrained
    assert again.summary == first.summary and (path / "summary.json").stat().st_mtime_ns == stamp
    other = _cfg(tmp_path, **{"scaling.alpha": 4.0})
    with pytest.raises(ConfigError) as err:
        run(other, path, quiet=True)
    assert run_id(first.config) in str(err.value) and run_id(other) in str(err.value)
    assert (path / "summary.json").stat().st_mtime_ns == stamp
    forced = run(other, path, quiet=True, force=True)
    assert forced.config.scaling.alpha == 4.0 and forced.status == "completed"


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    path = tmp_path / "t"
    args = [sys.executable, "-m", "grokscope.cli", "run", "--preset", "fig1", "--out", str(tmp_path), "--name", "t"]
    for k, v in {"task.D": 20, "task.P": 60, "task.P_test": 40, "model.N": 30, "train.steps": 10**7,
                 "train.progress": "false", "output.plots": "false", "output.flush_every_s": 0.2,
                 "train.log_per_decade": 200}.items():
        args += ["--set", f"{k}={v}"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (path / "metrics.parquet").exists() and time.time() < deadline:
        time.sleep(0.1)
    assert (path / "metrics.parquet").exists(), proc.stderr.read() if proc.poll() is not None else "no metrics"
    time.sleep(1.0)  # well into training
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    summary = json.loads((path / "summary.json").read_text())
    assert summary["status"] == "interrupted" and "SIGTERM" in summary["reason"]
    assert summary["steps_done"] > 0 and not (path / LOCK).exists()


def test_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        r = run(_cfg(tmp_path, **{"output.plots": True, "output.report": True}), tmp_path / "m", quiet=True)
    finally:
        os.umask(old)
    files = [p for p in r.path.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"config.yaml", "metrics.parquet", "summary.json", "report.html", "fig1.png"}
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


def test_a_second_sweep_driver_is_refused(tmp_path):
    from grokscope.sweep.runner import run_sweep
    from grokscope.sweep.spec import parse_spec
    spec = parse_spec({"name": "lk", "base": {"task": {"D": 6, "P": 20, "P_test": 20}, "model": {"N": 8},
                                              "train": {"steps": 20}, "output": {"plots": False}},
                       "axes": {"scaling.alpha": [0.5, 2.0]}})
    out = tmp_path / "sweep"
    proc = _holder(out, "sweep")
    try:
        with pytest.raises(DirectoryLocked, match="sweep directory is being written"):
            run_sweep(spec, out, progress=False)
    finally:
        proc.kill()
        proc.wait()
    df = run_sweep(spec, out, progress=False)  # the dead driver's lock is broken
    assert len(df) == 2 and not (out / LOCK).exists()


def _marked(mark: str) -> list[int]:
    """Pids of live processes whose environment carries ``mark``."""
    pids = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if mark.encode() in env.read_bytes():
                pids.append(int(env.parent.name))
        except OSError:
            continue
    return pids


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("backend", ["process", "ray"])
def test_workers_exit_when_the_driver_is_killed(tmp_path, backend):
    """Process-pool workers watch the driver; a local Ray instance (its head processes, agents and
    workers) is killed by the reaper the driver started: nothing the sweep started outlives it by 5 s."""
    if backend == "ray":
        pytest.importorskip("ray")
    import uuid

    import yaml
    slow = tmp_path / "slow"
    slow.mkdir()
    busy = tmp_path / "busy"
    busy.mkdir()
    (slow / "sitecustomize.py").write_text(  # each run marks its worker busy, then trains for 30 s more
        "import os, time, grokscope.training.loop as t\n_run = t.run\n"
        f"def run(*a, **k):\n    open(os.path.join({str(busy)!r}, str(os.getpid())), 'w').close()\n"
        "    time.sleep(30)\n    return _run(*a, **k)\nt.run = run\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "kill", "base": {"task": {"D": 6, "P": 20, "P_test": 20},
                                                             "model": {"N": 8}, "train": {"steps": 20},
                                                             "output": {"plots": False}},
                                    "axes": {"scaling.alpha": [0.5, 1.0, 2.0, 4.0]}, "pack_size": 1,
                                    "batch": False}))
    mark = f"GROKSCOPE_TEST_MARK={uuid.uuid4().hex}"
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(slow), src]), mark.split("=")[0]: mark.split("=")[1],
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "grokscope.cli", "sweep", str(spec), "--out", str(tmp_path / "s"),
                             "--backend", backend, "--workers", "2", "--no-progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(busy.iterdir())) < 2 and time.time() < deadline:  # both workers are training
        time.sleep(0.2)
    assert len(list(busy.iterdir())) == 2, "the pool's workers did not start training"
    proc.kill()
    proc.wait()
    deadline = time.time() + 5
    while _marked(mark) and time.time() < deadline:
        time.sleep(0.2)
    assert not _marked(mark), f"workers outlived the driver by 5 s: {_marked(mark)}"


def _cli(*args: str) -> int:
    from grokscope.cli import main
    return main(list(args))


CLI_SMALL = ["--set", "task.D=6", "--set", "task.P=20", "--set", "task.P_test=20", "--set", "model.N=8",
             "--set", "train.steps=30", "--set", "output.plots=false", "--no-progress"]


def test_cli_name_reuse_with_another_config_fails_naming_both_hashes(tmp_path, capsys):
    assert _cli("run", "--preset", "fig1", "--out", str(tmp_path), "--name", "shared", *CLI_SMALL) == 0
    first = load_config(tmp_path / "shared" / "config.yaml")
    capsys.readouterr()
    code = _cli("run", "--preset", "fig1", "--out", str(tmp_path), "--name", "shared", *CLI_SMALL,
                "--set", "scaling.alpha=4")
    err = capsys.readouterr().err
    assert code == 2 and run_id(first) in err and "another config" in err
    assert load_config(tmp_path / "shared" / "config.yaml").scaling.alpha == first.scaling.alpha
    assert _cli("run", "--preset", "fig1", "--out", str(tmp_path), "--name", "shared", *CLI_SMALL,
                "--set", "scaling.alpha=4", "--force") == 0
    assert load_config(tmp_path / "shared" / "config.yaml").scaling.alpha == 4.0


def test_cli_rerun_of_a_saved_config_finds_the_run(tmp_path, capsys):
    assert _cli("run", "--preset", "fig1", "--out", str(tmp_path), *CLI_SMALL) == 0
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    capsys.readouterr()
    assert _cli("run", str(run_dir / "config.yaml")) == 0
    assert "already complete" in capsys.readouterr().out
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == [run_dir]  # no runs/config-<hash>


def test_an_ensemble_does_not_overwrite_finished_runs(tmp_path):
    from grokscope.api import run_batched
    cfgs = [_cfg(tmp_path, **{"scaling.alpha": a, "train.engine": "reduced"}) for a in (0.5, 2.0)]
    paths = [tmp_path / "a", tmp_path / "b"]
    first = run_batched(cfgs, paths, [None, None])
    stamp = (paths[0] / "summary.json").stat().st_mtime_ns
    with pytest.raises(ConfigError, match="holds a finished run"):
        run_batched(cfgs, paths, [None, None])
    with pytest.raises(ConfigError, match="another config"):
        run_batched(cfgs[::-1], paths, [None, None])
    assert (paths[0] / "summary.json").stat().st_mtime_ns == stamp
    again = run_batched(cfgs, paths, [None, None], force=True)
    assert [r.status for r in again] == [r.status for r in first] == ["completed", "completed"]
