"""Browse stored results: ``grokscope ls`` (runs and sweeps under a folder) and ``grokscope compare``
(several runs' curves overlaid in one figure, and their summaries side by side)."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from grokscope.config import ConfigError
from grokscope.store import Run, atomic_write_bytes, is_run_dir, is_sweep_dir, load_run
from grokscope.views.naming import run_labels
from grokscope.views.table import (
    LS_COLUMNS,
    first_abs,
    fmt_value,
    format_table,
    run_facts,
    run_row,
    run_rows,
    sweep_wall,
)

__all__ = ["COMPARE_ROWS", "LS_COLUMNS", "compare_figure", "compare_table", "fmt_value", "format_table",
           "list_entries", "load_runs", "run_row", "run_rows", "sweep_row"]


def sweep_row(path: Path, name: str) -> dict[str, Any]:
    """One line of ``ls`` for a sweep: its run count by status and its wall-clock time ``wall_s``
    (:func:`grokscope.views.table.sweep_wall`: not the sum of its runs' times, which is ``runs_s``)."""
    import pandas as pd
    rp = path / "results.parquet"
    if rp.is_file():
        df = pd.read_parquet(rp)
    else:
        df = pd.DataFrame(run_rows(path / "runs"))
    counts = df["status"].value_counts().to_dict() if "status" in df else {}
    status = ", ".join(f"{v} {k}" for k, v in counts.items()) or "no runs"
    if not rp.is_file():
        status = "incomplete: " + status
    runs_s = float(df["wall_s"].sum()) if "wall_s" in df and df["wall_s"].notna().any() else None
    wall, source = sweep_wall(path, df)
    return {"name": name, "kind": f"sweep ({len(df)} runs)", "status": status, "wall_s": wall,
            "wall_source": source or None, "runs_s": runs_s}


def list_entries(root: str | os.PathLike[str] = "runs") -> list[dict[str, Any]]:
    """Runs and sweeps under ``root`` (searched recursively; a sweep's own runs are summarised, not listed)."""
    r = Path(root)
    if not r.is_dir():
        raise ConfigError(f"ls: {str(r)!r} is not a directory; give the folder that holds run directories "
                          "(default: runs)")
    out: list[dict[str, Any]] = []

    def walk(d: Path) -> None:
        name = str(d.relative_to(r)) if d != r else d.name
        if is_run_dir(d):
            out.append(run_row(load_run(d), name))
            return
        if is_sweep_dir(d):
            out.append(sweep_row(d, name))
            return
        for sub in sorted(x for x in d.iterdir() if x.is_dir()):
            walk(sub)

    walk(r)
    return out


def _fact(key: str) -> Any:
    return lambda r: run_facts(r)[key]


def _summary(*keys: str) -> Any:
    def get(r: Run) -> Any:
        v: Any = r.summary or {}
        for k in keys:
            v = (v or {}).get(k)
        return v
    return get


COMPARE_ROWS = [("status", lambda r: r.status), ("model", _fact("model")), ("task", _fact("task")),
                ("alpha", _fact("alpha")), ("eps", _fact("eps")), ("N", _fact("N")), ("D", _fact("D")),
                ("P", _fact("P")), ("engine", _summary("engine", "name")),
                ("t_train", lambda r: first_abs(r.summary).get("t_train")),
                ("t_test", lambda r: first_abs(r.summary).get("t_test")),
                ("grok_amount", lambda r: first_abs(r.summary).get("grok_amount")),
                ("peak_test_loss", _summary("events", "peak_test_loss")),
                ("final_train_loss", lambda r: _last(r, "train_loss")),
                ("final_test_loss", lambda r: _last(r, "test_loss")),
                ("final_test_acc", lambda r: _last(r, "test_acc")),
                ("verdict", _summary("laziness", "verdict")),
                ("wall_s", _summary("timings", "total_s"))]


def _last(run: Run, col: str) -> float | None:
    if col not in run.metrics or not run.metrics[col].notna().any():
        return None
    return float(run.metrics[col].dropna().iloc[-1])


def compare_table(runs: list[Run]) -> str:
    """Side-by-side summary: one column per run (headed by its directory name), one row per quantity;
    the first row is the run's legend label in the figure."""
    names = [Path(r.path).name for r in runs]
    rows = [{"quantity": "legend", **dict(zip(names, run_labels(runs)))}]
    rows += [{"quantity": q, **{n: f(r) for n, r in zip(names, runs)}} for q, f in COMPARE_ROWS]
    return format_table(rows, ["quantity", *names])


LEGEND_MAX_RUNS = 10  # compare_figure: more runs than this get no legend (it would hide the axes)


def compare_figure(runs: list[Run], out: str | os.PathLike[str]) -> Path:
    """Train (dashed) and test (solid) loss of every run on shared log axes, one colour per run, named in
    the legend by the config values in which the runs differ (:func:`grokscope.views.naming.run_labels`,
    e.g. "α=0.5, ε=0.1"); runs of any model or task (one that logged no loss yet is left out)."""
    import numpy as np

    from grokscope.views.plots import _plt
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.2, 4.6), constrained_layout=True)
    try:
        for i, (r, lab) in enumerate(zip(runs, run_labels(runs))):
            df = r.metrics
            if not len(df):
                continue
            x = np.maximum(df["step"].to_numpy(), 1)
            for col, ls, lw in (("train_loss", "--", 1.2), ("test_loss", "-", 1.6)):
                if col in df and df[col].notna().any():
                    ax.plot(x, df[col], color=f"C{i % 10}", ls=ls, lw=lw, label=f"{lab} {col.removesuffix('_loss')}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        n = len(ax.get_legend_handles_labels()[0])
        if 0 < n <= 2 * LEGEND_MAX_RUNS:
            ax.legend(fontsize=7)
        elif n:
            ax.set_title(f"{len(runs)} runs (colours repeat after 10; no legend above {LEGEND_MAX_RUNS} runs)", fontsize=9)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    p = Path(out)
    atomic_write_bytes(p, buf.getvalue())
    return p


def load_runs(paths: list[str]) -> list[Run]:
    """Load every path as a run, failing on the first that is not one (before drawing anything)."""
    for p in paths:
        if not is_run_dir(p):
            raise ConfigError(f"compare: {p!r} is not a run directory (expected config.yaml, metrics.parquet, "
                              "summary.json written by `grokscope run`)")
    return [load_run(p) for p in paths]
