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
