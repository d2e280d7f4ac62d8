"""Batched ensemble vs a loop of single runs at Figure-1 size (D=100, P=550, N=500), float64, and at
the README's quick "tour" size (D=20, P=100, N=50), where a single step is overhead-bound.

E members with per-member α (log-spaced in [0.5, 2]), ε and init seed, η = η₀N/α². Per member-step:
  loop      one single engine's step (NetworkEngine / ReducedEngine), the cost of running the
            members one after another (a loop of single runs, probes excluded)
  ensemble  one EnsembleNetwork / EnsembleReduced step divided by E
ratio = loop / ensemble per member-step (target ≥ 2×). Flops per member-step, GEMMs only:
  network 4·P·N·D + 2·P·D (fig1 ≈ 110 MFLOP);  reduced 4·P·D·m, m = min(N, D+1) (fig1 ≈ 22.2 MFLOP),
reported as GFLOP/s against the matmul ceiling (``common.matmul_ceiling``) of the same device,
timed in interleaved rounds (best round each) so a busy machine slows every candidate alike.
On CPU: rows for the default thread count and for 1 thread. ``--e2e``: also the wall time of
``run_batched`` against a loop of ``train.run`` for 16 tour-size configs (probes and files included).
Usage: python benchmarks/bench_ensemble.py [--quick] [--device cpu|cuda] [--members 16,64] [--sizes fig1,tour] [--e2e]
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import interleaved, report

from grokscope.config import load_config
from grokscope.training.batched import ensemble_of
from grokscope.training.build import build

SIZES = {"fig1": (100, 550, 500), "tour": (20, 100, 50)}  # (D, P, N); tour: the README's quick run


def flops(engine: str, D: int, P: int, N: int) -> int:
    return 4 * P * N * D + 2 * P * D if engine == "network" else 4 * P * D * min(N, D + 1)


def _arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def configs(E: int, engine: str, device: str, size: str = "fig1"):
    D, P, N = SIZES[size]
    alphas = torch.logspace(-0.30103, 0.30103, E).tolist()
    return [load_config({"task": {"D": D, "P": P, "P_test": 1000},
                         "model": {"N": N, "eps": 0.02 * (1 + 0.1 * (i % 4)), "seed": i},
                         "scaling": {"alpha": a, "centre": True}, "optim": {"lr": 1.0},
                         "train": {"dtype": "float64", "device": device, "progress": False, "engine": engine}})
            for i, a in enumerate(alphas)]


def _sync(device: str):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def bench(E: int, engine: str, device: str, rounds: int, size: str = "fig1") -> dict:
    cfgs = configs(E, engine, device, size)
    bs = [build(c) for c in cfgs]
    ens = ensemble_of(bs, cfgs[0])
    singles = [build(c).engine for c in cfgs[:4]]  # the loop's per-member cost: same for every member
    sync = _sync(device)
    a = torch.randn(1024, 1024, dtype=torch.float64, device=device)

    def loop() -> None:
        for s in singles:
            s.step()
        sync()

    def batched() -> None:
        ens.step()
        sync()

    def ceiling() -> None:
        a @ a
        sync()

    small = size != "fig1"
    n_ens = (max(1, 64 // E) if device == "cpu" else 20) * (20 if small else 1)
    n_loop = (2 if device == "cpu" else 20) * (20 if small else 1)
    fns = {"loop": (loop, n_loop), "ensemble": (batched, n_ens), "ceiling": (ceiling, 4)}
    for fn, _ in fns.values():
        fn()
    best = interleaved(fns, rounds)
    loop_ms = 1e3 * best["loop"] / len(singles)
    ens_ms = 1e3 * best["ensemble"] / E
    ceil = 2 * 1024**3 / best["ceiling"] / 1e9
    fl = flops(engine, *SIZES[size])
    gf = fl / (ens_ms / 1e3) / 1e9
    gf_loop = fl / (loop_ms / 1e3) / 1e9
    return {"size": size, "device": device, "threads": torch.get_num_threads(), "engine": engine, "members": E,
            "loop_ms_per_member_step": loop_ms, "ensemble_ms_per_member_step": ens_ms,
            "ratio": loop_ms / ens_ms, "ensemble_GFLOP_s": gf, "loop_GFLOP_s": gf_loop,
            "ceiling_GFLOP_s": ceil, "ensemble_pct_ceiling": 100 * gf / ceil,
            "loop_pct_ceiling": 100 * gf_loop / ceil}


def end_to_end(E: int, steps: int, out: Path, probes: Any = "auto") -> dict:
    """Wall time of ``run_batched`` vs a loop of ``train.run`` over the same E configs (tour size,
    every probe, figures off): the sweep-level gain, probes and run directories included."""
    import shutil
    import time

    from grokscope.api import run, run_batched
    cfgs = [c.replace(**{"train.steps": steps, "output.plots": False, "train.engine": "auto", "probes.names": probes})
            for c in configs(E, "network", "cpu", "tour")]
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    for i, c in enumerate(cfgs):
        run(c, out / f"s{i}")
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_batched(cfgs, [out / f"m{i}" for i in range(E)], ["m"] * E)
    t_ens = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    return {"size": "tour", "threads": torch.get_num_threads(), "members": E, "steps": steps,
            "probes": probes if isinstance(probes, str) else "+".join(probes),
            "engine": "auto (reduced)", "loop_of_runs_s": t_loop, "run_batched_s": t_ens, "ratio": t_loop / t_ens}


def main() -> None:
    quick = "--quick" in sys.argv
    device = _arg("--device", "cuda" if torch.cuda.is_available() else "cpu")
    members = [int(x) for x in _arg("--members", "16,64").split(",")]
    rounds = 4 if quick else 12
    threads = [torch.get_num_threads()] + ([1] if device == "cpu" and torch.get_num_threads() > 1 else [])
    sizes = _arg("--sizes", "fig1,tour").split(",")
    rows = []
    for nt in threads:
        torch.set_num_threads(nt)
        rows += [bench(E, engine, device, rounds, size) for size in sizes for engine in ("network", "reduced")
                 for E in members]
    report(f"ensemble_step_{device}", rows)
    if "--e2e" in sys.argv:
        import tempfile
        torch.set_num_threads(1)
        with tempfile.TemporaryDirectory() as tmp:
            steps = 300 if quick else 1000
            report("ensemble_end_to_end_cpu", [end_to_end(16, steps, Path(tmp) / "e2e", pr)
                                               for pr in (["loss", "exact_loss", "weights"], "auto")])


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
