"""Recipe: a new probe in one file. ``import toy_probe`` is the one registration line.

output_rms = √(mean f̃(x)²) over the test set: how far the (centred) output has moved from zero."""
from __future__ import annotations

from grokscope.training.probes import Probe, register_probe


def output_rms(ctx) -> dict[str, float]:
    f = ctx.engine.outputs("test")
    return {"output_rms": float(f.square().mean().sqrt())}


PROBE = register_probe(Probe("output_rms", ("output_rms",), output_rms, lambda cfg: None,
                     "root-mean-square of the scaled output on the test set"))
