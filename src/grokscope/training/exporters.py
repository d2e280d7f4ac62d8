"""Send a run's metrics to the tools researchers already use: TensorBoard event files (tensorboardX),
MLflow (SQLite or local-file tracking URI) and Weights & Biases in offline mode.

Each backend is a *stream*: ``log(row)`` per logged step (row = {"step": t, metric: value, ...}) and
``close(summary)`` at the end. ``export_run`` replays a stored run through one stream; training
streams live when ``output.stream`` lists backends. The packages are optional (pip extra ``export``)
and imported lazily.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

from grokscope.config import Config, ConfigError

BACKENDS = {"tensorboard": "tensorboardX", "mlflow": "mlflow", "wandb": "wandb"}


def require(backend: str) -> None:
    """Fail (before any work) when a backend's optional package is missing, naming the pip extra."""
    if backend not in BACKENDS:
        raise ConfigError(f"export backend {backend!r}: unknown; allowed: {', '.join(BACKENDS)}")
    import importlib.util
    if importlib.util.find_spec(BACKENDS[backend]) is None:
        raise ConfigError(f"export to {backend}: needs the optional package {BACKENDS[backend]!r}; "
                          "install it with: pip install 'grokscope[export]'")


def _values(row: dict[str, Any]) -> dict[str, float]:
    """The finite numeric metrics of a row (step, None, NaN and inf left out)."""
    out = {}
    for k, v in row.items():
        if k == "step" or v is None or isinstance(v, (str, bool)):
            continue
        v = float(v)
        if math.isfinite(v):
            out[k] = v
    return out


def flat_config(cfg: Config) -> dict[str, str]:
    """Dotted config keys → string values (``{"scaling.alpha": "1.0", ...}``) for hyper-parameter logs."""
    out: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = str(node)
    walk("", cfg.to_dict())
    return out


def _summary_scalars(summary: dict[str, Any] | None) -> dict[str, float]:
    """Event times and grokking amounts as flat scalars: ``events/absolute/0.1/t_test`` etc.

    One key convention for every backend: metric columns keep their names (``test_loss``), summary
    scalars are ``/``-separated paths under ``events/`` (TensorBoard groups them by the first segment),
    config keys are dotted (``scaling.alpha``) as in the config itself."""
    out: dict[str, float] = {}
    ev = (summary or {}).get("events") or {}
    for kind in ("absolute", "relative"):
        for th, c in (ev.get(kind) or {}).items():
            for key in ("t_train", "t_test", "grok_amount", "delay_ratio"):
                if c.get(key) is not None:
                    out[f"events/{kind}/{th}/{key}"] = float(c[key])
    for key in ("peak_test_loss", "peak_test_step", "min_test_loss"):
        if ev.get(key) is not None:
            out[f"events/{key}"] = float(ev[key])
    return out


class TensorBoardStream:
    """Scalars to ``logdir`` (default RUN/tensorboard): one tag per metric, x = step."""

    def __init__(self, run_dir: Path, cfg: Config, uri: str | None = None):
        require("tensorboard")
        from tensorboardX import SummaryWriter
        self.location = str(Path(uri) if uri else Path(run_dir) / "tensorboard")
        self.w = SummaryWriter(logdir=self.location)
        self.w.add_text("config", "\n".join(f"    {k}: {v}" for k, v in flat_config(cfg).items()), 0)

    def log(self, row: dict[str, Any]) -> None:
        for k, v in _values(row).items():
            self.w.add_scalar(k, v, int(row["step"]))

    def close(self, summary: dict[str, Any] | None) -> None:
        for k, v in _summary_scalars(summary).items():
            self.w.add_scalar(k, v, 0)
        self.w.add_text("status", str((summary or {}).get("status", "incomplete")), 0)
        self.w.close()


def default_mlflow_uri(run_dir: Path) -> str:
    """SQLite store beside the run directories: ``sqlite:///<parent of RUN>/mlflow.db``."""
    return "sqlite:///" + str(Path(run_dir).resolve().parent / "mlflow.db")


class MLflowStream:
    """One MLflow run (experiment ``grokscope``) with the config as params and every metric per step.

    MLflow ≥ 3.x refuses a local-file store (``file:...``) unless MLFLOW_ALLOW_FILE_STORE=true; asking
    for one here explicitly opts in. SQLite (the default) needs no opt-in.
    """

    def __init__(self, run_dir: Path, cfg: Config, uri: str | None = None):
        require("mlflow")
        uri = uri or default_mlflow_uri(run_dir)
        if uri.startswith("file:") or "://" not in uri:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow import MlflowClient
        from mlflow.entities import Param
        self.c = MlflowClient(tracking_uri=uri)
        exp = self.c.get_experiment_by_name("grokscope")
        eid = exp.experiment_id if exp else self.c.create_experiment("grokscope")
        self.run_id = self.c.create_run(eid, run_name=Path(run_dir).name,
                                        tags={"grokscope.run_dir": str(Path(run_dir).resolve())}).info.run_id
        params = [Param(k, v[:6000]) for k, v in flat_config(cfg).items()]
        for i in range(0, len(params), 100):
            self.c.log_batch(self.run_id, params=params[i:i + 100])
        self.location = f"{uri} (run {self.run_id})"
        self._pending: list[Any] = []

    def log(self, row: dict[str, Any]) -> None:
        import time

        from mlflow.entities import Metric
        ts = int(time.time() * 1000)
        self._pending += [Metric(k, v, ts, int(row["step"])) for k, v in _values(row).items()]
        if len(self._pending) >= 500:
            self._flush()

    def _flush(self) -> None:
        for i in range(0, len(self._pending), 1000):
            self.c.log_batch(self.run_id, metrics=self._pending[i:i + 1000])
        self._pending = []

    def close(self, summary: dict[str, Any] | None) -> None:
        import time

        from mlflow.entities import Metric
        ts = int(time.time() * 1000)
        self._pending += [Metric(k, v, ts, 0) for k, v in _summary_scalars(summary).items()]
        self._flush()
        status = (summary or {}).get("status", "incomplete")
        self.c.set_tag(self.run_id, "grokscope.status", status)
        verdict = ((summary or {}).get("laziness") or {}).get("verdict")
        if verdict:
            self.c.set_tag(self.run_id, "grokscope.verdict", verdict)
        self.c.set_terminated(self.run_id, "FINISHED" if status in ("completed", "diverged") else "FAILED")


class WandbStream:
    """A Weights & Biases run in offline mode under ``dir`` (default RUN/wandb); sync later with
    ``wandb sync``. Nothing is sent over the network."""

    def __init__(self, run_dir: Path, cfg: Config, uri: str | None = None):
        require("wandb")
        import wandb
        d = Path(uri) if uri else Path(run_dir)
        d.mkdir(parents=True, exist_ok=True)
        settings = wandb.Settings(mode="offline", silent=True, console="off", x_disable_stats=True)
        self.run = wandb.init(project="grokscope", name=Path(run_dir).name, dir=str(d), config=cfg.to_dict(),
                              settings=settings, reinit="create_new")
        self.location = str(Path(self.run.dir).parent)

    def log(self, row: dict[str, Any]) -> None:
        self.run.log(_values(row), step=int(row["step"]))

    def close(self, summary: dict[str, Any] | None) -> None:
        for k, v in _summary_scalars(summary).items():
            self.run.summary[k] = v
        self.run.summary["status"] = (summary or {}).get("status", "incomplete")
        self.run.finish(exit_code=0 if (summary or {}).get("status") in ("completed", "diverged") else 1)


STREAMS = {"tensorboard": TensorBoardStream, "mlflow": MLflowStream, "wandb": WandbStream}


def export_run(run_dir: str | os.PathLike[str], to: str, uri: str | None = None) -> str:
    """Replay a stored run (complete or not) into one backend; returns where it went."""
    from grokscope.store import load_run
    require(to)
    run = load_run(run_dir)
    s = STREAMS[to](Path(run_dir), run.config, uri)
    for row in run.metrics.to_dict("records"):
        s.log(row)
    s.close(run.summary)
    return s.location


class Streams:
    """The live streams of a training run. A backend that fails is closed and reported, never allowed
    to stop training or lose the run directory."""

    def __init__(self, cfg: Config, run_dir: Path):
        self.streams: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.last_step = -1
        uri = cfg.output.mlflow_uri
        for name in dict.fromkeys(cfg.output.stream):
            try:
                self.streams[name] = STREAMS[name](run_dir, cfg, uri if name == "mlflow" else None)
            except ConfigError:
                raise
            except Exception as exc:  # noqa: BLE001 — reported in the summary, training goes on
                self._fail(name, exc)

    def _fail(self, name: str, exc: Exception) -> None:
        self.errors[name] = f"{type(exc).__name__}: {exc}"
        self.streams.pop(name, None)
        warnings.warn(f"output.stream {name}: disabled after an error: {self.errors[name]}", stacklevel=3)

    def log(self, row: dict[str, Any]) -> None:
        for name, s in list(self.streams.items()):
            try:
                s.log(row)
            except Exception as exc:  # noqa: BLE001
                self._fail(name, exc)
        self.last_step = int(row["step"])

    def close(self, rows: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, str]:
        """Log rows not yet streamed (e.g. the state where a run stopped), close; where each went."""
        for row in rows:
            if int(row["step"]) > self.last_step:
                self.log(row)
        out = {}
        for name, s in list(self.streams.items()):
            try:
                s.close(summary)
                out[name] = s.location
            except Exception as exc:  # noqa: BLE001
                self._fail(name, exc)
        out.update({k: f"error: {v}" for k, v in self.errors.items()})
        return out
