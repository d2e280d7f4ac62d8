"""Browse stored results: ``grokscope ls`` (runs and sweeps under a folder) and ``grokscope compare``
(several runs' curves overlaid in one figure, and their summaries side by side)."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from grokscope.config import ConfigError
from grokscope.store import Run, is_run_dir, load_run

LS_COLUMNS = ["name", "kind", "status", "alpha", "eps", "N", "P", "engine", "t_train", "t_test", "grok_amount",
              "wall_s"]


def _first_abs(summary: dict[str, Any] | None) -> dict[str, Any]:
    ab = ((summary or {}).get("events") or {}).get("absolute") or {}
    return next(iter(ab.values()), {}) if ab else {}


def run_row(run: Run, name: str | None = None) -> dict[str, Any]:
    """One line of ``ls``: key config (α, ε, N, P, engine), first absolute-threshold events, wall time."""
    s = run.summary or {}
    ev = _first_abs(s)
    eng = (s.get("engine") or {}).get("name") or run.config.train.engine
    return {"name": name or Path(run.path).name, "kind": "run", "status": run.status,
            "alpha": run.config.scaling.alpha, "eps": run.config.model.eps, "N": run.config.model.N,
            "P": run.config.task.P, "engine": eng, "t_train": ev.get("t_train"), "t_test": ev.get("t_test"),
            "grok_amount": ev.get("grok_amount"), "wall_s": (s.get("timings") or {}).get("total_s")}


def run_rows(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """``run_row`` of every run directory directly under ``root`` (sorted by name)."""
    r = Path(root)
    if not r.is_dir():
        return []
    return [run_row(load_run(d)) for d in sorted(r.iterdir()) if d.is_dir() and is_run_dir(d)]


def sweep_row(path: Path, name: str) -> dict[str, Any]:
    """One line of ``ls`` for a sweep: its run count by status and total wall time."""
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
    wall = float(df["wall_s"].sum()) if "wall_s" in df and len(df) else None
    return {"name": name, "kind": f"sweep ({len(df)} runs)", "status": status, "wall_s": wall}


def list_entries(root: str | os.PathLike[str] = "runs") -> list[dict[str, Any]]:
    """Runs and sweeps under ``root`` (searched recursively; a sweep's own runs are summarised, not listed)."""
    from grokscope.views.report import is_sweep_dir
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


def fmt_value(v: Any, missing: str = "-") -> str:
    """A table cell: floats to 4 significant digits, None/NaN as ``missing``."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return missing
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Plain-text table with aligned columns (missing values shown as -)."""
    cells = [columns] + [[fmt_value(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


COMPARE_ROWS = [("status", lambda r: r.status), ("alpha", lambda r: r.config.scaling.alpha),
                ("eps", lambda r: r.config.model.eps), ("N", lambda r: r.config.model.N),
                ("D", lambda r: r.config.task.D), ("P", lambda r: r.config.task.P),
                ("engine", lambda r: ((r.summary or {}).get("engine") or {}).get("name")),
                ("t_train", lambda r: _first_abs(r.summary).get("t_train")),
                ("t_test", lambda r: _first_abs(r.summary).get("t_test")),
                ("grok_amount", lambda r: _first_abs(r.summary).get("grok_amount")),
                ("peak_test_loss", lambda r: ((r.summary or {}).get("events") or {}).get("peak_test_loss")),
                ("final_train_loss", lambda r: _last(r, "train_loss")),
                ("final_test_loss", lambda r: _last(r, "test_loss")),
                ("verdict", lambda r: ((r.summary or {}).get("laziness") or {}).get("verdict")),
                ("wall_s", lambda r: ((r.summary or {}).get("timings") or {}).get("total_s"))]


def _last(run: Run, col: str) -> float | None:
    if col not in run.metrics or not len(run.metrics):
        return None
    return float(run.metrics[col].iloc[-1])


def compare_table(runs: list[Run]) -> str:
    """Side-by-side summary: one column per run, one row per quantity."""
    names = [Path(r.path).name for r in runs]
    rows = [{"quantity": q, **{n: f(r) for n, r in zip(names, runs)}} for q, f in COMPARE_ROWS]
    return format_table(rows, ["quantity", *names])


def compare_figure(runs: list[Run], out: str | os.PathLike[str]) -> Path:
    """Train (dashed) and test (solid) loss of every run on shared log axes, one colour per run."""
    import numpy as np

    from grokscope.store import atomic_write_bytes
    from grokscope.views.plots import _plt
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.2, 4.6), constrained_layout=True)
    try:
        for i, r in enumerate(runs):
            df = r.metrics
            if not len(df):
                continue
            x = np.maximum(df["step"].to_numpy(), 1)
            lab = Path(r.path).name
            ax.plot(x, df["train_loss"], color=f"C{i % 10}", ls="--", lw=1.2, label=f"{lab} train")
            ax.plot(x, df["test_loss"], color=f"C{i % 10}", ls="-", lw=1.6, label=f"{lab} test")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
        import io
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
