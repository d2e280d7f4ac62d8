"""Probe cost of the Figure-1 demo (D=100, P=550, P_test=1000, N=500, reduced engine, float64).

Rows, each timed at a trained state (300 GD steps), best of several calls, a fresh step per call:
  ntk-row direct   baseline: the kernels.py functions one by one (alignment_onesided, alignment,
                   cka_labels, kernel_distance, kernel_velocity, kernel_misalignment) on K = engine.ntk
  ntk-row fast     the ntk + kernel_alignment probes (one matvec, norm identities, shared norms)
  K only           engine.ntk(X_test) alone: the floor of an NTK row (2·n²·(D+1) flops)
  spectrum         the ntk_spectrum probe (eigh of the n×n test NTK, effective rank, label power)
  cheap row        loss, exact_loss, decomposition, weights, twin (every logged row)
  build+init       train.build + RunState (data, K₀ blocks, K₀ regression, closed-form twin)
and the demo estimate 381 cheap rows + 100 NTK rows + 5 spectra + build (its log schedule).
``--threads N`` sets torch's thread count (default: 1, as the tests run).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import best_time, matmul_ceiling, report

from grokscope.config import load_config
from grokscope.config.presets import get_preset
from grokscope.diagnostics import kernels as kr
from grokscope.training.build import build
from grokscope.training.probe_cache import initial_kernel
from grokscope.training.probe_kernels import kernel_misalignment
from grokscope.training.probes import PROBES, kernel_labels
from grokscope.training.record import RunState


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    torch.set_num_threads(ap.parse_known_args()[0].threads)
    tmp = tempfile.mkdtemp()
    cfg = load_config(get_preset("fig1"), {"output.plots": False, "output.root": tmp})

    def build_init():
        b = build(cfg)
        return b, RunState(cfg, Path(tmp) / "run", None, b, time.perf_counter())

    build_init()  # warm: lazy imports, LAPACK initialisation
    t_build = best_time(build_init, repeat=3, warmup=0)
    b, rs = build_init()
    eng, ctx = b.engine, rs.ctx
    for _ in range(300):
        eng.step()
        rs.step_twin()
    X, y, K0 = ctx.data.X_test, kernel_labels(ctx.data), initial_kernel(ctx).test
    n, D, m = X.shape[0], X.shape[1], eng.U.shape[1]
    state = {"step": 10**6, "K_last": eng.ntk(X)}

    def fresh_step() -> None:
        state["step"] += 1
        ctx.cache.step = state["step"]

    def direct() -> None:
        fresh_step()
        K = eng.ntk(X)
        for v in (kr.alignment_onesided(K, y), kr.alignment(K, y), kr.cka_labels(K, y), kr.kernel_distance(K, K0),
                  kr.kernel_velocity(state["K_last"], K, 3)):
            float(v)
        kernel_misalignment(K, K0)
        state["K_last"] = K

    def fast() -> None:
        fresh_step()
        PROBES["ntk"].fn(ctx)
        PROBES["kernel_alignment"].fn(ctx)

    cheap = [PROBES[k] for k in ("loss", "exact_loss", "decomposition", "weights", "twin")]

    def cheap_row() -> None:
        fresh_step()
        ctx.twin.advance()
        for p in cheap:
            p.fn(ctx)

    def spectrum() -> None:
        fresh_step()
        PROBES["ntk_spectrum"].fn(ctx)

    fast()  # ntk_last set, so velocity is computed in every timed call
    t = {"ntk-row direct": best_time(direct, repeat=15), "ntk-row fast": best_time(fast, repeat=15),
         "K only": best_time(lambda: eng.ntk(X), repeat=15), "spectrum": best_time(spectrum, repeat=3),
         "cheap row": best_time(cheap_row, repeat=50), "build+init": t_build}
    ceil = matmul_ceiling(torch.float64)
    flops_K = 2 * n * n * m + 2 * n * D * m + 2 * n * n
    rows = []
    for name, s in t.items():
        row = {"what": name, "ms": s * 1e3, "threads": torch.get_num_threads()}
        if name.startswith("ntk-row"):
            row["speedup_vs_direct"] = t["ntk-row direct"] / s
            row["K_fraction"] = t["K only"] / s
        if name == "K only":
            row["GFLOP/s"] = flops_K / s / 1e9
            row["ceiling_GFLOP/s"] = ceil
        rows.append(row)
    for name, ntk_row, spec in (("demo estimate, direct", t["ntk-row direct"], t["spectrum"]),
                                ("demo estimate, fast", t["ntk-row fast"], t["spectrum"])):
        rows.append({"what": name, "ms": 1e3 * (381 * t["cheap row"] + 100 * ntk_row + 5 * spec + t["build+init"]),
                     "threads": torch.get_num_threads()})
    report(f"probes of the Figure-1 demo (n_test={n}, D={D}, m={m}, float64)", rows)


if __name__ == "__main__":
    main()
