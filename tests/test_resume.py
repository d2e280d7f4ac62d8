"""An interrupted run resumes from its last checkpoint and ends with exactly the metrics of an
uninterrupted run (issue #17 item 3): SIGKILL at two points, resumed twice, compared bit for bit."""
from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from grokscope import load_config
from grokscope.api import run
from grokscope.config import dump_config
from grokscope.training.checkpoint import FILE

CASES = {
    "reduced": {"task.D": 30, "task.P": 120, "task.P_test": 80, "model.N": 40, "model.eps": 0.2,
                "scaling.alpha": 2.0, "train.steps": 8000, "train.engine": "reduced", "train.log_per_decade": 40},
    "network-adam-minibatch": {"task.D": 12, "task.P": 64, "task.P_test": 40, "model.N": 30, "model.eps": 0.3,
                               "optim.name": "adam", "optim.lr": 0.01, "optim.batch_size": 16,
                               "train.steps": 2000, "train.engine": "network", "train.log_per_decade": 40},
}
CHILD = """
import sys
from grokscope import load_config
from grokscope.api import run
run(load_config(sys.argv[1]), sys.argv[2], quiet=True, threads=1, checkpoint_every_s=0.0)
"""


def _rows(path: Path) -> int:
    try:
        return len(pd.read_parquet(path / "metrics.parquet"))
    except Exception:  # noqa: BLE001 — not written yet
        return 0


def _kill_at(cfg_file: Path, path: Path, rows: int) -> None:
    """Start the run in a subprocess and SIGKILL it once its checkpointed metrics reach ``rows`` rows."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(cfg_file), str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while _rows(path) < rows and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("case", sorted(CASES))
def test_killed_twice_then_resumed_equals_uninterrupted(case, tmp_path):
    over = {**CASES[case], "train.progress": False, "output.plots": False, "output.root": str(tmp_path)}
    cfg = load_config(None, over)
    ref = run(cfg, tmp_path / "ref", threads=1, checkpoint_every_s=None)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(dump_config(cfg))
    path = tmp_path / "resumed"
    n = len(ref.metrics)
    _kill_at(cfg_file, path, n // 3)
    first = pd.read_parquet(path / "metrics.parquet")
    _kill_at(cfg_file, path, 2 * n // 3)                  # resumes, then is killed again
    second = pd.read_parquet(path / "metrics.parquet")
    assert (path / FILE).exists() and not (path / "summary.json").exists()
    got = run(cfg, path, threads=1, checkpoint_every_s=0.0)  # resumes to the end
    assert got.summary["status"] == "completed" and got.summary["resumed"]["step"] > 0
    assert 0 < len(first) <= len(second) < len(got.metrics), "the kills did not land mid-run"
    assert not (path / FILE).exists()                     # a finished run drops its checkpoint
    pd.testing.assert_frame_equal(got.metrics, ref.metrics, check_exact=True)
    assert got.summary["events"] == ref.summary["events"]


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan, True, "60"])
def test_bad_checkpoint_interval_is_refused_before_any_work(bad, tmp_path):
    cfg = load_config(None, {"train.steps": 5, "train.progress": False, "output.plots": False,
                             "output.root": str(tmp_path)})
    with pytest.raises(ValueError, match="checkpoint_every_s"):
        run(cfg, tmp_path / "x", checkpoint_every_s=bad)
    assert not (tmp_path / "x").exists()
