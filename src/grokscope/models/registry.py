"""The model registry: every architecture registers its config section, its builder and the
capabilities it DECLARES, so code asks ``supports(cfg.model, "reduced")`` and never for a name.

Capabilities (a model section → the subset that holds for it):
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grokscope.config.extend import register_section

CAPABILITIES: dict[str, str] = {
    "hand_gradient": "a hand-written vjp (train.grad = analytic); otherwise gradients by autograd",
    "ntk": "the per-run NTK probes, the K₀ baseline and the linearised twin (scalar or (P, K) outputs)",
    "param_twin": "the parameter-space linearised twin only (generic JVP/VJP at θ₀, any loss)",
    "quadratic_form": "f is a quadratic form c + u·x + ½xᵀSx of x (exact population loss, eq. 6 terms)",
    "reduced": "the reduced (w̄, M) engine is exact (quadratic φ, readouts fixed to 1)",
    "batched": "batched ensembles over members (engines/ensemble.py; ensemble_autograd.py without hand_gradient)",
    "scalar_output": "one output per sample (no per-class outputs)",
    "width": "a width N, for the paper's η = lr·N/α² rule",
    "progress": "Fourier progress measures of hidden units on modular addition",
    "committee_theory": "f = (1/N) Σ a_i φ(w_i·x) with width N and curvature ε: the paper's theory applies",
    "tokens": "reads token sequences (task.inputs = tokens)",
    "kernel_twin": "the twin in closed form from K₀ (scalar outputs), so K₀ is computed whenever the twin runs",
}
__doc__ += "".join(f"\n    {k:15s} {v}" for k, v in CAPABILITIES.items())


@dataclass(frozen=True)
class ModelSpec:
    """``build(section, D, data) -> model`` (data: the task's Dataset, for sizes the config lacks);
    ``capabilities(section) -> set of CAPABILITIES keys``; ``section``: the config section class."""

    name: str
    section: type
    build: Callable[[Any, int, Any], Any]
    capabilities: Callable[[Any], frozenset[str]]
    memory: Callable[[Any], tuple[int, tuple[str, str]] | None] | None = None


MODELS: dict[str, ModelSpec] = {}


def register_model(name: str, section: type, build: Callable[[Any, int, Any], Any],
                   capabilities: Callable[[Any], frozenset[str]],
                   memory: Callable[[Any], tuple[int, tuple[str, str]] | None] | None = None) -> ModelSpec:
    """Register a model family (and its config section) under ``model.name = name``; ``memory(cfg)``
    (optional): peak bytes of a run of the whole Config and (what, advice) for the message, or None."""
    spec = ModelSpec(name, section, build, capabilities, memory)
    register_section("model", name, section)
    MODELS[name] = spec
    return spec


def capabilities(section: Any) -> frozenset[str]:
    """The declared capabilities of the model a config section describes."""
    caps = frozenset(MODELS[section.name].capabilities(section))
    unknown = caps - set(CAPABILITIES)
    if unknown:
        raise ValueError(f"model {section.name!r} declares unknown capabilities {sorted(unknown)}")
    return caps


def supports(section: Any, capability: str) -> bool:
    """Whether the model of ``section`` (``cfg.model``) declares ``capability``."""
    if capability not in CAPABILITIES:
        raise ValueError(f"capability {capability!r}: unknown; known are {', '.join(CAPABILITIES)}")
    return capability in capabilities(section)


def build_model(section: Any, D: int, data: Any = None) -> Any:
    """The functional model (init/apply[/vjp/quadratic_form]) for a config section."""
    return MODELS[section.name].build(section, D, data)


def output_width(data: Any) -> int | None:
    """Outputs per sample a task needs: the target width (P, K), the classes for integer labels,
    None (a scalar output) for scalar float targets or no data."""
    if data is None:
        return None
    y = data.y_train
    if y.ndim == 2:
        return int(y.shape[1])
    return None if y.dtype.is_floating_point else data.classes
