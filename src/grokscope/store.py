"""Run directories: atomic writes, load, completeness.

A run directory holds ``config.yaml`` (fully resolved), ``metrics.parquet`` (one row per logged
step), ``summary.json`` (status, events, final values, timings, versions) and ``figures/``.
Every file is written to a temporary name and renamed. A run is complete only when
``summary.json`` exists with status ``completed`` or ``diverged``.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from grokscope.config import Config, ConfigError, dump_config, load_config

FINISHED = ("completed", "diverged")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_figure(path: Path, fig: Any, dpi: int = 120) -> None:
    """A matplotlib figure saved as PNG through :func:`atomic_write_bytes` (never half-written)."""
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_parquet(path: Path, df: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# keys added after the first release, with the default that changes nothing: dropped from the hash at
# that default, so earlier configs keep their run ids
NEUTRAL_DEFAULTS = {("optim", "weight_decay_mode"): "auto", ("optim", "orthogonal"): False,
                    ("optim", "fixed_norm"): None, ("train", "logits_dtype"): "auto",
                    ("train", "loss_dtype"): "auto", ("init", "rank"): None, ("init", "scale"): 1.0,
                    ("init", "params"): None}


def _drop_neutral_defaults(d: dict) -> None:
    for (sec, key), default in NEUTRAL_DEFAULTS.items():
        if sec in d and key in d[sec] and d[sec][key] == default and type(d[sec][key]) is type(default):
            del d[sec][key]
    for sec in {sec for sec, _ in NEUTRAL_DEFAULTS}:
        if sec in d and d[sec] == {}:
            del d[sec]


def run_id(cfg: Config) -> str:
    """Hash of the resolved config, output and progress-bar settings excluded (they change no result)."""
    d = cfg.to_dict()
    _drop_neutral_defaults(d)
    d.pop("output", None)
    d["train"].pop("progress", None)
    if d["train"].get("early_stop") is None:  # the default (off) leaves earlier run ids unchanged
        d["train"].pop("early_stop", None)
    blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


class RunWriter:
    """Writes one run directory; safe to call ``flush`` at any time."""

    def __init__(self, path: Path, cfg: Config):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in ("summary.json", "metrics.parquet"):
            (self.path / stale).unlink(missing_ok=True)
        atomic_write_text(self.path / "config.yaml", dump_config(cfg))

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_parquet(self.path / "metrics.parquet", pd.DataFrame(rows))

    def write_summary(self, summary: dict[str, Any]) -> None:
        self.save_summary(self.path, summary)

    @staticmethod
    def save_summary(path: str | os.PathLike[str], summary: dict[str, Any]) -> None:
        """summary.json of the run directory ``path``, written atomically."""
        atomic_write_text(Path(path) / "summary.json", json.dumps(summary, indent=2, default=_json_default))


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@dataclass
class Run:
    """A loaded run: ``config, metrics, summary = load_run(path)`` also works."""

    path: Path
    config: Config
    metrics: pd.DataFrame
    summary: dict[str, Any] | None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.config, self.metrics, self.summary))

    @property
    def status(self) -> str:
        if self.summary is None:
            return "incomplete"
        return str(self.summary.get("status", "unknown"))

    @property
    def complete(self) -> bool:
        return self.status in FINISHED


def is_run_dir(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / "config.yaml").is_file()


def is_sweep_dir(path: str | os.PathLike[str]) -> bool:
    """A sweep directory: it holds sweep.yaml (the resolved spec) or results.parquet."""
    p = Path(path)
    return (p / "sweep.yaml").is_file() or (p / "results.parquet").is_file()


def is_complete(path: str | os.PathLike[str]) -> bool:
    p = Path(path) / "summary.json"
    if not p.is_file():
        return False
    try:
        return json.loads(p.read_text()).get("status") in FINISHED
    except (OSError, ValueError):
        return False


def load_run(path: str | os.PathLike[str]) -> Run:
    """Config, metrics DataFrame and summary (None while a run is incomplete) of a run directory."""
    p = Path(path)
    if not is_run_dir(p):
        raise ConfigError(f"{str(p)!r} is not a run directory: expected config.yaml, metrics.parquet "
                          f"and summary.json (written by `grokscope run`)")
    cfg = load_config(p / "config.yaml")
    mp = p / "metrics.parquet"
    metrics = pd.read_parquet(mp) if mp.is_file() else pd.DataFrame(columns=["step"])
    sp = p / "summary.json"
    summary = json.loads(sp.read_text()) if sp.is_file() else None
    return Run(p, cfg, metrics, summary)
