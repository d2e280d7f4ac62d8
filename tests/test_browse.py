"""grokscope ls and compare: tables built from real tiny runs, a figure written, bad input."""
from __future__ import annotations

import pytest
from conftest import small_config

from grokscope.api import run
from grokscope.cli import main
from grokscope.views.browse import LS_COLUMNS, format_table, list_entries


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ls")
    for alpha in (0.5, 2.0):
        run(small_config(tmp, **{"scaling.alpha": alpha, "train.steps": 50}), tmp / "runs" / f"a{alpha}", quiet=True)
    sw = tmp / "runs" / "sweep1"
    run(small_config(tmp, **{"model.eps": 0.1, "train.steps": 50}), sw / "runs" / "r0", quiet=True)
    (sw / "sweep.yaml").write_text("axes_keys: [model.eps]\n")
    return tmp / "runs"


def test_ls_lists_runs_and_sweeps(root, capsys):
    rows = list_entries(root)
    names = [r["name"] for r in rows]
    assert names == ["a0.5", "a2.0", "sweep1"]
    assert rows[0]["alpha"] == 0.5 and rows[1]["alpha"] == 2.0 and rows[0]["N"] == 16
    assert rows[0]["status"] == "completed" and rows[0]["t_train"] is not None
    assert rows[2]["kind"] == "sweep (1 runs)" and rows[2]["status"] == "incomplete: 1 completed"
    assert main(["ls", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == LS_COLUMNS and "sweep1" in out and "a2.0" in out
    assert main(["ls", str(root / "nope")]) == 2


def test_format_table_aligns():
    t = format_table([{"a": 1.23456789, "b": None}, {"a": "xyz", "b": 2}], ["a", "b"])
    lines = t.splitlines()
    assert lines[0] == "a      b" and lines[2] == "1.235  -" and lines[3] == "xyz    2"


def test_compare(root, tmp_path, capsys):
    out = tmp_path / "cmp.png"
    assert main(["compare", str(root / "a0.5"), str(root / "a2.0"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"figure: {out}" in text
    alpha = next(line for line in text.splitlines() if line.startswith("alpha"))
    assert alpha.split() == ["alpha", "0.5", "2"]
    assert main(["compare", str(root / "a0.5"), str(tmp_path)]) == 2


def test_compare_legend_names_runs_by_their_differing_values(root, tmp_path, monkeypatch, capsys):
    import matplotlib.pyplot as plt

    from grokscope.store import load_run
    from grokscope.views.browse import compare_figure
    from grokscope.views.naming import run_labels
    a, b = load_run(root / "a0.5"), load_run(root / "a2.0")
    assert run_labels([a, b]) == ["α=0.5", "α=2"]
    assert run_labels([a, a]) == ["a0.5", "a0.5"]  # identical configs: the directory names
    eps = load_run(root / "sweep1" / "runs" / "r0")  # α = 1, ε = 0.1 against α = 0.5, ε = 0.3
    assert run_labels([a, eps]) == ["α=0.5, ε=0.3", "α=1, ε=0.1"]
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)  # keep the figure to read its legend
    compare_figure([a, b], tmp_path / "c.png")
    texts = [t.get_text() for t in kept[0].axes[0].get_legend().get_texts()]
    assert texts == ["α=0.5 train", "α=0.5 test", "α=2 train", "α=2 test"]
    monkeypatch.undo()
    assert main(["compare", str(root / "a0.5"), str(root / "a2.0"), "--out", str(tmp_path / "d.png")]) == 0
    legend = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("legend"))
    assert legend.split() == ["legend", "α=0.5", "α=2"]


def _set_times(run_dir, started, finished, total_s):
    import json
    p = run_dir / "summary.json"
    s = json.loads(p.read_text())
    s["started"], s["finished"], s["timings"]["total_s"] = started, finished, total_s
    p.write_text(json.dumps(s))


def test_ls_sweep_wall_clock_from_run_times(root, tmp_path):
    """Without the driver's record, a sweep's wall time is the first start to the last finish, not the
    sum of the runs' times (two overlapping runs: 10 s of wall clock, 12 s of run time)."""
    import shutil
    sw = tmp_path / "sw"
    shutil.copytree(root / "sweep1", sw)
    shutil.copytree(sw / "runs" / "r0", sw / "runs" / "r1")
    _set_times(sw / "runs" / "r0", "2026-01-01T10:00:00+00:00", "2026-01-01T10:00:05+00:00", 5.0)
    _set_times(sw / "runs" / "r1", "2026-01-01T10:00:03+00:00", "2026-01-01T10:00:10+00:00", 7.0)
    (row,) = list_entries(tmp_path)
    assert row["wall_s"] == 10.0 and row["runs_s"] == 12.0
    assert row["wall_source"] == "first run start to last run finish"


def test_sweep_records_its_wall_clock(tmp_path, capsys):
    import json

    from grokscope.sweep.runner import run_sweep
    from grokscope.sweep.spec import parse_spec
    from grokscope.views.table import SWEEP_TIMING
    base = {"task": {"D": 8, "P": 24, "P_test": 40}, "model": {"N": 10, "eps": 0.3}, "optim": {"lr": 0.5},
            "train": {"steps": 30, "log_per_decade": 10, "engine": "network"}, "probes": {"names": ["loss"]},
            "output": {"plots": False}}
    spec = parse_spec({"name": "two", "base": base, "axes": {"scaling.alpha": [0.5, 2.0]}, "batch": False})
    d = tmp_path / "sw"
    df = run_sweep(spec, d, progress=False)
    rec = json.loads((d / SWEEP_TIMING).read_text())
    (s1,) = rec["sessions"]
    assert s1["runs"] == 2 and rec["wall_s"] == s1["wall_s"] > 0
    run_sweep(spec, d, progress=False)  # nothing left to do: no session recorded
    assert json.loads((d / SWEEP_TIMING).read_text()) == rec
    import shutil
    shutil.rmtree(d / "runs" / df["run_id"].iloc[0])
    run_sweep(spec, d, progress=False)  # resumed: one run redone in a second session
    rec = json.loads((d / SWEEP_TIMING).read_text())
    assert [s["runs"] for s in rec["sessions"]] == [2, 1]
    assert rec["wall_s"] == sum(s["wall_s"] for s in rec["sessions"])
    (row,) = list_entries(tmp_path)
    assert row["wall_s"] == rec["wall_s"] and row["wall_source"].startswith("recorded by the sweep driver")
    assert main(["ls", str(tmp_path), "--json"]) == 0
    (obj,) = json.loads(capsys.readouterr().out)
    assert obj["wall_s"] == rec["wall_s"] and obj["runs_s"] == row["runs_s"]


def test_show_prints_final_metrics_as_a_table(root, capsys):
    from grokscope.store import load_run
    r = load_run(root / "a0.5")
    assert main(["show", str(r.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    i = lines.index(f"final (step {r.summary['events']['final']['step']}):")
    head, rule = lines[i + 1], lines[i + 2]
    assert head.split() == ["metric", "first", "final", "at", "step"] and set(rule.split()) <= {"-" * n for n in
                                                                                               range(1, 40)}
    fin = {k: v for k, v in r.summary["events"]["final"].items() if k != "step"}
    body = lines[i + 3:i + 3 + len(fin)]
    col = head.index("final")
    for line, (k, v) in zip(body, fin.items()):
        assert line.split()[0] == k
        first = r.metrics[k].dropna().iloc[0]
        assert line.split()[1] == f"{first:.4g}" and line[col:].split()[0] == f"{v:.4g}"  # aligned column
    assert max(len(line) for line in lines[i:i + 3 + len(fin)]) < 80
