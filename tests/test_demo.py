"""The demo's settings: float32 (checked against float64 at a grokking size), the training steps'
thread count (``run(threads=...)``, ``--threads``; restored afterwards), and the float64 closed-form twin."""
from __future__ import annotations

import pytest
import torch
from conftest import small_config

from grokscope.api import run
from grokscope.cli import main, make_parser
from grokscope.config import load_config
from grokscope.engines.linearised import ClosedFormTwin


def test_demo_defaults_float32_one_thread_and_overrides(capsys):
    ap = make_parser()
    assert ap.parse_args(["demo"]).threads == "auto" and ap.parse_args(["run", "--preset", "fig1"]).threads == "auto"
    assert ap.parse_args(["demo", "--threads", "2"]).threads == 2
    assert main(["demo", "--dry-run", "--set", "task.D=10", "--set", "task.P=30", "--set", "model.N=5"]) == 0
    assert "dtype: float32" in capsys.readouterr().out
    assert main(["demo", "--dry-run", "--set", "train.dtype=float64", "--set", "task.D=10",
                 "--set", "task.P=30", "--set", "model.N=5"]) == 0
    assert "dtype: float64" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        ap.parse_args(["demo", "--threads", "0"])
    assert "--threads = '0': allowed are auto or an integer from 1 to 1024" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ap.parse_args(["demo", "--threads", "999999"])
    with pytest.raises(SystemExit):
        ap.parse_args(["sweep", "--preset", "fig3e", "--threads", "auto"])


def test_run_threads_are_restored_and_change_no_result(tmp_path):
    ambient = torch.get_num_threads()
    torch.set_num_threads(2)  # so that a run left at 1 thread is seen, whatever the ambient setting
    try:
        ref = run(small_config(tmp_path, **{"train.engine": "reduced"}), tmp_path / "a").metrics
        one = run(small_config(tmp_path, **{"train.engine": "reduced"}), tmp_path / "b", threads=1).metrics
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(ambient)
    for col in ("train_loss", "test_loss", "ntk_alignment", "lin_test_loss"):
        assert one[col].to_numpy() == pytest.approx(ref[col].to_numpy(), rel=1e-10, abs=1e-14), col
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads = .*: allowed are 'auto'"):
            run(small_config(tmp_path), tmp_path / "bad", threads=bad)
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_float32_reduced_run_groks_like_float64(tmp_path):
    """The demo's float32 against float64 on a run that groks (D=20, P=100, N=50, ε=0.05, α=4,
    20 000 steps; t_train 1 913, t_test 8 974): the threshold crossings agree to 0.5 % of their step
    and the final losses to 1e-3 relative (measured: identical crossings, losses to ≤ 1.5e-5)."""
    ev = {}
    for dt in ("float64", "float32"):
        cfg = load_config({
            "task": {"D": 20, "P": 100, "P_test": 500}, "model": {"N": 50, "eps": 0.05},
            "scaling": {"alpha": 4.0}, "optim": {"lr": 0.5},
            "train": {"steps": 20_000, "progress": False, "log_per_decade": 40, "engine": "reduced", "dtype": dt},
            "output": {"root": str(tmp_path), "plots": False}})
        ev[dt] = run(cfg, tmp_path / dt).summary["events"]
    a, b = ev["float64"]["absolute"]["0.1"], ev["float32"]["absolute"]["0.1"]
    assert a["grok_amount"] > 1000
    for k in ("t_train", "t_test"):
        assert abs(a[k] - b[k]) <= 0.005 * a[k], (k, a[k], b[k])
    for k in ("train_loss", "test_loss", "lin_test_loss"):
        assert ev["float32"]["final"][k] == pytest.approx(ev["float64"]["final"][k], rel=1e-3), k


def test_closed_form_twin_works_in_float64_for_float32_kernels():
    """A float32 run's twin: its modes are computed in float64 (K₀ is ill-conditioned) and read out
    in float32: equal to the float64 twin of the same (float32-rounded) kernel to float32 rounding."""
    g = torch.Generator().manual_seed(0)
    n, n_test = 60, 40
    J = torch.randn(n + n_test, 30, generator=g, dtype=torch.float64)
    J[:, :5] *= 1e-3  # a spread spectrum, as K₀'s
    K = (J @ J.T).float().double()
    y = torch.randn(n, generator=g, dtype=torch.float32).double()
    t64 = ClosedFormTwin(K[:n, :n], K[n:, :n], y, 0.5 / float(torch.linalg.eigvalsh(K[:n, :n]).max()))
    t32 = ClosedFormTwin(K[:n, :n].float(), K[n:, :n].float(), y.float(), t64.c * n / 2)
    for t in (0, 10, 1000, 10**6):
        t64.t = t32.t = t
        for split in ("train", "test"):
            a, b = t64.outputs(split), t32.outputs(split)
            assert b.dtype == torch.float32 and a.dtype == torch.float64
            assert torch.allclose(b.double(), a, rtol=2e-7, atol=2e-7 * float(a.abs().max())), (t, split)


def _threads_seen(tmp_path, name, **kw):
    """torch's thread count at every probe point of a small run (a temporary probe records it)."""
    from grokscope.training.probes import PROBES, Probe
    seen = []
    PROBES["threads_seen"] = Probe("threads_seen", ("n_threads",),
                                   lambda ctx: seen.append(torch.get_num_threads()) or {"n_threads": 0.0},
                                   lambda cfg: None, "test only")
    try:
        run(small_config(tmp_path, **{"probes.names": ["loss", "threads_seen"]}), tmp_path / name, **kw)
    finally:
        del PROBES["threads_seen"]
    return seen


def test_threads_govern_the_probes_too(tmp_path):
    ambient = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert set(_threads_seen(tmp_path, "one", threads=1)) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(ambient)


def test_auto_threads_use_the_free_cores(tmp_path, monkeypatch):
    """'auto': one thread while another process keeps a core busy, the caller's count when idle."""
    import os

    from grokscope.training import threads
    cores = len(os.sched_getaffinity(0))
    ambient = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(threads, "busy_elsewhere", lambda: cores - 1)
        assert set(_threads_seen(tmp_path, "busy")) == {1}
        monkeypatch.setattr(threads, "busy_elsewhere", lambda: 0)
        assert set(_threads_seen(tmp_path, "idle")) == {min(2, cores)}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(ambient)
