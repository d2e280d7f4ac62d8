"""Recipe: a new model family in one file. ``import toy_model`` is the one registration line.

f(x) = Σ_j c_j cos(w_j·x)/√J: random-feature cosines with trained (w, c); functional init/apply."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from grokscope.config.sections import _Section
from grokscope.models.registry import register_model


class CosineModel(_Section):
    """The config section: ``model: {name: cosine, J: 16, seed: 0}``."""

    name: Literal["cosine"] = "cosine"
    J: int = 16
    seed: int = 0


@dataclass(frozen=True)
class Cosine:
    D: int
    J: int
    trainable = ("w", "c")
    width = 1

    def init(self, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
        w = torch.randn(self.J, self.D, generator=generator, dtype=torch.float64)
        c = torch.randn(self.J, generator=generator, dtype=torch.float64)
        return {"w": w.to(dtype), "c": c.to(dtype)}

    def apply(self, params: dict[str, torch.Tensor], X: torch.Tensor) -> torch.Tensor:
        """f (P,) = cos(X wᵀ) c / √J."""
        return torch.cos(X @ params["w"].T) @ params["c"] / math.sqrt(self.J)


register_model("cosine", CosineModel, lambda cfg, D, data: Cosine(D, cfg.J),
               capabilities=lambda cfg: frozenset({"scalar_output"}))
