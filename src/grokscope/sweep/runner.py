"""Run a sweep: expand the spec, skip complete runs, send packs of the rest to a backend, and
rebuild results.parquet from the run directories after every pack and at the end.

Layout::

    SWEEP_DIR/sweep.yaml         the resolved spec (axes as value lists, axes_keys, scales, base config)
    SWEEP_DIR/runs/<run_id>/     ordinary run directories, run_id = grokscope.store.run_id(cfg)
    SWEEP_DIR/results.parquet    one row per run (see grokscope.sweep.results)
    SWEEP_DIR/figures/           views (grokscope plot)

A complete run directory (summary.json with status completed/diverged) is skipped; anything else
(killed mid-run, failed) is redone from scratch. Killing the sweep at any moment loses no finished
run and duplicates none, because the table is rebuilt from the directories.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from grokscope.config import ConfigError
from grokscope.store import atomic_write_text, is_complete
from grokscope.sweep.backends import run_packs
from grokscope.sweep.results import write_results
from grokscope.sweep.spec import PlannedRun, SweepSpec, expand, spec_from_dict

SPEC_FILE = "sweep.yaml"


def default_sweep_dir(spec: SweepSpec, root: str = "sweeps") -> Path:
    return Path(root) / (spec.name + ("-quick" if spec.quick else ""))


def load_sweep(sweep_dir: str | Path) -> tuple[SweepSpec, list[PlannedRun]]:
    """The resolved spec and plan of an existing sweep directory."""
    p = Path(sweep_dir) / SPEC_FILE
    if not p.is_file():
        raise ConfigError(f"{str(sweep_dir)!r} is not a sweep directory: expected {SPEC_FILE} "
                          f"(written by `grokscope sweep`)")
    spec = spec_from_dict(yaml.safe_load(p.read_text()))
    return spec, expand(spec)


def rebuild_results(sweep_dir: str | Path) -> pd.DataFrame:
    """Rebuild SWEEP_DIR/results.parquet from its run directories (e.g. after a crash)."""
    _, plan = load_sweep(sweep_dir)
    return write_results(Path(sweep_dir), plan)


def make_packs(plan: list[PlannedRun], sweep_dir: Path, pack_size: int, label: str,
               batch: bool) -> list[list[tuple[dict[str, Any], str, str]]]:
    """Packs of ``pack_size`` runs in plan order; runs sharing a batch key are packed together."""
    order = list(plan)
    if batch:
        try:
            from grokscope.training.batched import batch_key
        except ImportError:
            batch_key = None  # type: ignore[assignment]
        if batch_key is not None:
            keys = {}
            for p in plan:
                try:
                    keys[p.run_id] = batch_key(p.cfg)
                except Exception:  # noqa: BLE001
                    keys[p.run_id] = None
            first: dict[Any, int] = {}
            for i, p in enumerate(plan):
                first.setdefault(keys[p.run_id] if keys[p.run_id] is not None else p.run_id, i)
            order.sort(key=lambda p: first[keys[p.run_id] if keys[p.run_id] is not None else p.run_id])
    items = [(p.cfg.to_dict(), str(sweep_dir / "runs" / p.run_id), label) for p in order]
    return [items[i:i + pack_size] for i in range(0, len(items), pack_size)]


def run_sweep(spec: SweepSpec, sweep_dir: str | Path, *, backend: str = "local", workers: int | None = None,
              address: str | None = None, progress: bool = True, pack_size: int | None = None,
              threads: int | None = None) -> pd.DataFrame:
    """Run (or resume) a sweep into ``sweep_dir``; returns the final results table. The sweep directory
    is locked while the sweep runs (a second driver gets a clear error; a dead driver's lock is broken)."""
    from grokscope.locks import DirLock
    sweep_dir = Path(sweep_dir)
    plan = expand(spec)
    with DirLock(sweep_dir, "sweep"):
        return _run_locked(spec, sweep_dir, plan, backend, workers, address, progress, pack_size, threads)


def _run_locked(spec: SweepSpec, sweep_dir: Path, plan: list[PlannedRun], backend: str, workers: int | None,
                address: str | None, progress: bool, pack_size: int | None, threads: int | None) -> pd.DataFrame:
    _write_spec(sweep_dir, spec)
    todo = [p for p in plan if not is_complete(sweep_dir / "runs" / p.run_id)]
    write_results(sweep_dir, plan)
    packs = make_packs(todo, sweep_dir, pack_size or spec.pack_size, spec.name, spec.batch)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(plan), initial=len(plan) - len(todo), unit="run", dynamic_ncols=True,
                   desc=spec.name, file=sys.stderr)
    failed = 0
    session = _session_start()
    try:
        for outcomes in run_packs(packs, backend, workers=workers, address=address, batch=spec.batch,
                                  threads=threads):
            failed += sum(o["status"] == "failed" for o in outcomes)
            write_results(sweep_dir, plan)
            if bar is not None:
                bar.update(len(outcomes))
                if failed:
                    bar.set_postfix(failed=failed, refresh=False)
    finally:
        if bar is not None:
            bar.close()
        df = write_results(sweep_dir, plan)
        if todo:
            _record_session(sweep_dir, session, len(todo))
    return df


def _session_start() -> tuple[str, float]:
    import time
    from datetime import datetime, timezone
    return datetime.now(timezone.utc).isoformat(timespec="seconds"), time.perf_counter()


def _record_session(sweep_dir: Path, session: tuple[str, float], n_runs: int) -> None:
    """Add this driver session (start, finish, wall seconds, runs attempted) to SWEEP_DIR/sweep_timing.json;
    its ``wall_s`` (the sum over sessions) is the sweep's wall-clock time that ``grokscope ls`` shows."""
    import json
    import time
    from datetime import datetime, timezone

    from grokscope.views.table import SWEEP_TIMING
    p = sweep_dir / SWEEP_TIMING
    try:
        sessions = json.loads(p.read_text())["sessions"] if p.is_file() else []
    except (OSError, ValueError, KeyError, TypeError):
        sessions = []
    sessions.append({"started": session[0], "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "wall_s": time.perf_counter() - session[1], "runs": n_runs})
    atomic_write_text(p, json.dumps({"wall_s": sum(s["wall_s"] for s in sessions), "sessions": sessions}, indent=2))


def _write_spec(sweep_dir: Path, spec: SweepSpec) -> None:
    p = sweep_dir / SPEC_FILE
    text = yaml.safe_dump(spec.to_dict(), sort_keys=False)
    if p.is_file():
        old = yaml.safe_load(p.read_text()) or {}
        new = yaml.safe_load(text)
        if old.get("base") != new.get("base") or old.get("axes_keys") != new.get("axes_keys"):
            print(f"grokscope: note: {p} held a different spec; it is replaced (existing run directories are "
                  f"kept and reused where their config matches)", file=sys.stderr)
    atomic_write_text(p, text)


def status_counts(df: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in df["status"].value_counts().items()}
