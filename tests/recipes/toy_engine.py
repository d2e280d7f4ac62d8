"""Recipe: a new engine in one file. ``import toy_engine`` is the one registration line.

``halfstep``: every step is two gradient-descent updates with half the learning rate (the network
engine's update, subdivided), so T steps of it equal 2T network steps at η/2 exactly."""
from __future__ import annotations

from grokscope.engines.network import NetworkEngine
from grokscope.engines.registry import EngineInputs, register_engine
from grokscope.numerics.optim import make_optimiser


class HalfStep(NetworkEngine):
    name = "halfstep"

    def step(self):
        loss = super().step()
        super().step()
        return loss


def build(inp: EngineInputs) -> HalfStep:
    cfg = inp.cfg
    return HalfStep(inp.model, inp.params0, inp.data, inp.loss, make_optimiser(cfg.optim, inp.eta / 2),
                    alpha=cfg.scaling.alpha, centre=cfg.scaling.centre, generator=inp.generator)


register_engine("halfstep", lambda cfg: (cfg.optim.name == "gd", "full-batch gd only"), build, priority=-1)
