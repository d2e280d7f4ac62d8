"""CLI and API niceties (issue #18 items 9–13): --version, --json with a stable schema, show's exit
status, "did you mean", aligned preset lists, every sweep preset in --help, the public API surface,
METRICS covering every probe's columns, FileNotFoundError for a missing run."""
from __future__ import annotations

import json

import pytest

import grokscope
from grokscope.cli import main

SMALL = ["--set", "task.D=6", "--set", "task.P=20", "--set", "task.P_test=20", "--set", "model.N=8",
         "--set", "train.steps=30", "--set", "output.plots=false", "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    assert main(["run", "--preset", "fig1", "--out", str(root), "--name", "ok", *SMALL]) == 0
    assert main(["run", "--preset", "fig1", "--out", str(root), "--name", "bad", *SMALL,
                 "--set", "optim.lr=1e6", "--set", "model.eps=1.0"]) == 3
    return root


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"grokscope {grokscope.__version__}"


def test_json_outputs(runs, capsys):
    capsys.readouterr()
    assert main(["ls", str(runs), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == {"ok", "bad"} and {"status", "t_train", "wall_s"} <= set(rows[0])
    assert main(["show", str(runs / "ok"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "completed" and shown["config"]["model"]["N"] == 8 and "events" in shown["summary"]
    assert main(["compare", str(runs / "ok"), str(runs / "bad"), "--json"]) == 0
    assert [r["status"] for r in json.loads(capsys.readouterr().out)] == ["completed", "diverged"]
    assert main(["presets", "--json"]) == 0
    pre = json.loads(capsys.readouterr().out)
    assert "fig1" in pre["runs"] and "fig3e" in pre["sweeps"]


def test_show_exit_status(runs, tmp_path, capsys):
    assert main(["show", str(runs / "ok")]) == 0
    assert main(["show", str(runs / "bad")]) == 3
    killed = tmp_path / "killed"
    (killed).mkdir()
    (killed / "config.yaml").write_text((runs / "ok" / "config.yaml").read_text())
    assert main(["show", str(killed)]) == 4
    assert main(["show", str(tmp_path / "missing")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_did_you_mean(capsys):
    with pytest.raises(SystemExit):
        main(["rnu"])
    assert "did you mean run?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--presett", "fig1"])
    assert "did you mean --preset" in capsys.readouterr().err
    assert main(["run", "--preset", "fig1x", "--dry-run"]) == 2
    assert "did you mean fig1" in capsys.readouterr().err
    assert main(["run", "--preset", "fig1", "--set", "alpha=3", "--dry-run"]) == 2
    assert "did you mean scaling.alpha?" in capsys.readouterr().err


def test_presets_aligned_and_sweep_help_lists_all(capsys):
    from grokscope.cli import make_parser
    from grokscope.sweep.spec import spec_presets
    assert main(["presets"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  ")]
    starts = {len(ln) - len(ln[2:].split(maxsplit=1)[1]) for ln in lines if len(ln[2:].split(maxsplit=1)) == 2}
    assert len(starts) == 1, "descriptions start in one column"
    sweep_help = make_parser()._subparsers._group_actions[0].choices["sweep"].format_help()
    assert all(name in sweep_help for name in spec_presets())


def test_public_api():
    for name in ("load_run", "run", "run_batched", "load_config", "Config", "ConfigError", "__version__"):
        assert name in grokscope.__all__ and name in dir(grokscope) and hasattr(grokscope, name)
    assert "One run, fully specified" in (grokscope.Config.__doc__ or "")
    with pytest.raises(FileNotFoundError):
        grokscope.load_run("/nonexistent/run")


def test_metrics_name_every_probe_column():
    from grokscope.training.metrics import METRICS
    from grokscope.training.probes import PROBES
    missing = {m for p in PROBES.values() for m in p.metrics} - set(METRICS)
    assert not missing, missing
