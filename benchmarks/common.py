"""Shared benchmark helpers: the machine's matmul ceiling and a robust timer.

Every benchmark prints ratios against a named baseline measured in the same process, and
achieved GFLOP/s against the matmul ceiling measured in the same run (``matmul_ceiling``).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def best_time(fn: Callable[[], Any], repeat: int = 5, number: int = 1, warmup: int = 1) -> float:
    """Best-of-``repeat`` seconds per call over ``number`` calls (min filters machine noise)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def interleaved(fns: dict[str, tuple[Callable[[], Any], int]], rounds: int) -> dict[str, float]:
    """Best seconds per call of each ``fn`` ({name: (fn, calls per round)}), timed in alternating
    rounds so a busy machine slows every candidate alike."""
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, (fn, number) in fns.items():
            best[k] = min(best[k], best_time(fn, repeat=1, number=number, warmup=0))
    return best


_CEILING: dict[tuple[str, str], float] = {}


def matmul_ceiling(dtype: torch.dtype, device: str = "cpu", n: int = 1024) -> float:
    """Achieved GFLOP/s of a square n×n matmul (2n³ flops): the roofline we compare against."""
    key = (str(dtype), device)
    if key not in _CEILING:
        a = torch.randn(n, n, dtype=dtype, device=device)
        b = torch.randn(n, n, dtype=dtype, device=device)

        def mm() -> None:
            a @ b
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        t = best_time(mm, repeat=5, number=10, warmup=3)
        _CEILING[key] = 2 * n**3 / t / 1e9
    return _CEILING[key]


def report(name: str, rows: list[dict[str, Any]]) -> None:
    """Print rows as an aligned table and append them as JSON lines to bench_out/results.jsonl."""
    print(f"\n== {name}")
    if rows:
        keys = list(rows[0])
        width = {k: max(len(k), *(len(_fmt(r.get(k))) for r in rows)) for k in keys}
        print("  ".join(k.ljust(width[k]) for k in keys))
        for r in rows:
            print("  ".join(_fmt(r.get(k)).ljust(width[k]) for k in keys))
    out = Path(os.environ.get("GROKSCOPE_BENCH_OUT", "bench_out"))
    out.mkdir(exist_ok=True)
    with open(out / "results.jsonl", "a") as fh:
        for r in rows:
            fh.write(json.dumps({"benchmark": name, **r}, default=str) + "\n")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
