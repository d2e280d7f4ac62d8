"""results.parquet: one row per planned run, rebuilt from the run directories alone.

Columns: run_id, run_dir (relative to SWEEP_DIR), status, error, wall_s, seed_index, the axis keys
(dotted, e.g. scaling.alpha), flattened summary columns (t_train_0.1, t_test_0.1, grok_amount_0.1,
delay_ratio_0.1, the same with ``_rel`` for relative thresholds, peak_test_loss, final_<metric>,
k0_test_mse, laziness_verdict, departure_step, ...), timing columns (TIMING_COLUMNS), then every other
scalar config leaf as a dotted column. Because it is rebuilt from the directories, a killed sweep
loses no finished run and counts none twice.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from grokscope.store import atomic_write_parquet, atomic_write_text, is_complete

ERROR_FILE = "sweep_error.json"
TIMING_COLUMNS = ("wall_s", "train_s", "probes_s", "steps_per_s")


def write_error(path: Path, error: str, wall_s: float, tb: str = "") -> None:
    """Record a run that raised: ``sweep_error.json`` (error, traceback, wall_s) in its run directory."""
    atomic_write_text(Path(path) / ERROR_FILE, json.dumps(
        {"status": "failed", "error": error, "traceback": tb, "wall_s": wall_s}, indent=2))


def _flat_config(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            if prefix + k == "probes.cadence" or not v:
                out[prefix + k] = json.dumps(v, sort_keys=True)
            else:
                out.update(_flat_config(v, f"{prefix}{k}."))
        elif isinstance(v, (list, tuple)):
            out[prefix + k] = json.dumps(v)
        else:
            out[prefix + k] = v
    return out


def summary_columns(summary: dict[str, Any]) -> dict[str, Any]:
    """Flatten a run's summary.json into scalar columns."""
    out: dict[str, Any] = {}
    ev = summary.get("events") or {}
    for kind, suffix in (("absolute", ""), ("relative", "_rel")):
        for th, c in (ev.get(kind) or {}).items():
            for name in ("t_train", "t_test", "grok_amount", "delay_ratio"):
                out[f"{name}{suffix}_{th}"] = c.get(name)
    for k in ("peak_test_loss", "peak_test_step", "min_test_loss"):
        out[k] = ev.get(k)
    for k, v in (ev.get("initial") or {}).items():
        out[f"initial_{k}"] = v
    for k, v in (ev.get("final") or {}).items():
        out[f"final_{k}"] = v
    lz = summary.get("laziness") or {}
    for k in ("final_kernel_distance", "final_param_change"):  # last logged value of sparse probes
        if lz.get(k) is not None and out.get(k) is None:
            out[k] = lz[k]
    out["laziness_verdict"] = lz.get("verdict")
    out["departure_step"] = lz.get("departure_step")
    k0 = summary.get("k0") or {}
    out["k0_train_mse"], out["k0_test_mse"] = k0.get("train_mse"), k0.get("test_mse")
    out["engine"] = (summary.get("engine") or {}).get("name")
    out["ensemble_size"] = (summary.get("ensemble") or {}).get("size")  # trained in a batched ensemble
    out["eta"] = summary.get("eta")
    out["steps_done"] = summary.get("steps_done")
    out["diverged_at"] = summary.get("diverged_at")
    tm = summary.get("timings") or {}
    out["train_s"] = tm.get("train_s")
    out["probes_s"] = sum((tm.get("probes_s") or {}).values()) if tm.get("probes_s") else None
    out["steps_per_s"] = tm.get("steps_per_s")
    out["_wall_s"] = tm.get("total_s")
    out["_reason"] = summary.get("reason")
    return out


def run_row(sweep_dir: Path, planned: Any) -> dict[str, Any]:
    """One results row for a planned run, read from its directory (status pending if none)."""
    rel = f"runs/{planned.run_id}"
    path = Path(sweep_dir) / rel
    row: dict[str, Any] = {"run_id": planned.run_id, "run_dir": rel, "status": "pending", "error": None,
                           "wall_s": None, "seed_index": planned.seed_index, **planned.axes}
    summ_path = path / "summary.json"
    err_path = path / ERROR_FILE
    summary = None
    if summ_path.is_file():
        try:
            summary = json.loads(summ_path.read_text())
        except (OSError, ValueError):
            summary = None
    if is_complete(path) and summary is not None:
        cols = summary_columns(summary)
        row["status"] = summary["status"]
        row["error"] = cols.pop("_reason") if summary["status"] != "completed" else None
        row["wall_s"] = cols.pop("_wall_s")
        cols.pop("_reason", None)
        row.update(cols)
    elif err_path.is_file():
        e = json.loads(err_path.read_text())
        row["status"], row["error"], row["wall_s"] = "failed", e.get("error"), e.get("wall_s")
    elif path.is_dir():
        row["status"] = "incomplete"
    for k, v in _config_row(planned.cfg).items():
        row.setdefault(k, v)
    return row


def build_results(sweep_dir: Path, plan: list[Any]) -> pd.DataFrame:
    """The results table of a sweep, in plan order, with a stable column order."""
    rows = [run_row(sweep_dir, p) for p in plan]
    cols: list[str] = []
    seen: set[str] = set()
    for r in rows:
        for k in r:
            if k not in seen:
                seen.add(k)
                cols.append(k)
    cfg_cols = [c for c in cols if "." in c and c in _config_columns(plan)]
    axes = list(plan[0].axes) if plan else []
    head = ["run_id", "run_dir", "status", "error", "wall_s", "seed_index", *axes]
    rest = [c for c in cols if c not in head and c not in cfg_cols]
    tail = [c for c in cfg_cols if c not in head]
    df = pd.DataFrame(rows, columns=head + rest + tail)
    return df


def _config_row(cfg: Any) -> dict[str, Any]:
    """Scalar config leaves as dotted columns, without the settings that change no result."""
    return {k: v for k, v in _flat_config(cfg.to_dict()).items()
            if not k.startswith("output.") and k != "train.progress"}


def _config_columns(plan: list[Any]) -> set[str]:
    return set(_config_row(plan[0].cfg)) if plan else set()


def write_results(sweep_dir: Path, plan: list[Any]) -> pd.DataFrame:
    """Rebuild SWEEP_DIR/results.parquet from the run directories (atomic write)."""
    df = build_results(sweep_dir, plan)
    atomic_write_parquet(Path(sweep_dir) / "results.parquet", df)
    return df
