"""Ray backend = local backend, on a local Ray instance (num_cpus=2) started by the test.

Compared on every results column except the timing ones (wall_s, train_s, probes_s, steps_per_s),
exactly. Skipped only when ray is not importable (pip install 'grokscope[ray]').
"""
from __future__ import annotations

import pytest
from test_sweep_run import assert_same_results, tiny_spec

from grokscope.sweep.runner import run_sweep

ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'grokscope[ray]' to test the Ray backend")


@pytest.fixture(scope="module")
def local_ray():
    from pathlib import Path
    src = str(Path(__file__).resolve().parents[1] / "src")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": src, "OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


def test_ray_backend_equals_local(local_ray, tmp_path):
    ref = run_sweep(tiny_spec(), tmp_path / "local", progress=False)
    df = run_sweep(tiny_spec(), tmp_path / "ray", backend="ray", progress=False)
    assert (df["status"] == "completed").all()
    assert_same_results(df, ref)
