"""Checkpoints of a single run, so an interrupted run resumes where it was and ends with the metrics an
uninterrupted run writes, bit for bit (same machine, same thread count).

A checkpoint (``checkpoint.pt`` in the run directory, written atomically at a probe point) holds the
step, the run record (rows, schedule position, timings, summary, early-stop watch, the ntk probe's
last kernel) and the mutable state of the engine and of the linearised twin: every tensor, generator
and number reachable from them (parameters, optimiser moments, the reduced factor U and velocity V,
mini-batch permutation and cursor, the twin's time). Resuming builds the run afresh from its config
(data, θ₀, K₀ and the twin at θ₀ are deterministic) and then writes that state back in place, so
views into the engine's buffers stay valid. Data sets, models and caches are not saved.
"""
from __future__ import annotations

import copy
import dataclasses
import io
from pathlib import Path
from typing import Any

import torch

from grokscope.store import atomic_write_bytes
from grokscope.tasks.base import Dataset

FILE = "checkpoint.pt"
SKIP_NAMES = frozenset({"_grams", "_jvp_cache", "_vjp_cache", "_XT", "data", "model", "loss", "X", "Y"})
_SKIP = "__skip__"


def _ours(obj: Any) -> bool:
    return type(obj).__module__.startswith("grokscope.") and not isinstance(obj, Dataset) and not (
        dataclasses.is_dataclass(obj) and obj.__dataclass_params__.frozen)


def capture(obj: Any, skip_broadcast: bool = False) -> Any:
    """The mutable state reachable from ``obj``: tensors (cloned), generator states, numbers, strings,
    and containers and grokscope objects of them; anything else (functions, data, models) skipped.
    ``skip_broadcast`` also leaves out expanded tensors (a zero stride: broadcast views of the data,
    written by nobody), so that :func:`restore` can write the rest back in place."""
    if isinstance(obj, torch.Tensor):
        if skip_broadcast and obj.numel() > 1 and 0 in obj.stride():
            return _SKIP
        return obj.detach().clone()
    if isinstance(obj, torch.Generator):
        return {"__gen__": obj.get_state()}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {"__dict__": {k: capture(v, skip_broadcast) for k, v in obj.items()
                             if isinstance(k, (str, int)) and k not in SKIP_NAMES}}
    if isinstance(obj, (list, tuple)):
        return {"__seq__": [capture(v, skip_broadcast) for v in obj], "tuple": isinstance(obj, tuple)}
    if _ours(obj):
        return {"__obj__": {k: capture(v, skip_broadcast) for k, v in vars(obj).items() if k not in SKIP_NAMES}}
    return _SKIP


def restore(current: Any, state: Any) -> Any:
    """Write ``state`` (from :func:`capture`) back into ``current`` in place where it can (tensors of the
    same shape, generators, containers, objects); returns the value to keep."""
    if isinstance(state, str) and state == _SKIP:
        return current
    if isinstance(state, torch.Tensor):
        if isinstance(current, torch.Tensor) and current.shape == state.shape and current.dtype == state.dtype:
            return current.copy_(state)
        return state.to(current.device) if isinstance(current, torch.Tensor) else state
    if isinstance(state, dict) and "__gen__" in state:
        current.set_state(state["__gen__"])
        return current
    if isinstance(state, dict) and "__dict__" in state:
        out = current if isinstance(current, dict) else {}
        for k, v in state["__dict__"].items():
            out[k] = restore(out.get(k), v)
        return out
    if isinstance(state, dict) and "__seq__" in state:
        items = list(current) if isinstance(current, (list, tuple)) and len(current) == len(state["__seq__"]) \
            else [None] * len(state["__seq__"])
        items = [restore(c, s) for c, s in zip(items, state["__seq__"])]
        if isinstance(current, list) and not state["tuple"]:
            current[:] = items
            return current
        return tuple(items) if state["tuple"] else items
    if isinstance(state, dict) and "__obj__" in state:
        for k, v in state["__obj__"].items():
            setattr(current, k, restore(getattr(current, k, None), v))
        return current
    return state


def save(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(Path(path) / FILE, buf.getvalue())


def load(path: Path) -> dict[str, Any] | None:
    """The checkpoint in run directory ``path``, or None (none, or unreadable: then the run restarts)."""
    f = Path(path) / FILE
    if not f.is_file():
        return None
    try:
        return torch.load(f, weights_only=False)
    except Exception:  # noqa: BLE001 — a damaged checkpoint only costs the progress it held
        return None


def record_state(rs: Any, step: int) -> dict[str, Any]:
    """What a run record (training.record.RunState) and its engine and twin need to go on from ``step``."""
    row = rs.ctx.cache.ntk_row
    return {"step": step, "config_hash": rs.summary["run_id"], "rows": copy.deepcopy(rs.rows), "j": rs.j,
            "probe_s": dict(rs.probe_s), "train_s": rs.train_s, "summary": copy.deepcopy(rs.summary),
            "watch": capture(rs.watch), "engine": capture(rs.b.engine), "twin": capture(rs.ctx.twin),
            "ntk_row": None if row is None else dataclasses.astuple(row)}


def resume_record(rs: Any, state: dict[str, Any]) -> int:
    """Write a checkpoint back into a freshly built run record; returns the step to go on from."""
    from grokscope.training.probe_cache import NtkRow
    rs.rows[:] = state["rows"]
    rs.j, rs.train_s = state["j"], state["train_s"]
    rs.probe_s.update(state["probe_s"])
    started = rs.summary.get("started")
    rs.summary.clear()
    rs.summary.update(state["summary"], resumed={"step": state["step"], "started": started})
    restore(rs.watch, state["watch"])
    restore(rs.b.engine, state["engine"])
    if rs.ctx.twin is not None:
        restore(rs.ctx.twin, state["twin"])
    rs.ctx.cache.ntk_row = None if state["ntk_row"] is None else NtkRow(*state["ntk_row"])
    return int(state["step"])
