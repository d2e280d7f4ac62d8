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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish(tmp: str, path: Path) -> None:
    """Give the temporary file the mode a plain open() would (0666 less the umask; mkstemp makes it
    0600), then rename it into place."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place (never half-written);
    the file's mode honours the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, path)
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
        _publish(tmp, path)
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
NEUTRAL_DEFAULTS.update({  # issue #22: label noise, grokking tickets, local-complexity / robustness probes
    ("task", "label_noise"): 0.0, ("task", "label_noise_seed"): 0, ("init", "mask_from"): None,
    ("init", "mask_sparsity"): 0.0, ("init", "mask_kind"): "magnitude", ("init", "mask_seed"): 0,
    ("init", "mask_scope"): "layer",
    ("probes", "lc_radius"): 0.05, ("probes", "lc_vertices"): 20, ("probes", "lc_points"): 200,
    ("probes", "robust_eps"): 0.05, ("probes", "robust_iters"): 10})
NEUTRAL_DEFAULTS.update({  # this wave's other switches, off by default (tests/pins/run_ids.json guards them)
    ("init", "interp"): 0.0, ("optim", "warmup_steps"): 0, ("scaling", "alpha_convention"): "as-written",
    ("task", "online"): False, ("model", "layernorm"): "none", ("model", "moe_experts"): 0,
    ("model", "moe_top_k"): 2, ("model", "moe_d_expert"): None, ("probes", "liu_param"): None,
    ("probes", "liu_trials"): 320, ("probes", "liu_kernel_trials"): 32, ("probes", "pathway_mass"): 0.7,
    ("probes", "pathway_top_k"): None,
    ("init", "recurrent"): {"kind": "none", "param": "W_rec", "gain": 1.25, "rank": None, "decay": None,
                            "effective_rank": None, "align_in": "W_in", "align_out": "W_out", "path": None,
                            "seed": None}})


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


def check_target(path: str | os.PathLike[str], cfg: Config, force: bool = False) -> Run | None:
    """Before writing a run of ``cfg`` into ``path``: the finished run already there when it is of the
    same config (None with ``force``); a ConfigError naming both config hashes when the directory holds
    a run of another config (unless ``force``); None when there is nothing to keep."""
    p = Path(path)
    if not is_run_dir(p) or force:
        return None
    try:
        old = run_id(load_config(p / "config.yaml"))
    except ConfigError:
        old = "unreadable"
    new = run_id(cfg)
    if old != new:
        raise ConfigError(f"{p}: holds a run of another config (hash {old}), not of this one (hash {new}); "
                          "choose another output.name, or force to replace it")
    return load_run(p) if is_complete(p) else None


class RunWriter:
    """Writes one run directory under its lock (:mod:`grokscope.locks`); safe to call ``flush`` at any
    time. A finished run in ``path`` is replaced only with ``force``; ``keep`` (a resumed run) keeps the
    metrics written so far; ``close()`` releases the lock."""

    def __init__(self, path: Path, cfg: Config, force: bool = False, keep: bool = False):
        from grokscope.locks import DirLock
        self.path = Path(path)
        self.lock = DirLock(self.path, "run").acquire()
        try:
            if is_complete(self.path) and not force:
                raise ConfigError(f"{self.path}: holds a finished run; it is replaced only with force")
            for stale in ("summary.json",) if keep else ("summary.json", "metrics.parquet"):
                (self.path / stale).unlink(missing_ok=True)
            atomic_write_text(self.path / "config.yaml", dump_config(cfg))
        except BaseException:
            self.lock.release()
            raise

    def close(self) -> None:
        self.lock.release()

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


PARAMS_FINAL = "params_final.pt"  # a finished run's final weights (grokking tickets read them)


def save_final_params(path: str | os.PathLike[str], params: dict[str, Any]) -> None:
    """Write a run's final weights (a dict of tensors, saved on the CPU) to PATH/params_final.pt, atomically."""
    import io

    import torch
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in params.items()}, buf)
    atomic_write_bytes(Path(path) / PARAMS_FINAL, buf.getvalue())


def load_final_params(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The weights saved by :func:`save_final_params` in run directory PATH, or None when it holds none."""
    f = Path(path) / PARAMS_FINAL
    if not f.is_file():
        return None
    import torch
    return torch.load(f, weights_only=True)


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
    if not p.exists():
        raise FileNotFoundError(f"{str(p)!r}: no such run directory")
    if not is_run_dir(p):
        raise ConfigError(f"{str(p)!r} is not a run directory: expected config.yaml, metrics.parquet "
                          f"and summary.json (written by `grokscope run`)")
    cfg = load_config(p / "config.yaml")
    mp = p / "metrics.parquet"
    metrics = pd.read_parquet(mp) if mp.is_file() else pd.DataFrame(columns=["step"])
    sp = p / "summary.json"
    summary = json.loads(sp.read_text()) if sp.is_file() else None
    return Run(p, cfg, metrics, summary)
