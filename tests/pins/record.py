"""Record the regression pins (run once, before a refactor that must not change behaviour):
``python tests/pins/record.py``. Writes pins.json (resolved configs, summaries' events, machine) and
pins.npz (every metric column of every case)."""
from __future__ import annotations

import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from cases import BATCHED, CASES, F64  # noqa: E402
from grokscope.batched import run_batched  # noqa: E402
from grokscope.presets import SMALL, get_preset  # noqa: E402
from grokscope.train import run  # noqa: E402

from grokscope.config import load_config  # noqa: E402


def resolved(preset, over, root):
    cfg = load_config(get_preset(preset), {**SMALL.get(preset, {}), **over, **F64, "output.root": root})
    return cfg


def main() -> None:
    torch.set_num_threads(1)
    out = Path(__file__).parent
    meta, arrays = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
                    "cases": {}}, {}
    with tempfile.TemporaryDirectory() as root:
        jobs = {name: [(p, o)] for name, (p, o) in CASES.items()} | BATCHED
        for name, members in jobs.items():
            cfgs = [resolved(p, o, root) for p, o in members]
            runs = [run(cfgs[0], quiet=True)] if len(cfgs) == 1 else run_batched(
                cfgs, [Path(root) / f"{name}-{i}" for i in range(len(cfgs))], [None] * len(cfgs))
            meta["cases"][name] = []
            for i, (c, r) in enumerate(zip(cfgs, runs)):
                d = c.to_dict()
                d["output"].pop("root")
                meta["cases"][name].append({"config": d, "status": r.summary["status"],
                                            "events": r.summary.get("events"),
                                            "engine": r.summary["engine"]["name"]})
                for col in r.metrics.columns:
                    arrays[f"{name}/{i}/{col}"] = r.metrics[col].to_numpy(dtype=np.float64)
                print(name, i, r.summary["status"], r.summary["engine"]["name"], len(r.metrics), "rows")
    (out / "pins.json").write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
    np.savez_compressed(out / "pins.npz", **arrays)


if __name__ == "__main__":
    main()
