"""Plain tables of stored runs, shared by ``grokscope ls``, ``compare`` and the HTML reports.

The facts of a run (model, task, α, ε, width, data size, engine, first threshold events) are read
from its stored config and summary for any model and task: a model's curvature ε and width N are
asked of the model registry through its declared capabilities, never by its name; sizes the config
does not name are taken from the summary's ``sizes`` record when the run wrote one.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from grokscope.models.registry import supports
from grokscope.store import Run, is_run_dir, load_run

LS_COLUMNS = ["name", "kind", "status", "model", "task", "alpha", "eps", "N", "P", "engine", "t_train", "t_test",
              "grok_amount", "wall_s"]


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


def first_abs(summary: dict[str, Any] | None) -> dict[str, Any]:
    """The events of the first absolute loss threshold of a summary ({} when none were recorded)."""
    ab = ((summary or {}).get("events") or {}).get("absolute") or {}
    return next(iter(ab.values()), {}) if ab else {}


def _field(section: Any, *names: str) -> Any:
    """The first of ``names`` that the config section has as a field (None when it has none)."""
    for n in names:
        v = getattr(section, n, None)
        if v is not None:
            return v
    return None


def run_facts(run: Run) -> dict[str, Any]:
    """Key facts of a run for tables: model, task, alpha, eps (models with the committee theory's
    curvature ε), N (the width), D, P (training samples), engine. Sizes come from the summary's
    ``sizes`` record when present, else from the config fields that name them; None when unknown."""
    cfg, s = run.config, run.summary or {}
    sizes = s.get("sizes") or {}
    theory = supports(cfg.model, "committee_theory")
    width = sizes.get("width")
    if width is None and supports(cfg.model, "width"):
        width = _field(cfg.model, "N")
    return {"model": cfg.model.name, "task": cfg.task.name, "alpha": cfg.scaling.alpha,
            "eps": cfg.model.eps if theory else None, "N": width,
            "D": sizes.get("D", _field(cfg.task, "D")), "P": sizes.get("P", _field(cfg.task, "P", "n_train")),
            "engine": (s.get("engine") or {}).get("name") or cfg.train.engine}


def run_row(run: Run, name: str | None = None) -> dict[str, Any]:
    """One line of ``ls``: key facts (:func:`run_facts`), first absolute-threshold events, wall time."""
    s = run.summary or {}
    ev = first_abs(s)
    facts = run_facts(run)
    facts.pop("D")
    return {"name": name or Path(run.path).name, "kind": "run", "status": run.status, **facts,
            "t_train": ev.get("t_train"), "t_test": ev.get("t_test"), "grok_amount": ev.get("grok_amount"),
            "wall_s": (s.get("timings") or {}).get("total_s")}


def run_rows(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """``run_row`` of every run directory directly under ``root`` (sorted by name)."""
    r = Path(root)
    if not r.is_dir():
        return []
    return [run_row(load_run(d)) for d in sorted(r.iterdir()) if d.is_dir() and is_run_dir(d)]


SWEEP_TIMING = "sweep_timing.json"  # written by grokscope.sweep.runner: {"wall_s", "sessions": [...]}


def sweep_wall(path: str | os.PathLike[str], df: Any = None) -> tuple[float | None, str]:
    """(wall-clock seconds of a sweep, where the number comes from): the sweep driver's own record
    (SWEEP_TIMING: the sum of its sessions, so a resumed sweep counts each session once), else the
    first run's start to the last run's finish (summary.json ``started``/``finished``, 1 s resolution),
    else the longest single run of ``df``'s ``wall_s``; (None, "") when nothing is known."""
    import json
    from datetime import datetime
    p = Path(path)
    rec = p / SWEEP_TIMING
    if rec.is_file():
        try:
            got = json.loads(rec.read_text())
            return float(got["wall_s"]), f"recorded by the sweep driver over {len(got.get('sessions', []))} session(s)"
        except (OSError, ValueError, KeyError, TypeError):
            pass
    starts, ends = [], []
    for s in sorted((p / "runs").glob("*/summary.json")) if (p / "runs").is_dir() else []:
        try:
            d = json.loads(s.read_text())
            if d.get("started") and d.get("finished"):
                starts.append(datetime.fromisoformat(d["started"]))
                ends.append(datetime.fromisoformat(d["finished"]))
        except (OSError, ValueError, TypeError):
            continue
    if starts:
        return (max(ends) - min(starts)).total_seconds(), "first run start to last run finish"
    if df is not None and "wall_s" in df and df["wall_s"].notna().any():
        return float(df["wall_s"].max()), "lower bound: the longest run (no start/finish times recorded)"
    return None, ""
