"""Behaviour pins: the metrics of fig1 (reduced and network engines, 2 000 steps, float64), two batched
ensembles and one small preset per model and task family, recorded once before the layered-package
restructure (tests/pins/record.py), must come out of today's code equal to 1e-12 relative.

BLAS kernels round differently on other CPUs (a 1e-17 change in one product grows over training), so
on a machine other than the recording one the tolerance is 1e-6 and the test says so."""
from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pytest
import torch

from grokscope.config import load_config

PINS = Path(__file__).parent / "pins"
META = json.loads((PINS / "pins.json").read_text())
ARRAYS = np.load(PINS / "pins.npz")
SAME_MACHINE = (platform.processor() or platform.machine()) == META["machine"] and \
    torch.__version__ == META["torch"]
RTOL = 1e-12 if SAME_MACHINE else 1e-6


def _run(name: str, tmp_path: Path):
    from grokscope import run
    from grokscope.api import run_batched
    members = META["cases"][name]
    cfgs = [load_config(m["config"], {"output.root": str(tmp_path)}) for m in members]
    if len(cfgs) == 1:
        return [run(cfgs[0], quiet=True)]
    return run_batched(cfgs, [tmp_path / f"m{i}" for i in range(len(cfgs))], [None] * len(cfgs))


@pytest.mark.parametrize("name", sorted(META["cases"]))
def test_pinned_metrics(name, tmp_path):
    torch.set_num_threads(1)
    runs = _run(name, tmp_path)
    for i, (r, pin) in enumerate(zip(runs, META["cases"][name])):
        assert r.summary["status"] == pin["status"]
        assert r.summary["engine"]["name"] == pin["engine"]
        assert r.summary.get("events") == pin["events"] or not SAME_MACHINE and r.summary.get("events")
        cols = sorted(k.split("/", 2)[2] for k in ARRAYS.files if k.startswith(f"{name}/{i}/"))
        assert sorted(r.metrics.columns) == cols, f"{name}[{i}]: metric columns changed"
        for col in cols:
            want = ARRAYS[f"{name}/{i}/{col}"]
            got = r.metrics[col].to_numpy(dtype=np.float64)
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-300, equal_nan=True,
                                       err_msg=f"{name}[{i}].{col} (machine match: {SAME_MACHINE})")
