"""Exporters: every logged metric comes back, value for value, through each tool's own reader."""
from __future__ import annotations

import glob
import json
import math
import struct
from pathlib import Path

import pytest
from conftest import small_config

from grokscope.api import run
from grokscope.cli import main
from grokscope.config import ConfigError
from grokscope.training.build import build
from grokscope.training.exporters import export_run, require

COLS = ("train_loss", "test_loss", "ntk_alignment")


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ex")
    return run(small_config(tmp, **{"train.steps": 30}), tmp / "runs" / "r", quiet=True)


def expected(r, col):
    m = r.metrics[["step", col]].dropna()
    return {int(s): float(v) for s, v in zip(m["step"], m[col])}


def test_unknown_or_missing_backend(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="unknown; allowed: tensorboard, mlflow, wandb"):
        require("neptune")
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "mlflow" else real(n, *a))
    with pytest.raises(ConfigError, match=r"grokscope\[export\]"):
        build(small_config(tmp_path, **{"output.stream": ["mlflow"]}))
    with pytest.raises(ConfigError, match="output.stream"):
        small_config(tmp_path, **{"output.stream": ["csv"]})


def test_tensorboard_roundtrip(done, tmp_path):
    pytest.importorskip("tensorboardX", reason="pip install 'grokscope[export]'")
    from tensorboardX.proto.event_pb2 import Event
    logdir = tmp_path / "tb"
    assert main(["export", str(done.path), "--to", "tensorboard", "--uri", str(logdir)]) == 0
    got: dict[str, dict[int, float]] = {}
    for f in logdir.glob("events.out.tfevents.*"):
        data = f.read_bytes()
        pos = 0
        while pos < len(data):  # TFRecord: u64 length, u32 crc, payload, u32 crc
            (n,) = struct.unpack("<Q", data[pos:pos + 8])
            ev = Event.FromString(data[pos + 12:pos + 12 + n])
            pos += 16 + n
            for v in ev.summary.value:
                got.setdefault(v.tag, {})[ev.step] = v.simple_value
    for col in COLS:
        exp = expected(done, col)
        assert set(got[col]) == set(exp)
        for s, v in exp.items():
            assert math.isclose(got[col][s], v, rel_tol=1e-6)  # float32 storage


@pytest.mark.parametrize("scheme", ["sqlite", "file"])
def test_mlflow_roundtrip(done, tmp_path, scheme):
    pytest.importorskip("mlflow", reason="pip install 'grokscope[export]'")
    from mlflow import MlflowClient
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}" if scheme == "sqlite" else f"file:{tmp_path / 'mlruns'}"
    loc = export_run(done.path, "mlflow", uri)
    c = MlflowClient(tracking_uri=uri)
    rid = loc.split("(run ")[1].rstrip(")")
    info = c.get_run(rid)
    assert info.data.params["scaling.alpha"] == "1.0" and info.data.tags["grokscope.status"] == "completed"
    for col in COLS:
        hist = {m.step: m.value for m in c.get_metric_history(rid, col)}
        exp = expected(done, col)
        assert set(hist) == set(exp)
        for s, v in exp.items():
            assert math.isclose(hist[s], v, rel_tol=1e-12)


def _wandb_records(path):
    """Records of a W&B offline .wandb file (LevelDB log format: 7-byte header, 32 KiB blocks)."""
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B"
    pos, block, buf = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, n, typ = struct.unpack("<IHB", data[pos:pos + 7])
        if typ == 0 and n == 0:
            pos += left
            continue
        chunk, pos = data[pos + 7:pos + 7 + n], pos + 7 + n
        if typ == 1:
            yield chunk
        elif typ == 2:
            buf = chunk
        elif typ == 3:
            buf += chunk
        elif typ == 4:
            yield buf + chunk


def test_stream_during_training_wandb_offline(tmp_path):
    pytest.importorskip("wandb", reason="pip install 'grokscope[export]'")
    from wandb.proto import wandb_internal_pb2 as pb
    r = run(small_config(tmp_path, **{"train.steps": 30, "output.stream": ["wandb", "tensorboard"]}),
            tmp_path / "runs" / "s", quiet=True)
    assert set(r.summary["stream"]) == {"wandb", "tensorboard"}
    assert not any(v.startswith("error") for v in r.summary["stream"].values())
    files = glob.glob(str(tmp_path / "runs" / "s" / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(files) == 1
    got: dict[int, dict[str, float]] = {}
    for d in _wandb_records(files[0]):
        rec = pb.Record.FromString(d)
        if rec.WhichOneof("record_type") == "history":
            got.setdefault(rec.history.step.num, {}).update(
                {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.history.item})
    exp = expected(r, "train_loss")
    assert set(got) == set(exp)
    for s, v in exp.items():
        assert got[s]["train_loss"] == v  # JSON round trip of a float64 is exact


def test_failing_stream_never_stops_training(tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX", reason="pip install 'grokscope[export]'")
    from grokscope.training import exporters

    def boom(self, row):
        raise OSError("disk full")
    monkeypatch.setattr(exporters.TensorBoardStream, "log", boom)
    with pytest.warns(UserWarning, match="disabled after an error"):
        r = run(small_config(tmp_path, **{"train.steps": 20, "output.stream": ["tensorboard"]}),
                tmp_path / "runs" / "f", quiet=True)
    assert r.status == "completed" and r.metrics["step"].iloc[-1] == 20
    assert r.summary["stream"] == {"tensorboard": "error: OSError: disk full"}


def test_tensorboard_reads_the_export_and_keys_match_mlflow(done, tmp_path):
    """The documented ``tensorboard --logdir`` path: TensorBoard's own reader loads every column, and the
    event scalars carry the same keys in TensorBoard and MLflow (one separator convention)."""
    pytest.importorskip("tensorboard", reason="pip install 'grokscope[export]'")
    pytest.importorskip("mlflow", reason="pip install 'grokscope[export]'")
    from mlflow import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    logdir = tmp_path / "tb"
    export_run(done.path, "tensorboard", str(logdir))
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for col in COLS:
        exp = expected(done, col)
        got = {e.step: e.value for e in acc.Scalars(col)}
        assert set(got) == set(exp) and all(math.isclose(got[s], v, rel_tol=1e-6) for s, v in exp.items())
    tb_events = {t for t in tags if t.startswith("events/")}
    assert tb_events, "the summary's event times reach TensorBoard"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    rid = export_run(done.path, "mlflow", uri).split("(run ")[1].rstrip(")")
    ml_events = {k for k in MlflowClient(tracking_uri=uri).get_run(rid).data.metrics if k.startswith("event")}
    assert ml_events == tb_events
