"""Sizes that cannot fit are refused before any allocation, naming the sizes (issue #17, item 12):
the D×D target, the P_test×P_test NTK kernels, an MLP's weights, a committee's width, the eigen
task's kernel, and thread counts."""
from __future__ import annotations

import pytest

from grokscope.cli import main

CASES = {
    "task.D": (["--preset", "fig1", "--set", "task.D=100000"], "task.D = 100000"),
    "task.P_test": (["--preset", "fig1", "--set", "task.P_test=1000000"], "P_test = 1000000"),
    "model.N": (["--preset", "fig1", "--set", "model.N=10000000"], "model.N = 10000000"),
    "model.hidden": (["--preset", "fig8-small", "--set", "model.hidden=[100000,100000]"], "model.hidden"),
    "eigen": (["--preset", "fig5", "--set", "task.P=200000"], "task.P = 200000"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_too_large_is_refused_before_any_work(case, capsys, tmp_path):
    args, named = CASES[case]
    assert main(["run", *args, "--dry-run", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "GiB" in err and named in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_threads_are_bounded(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--preset", "fig1", "--threads", "999999", "--dry-run"])
    assert "from 1 to 1024" in capsys.readouterr().err
