"""Liu et al.'s (ICLR 2024) laziness measures as probes, on any model, restricted to one named
parameter W (``probes.liu_param``; null: W_rec where the model has one). Opt-in: name them in
``probes.names`` ('auto' leaves them out).

  liu         liu_weight_change ‖W_t − W_0‖_F; liu_rep_alignment, the alignment of the hidden-rate kernel
              HHᵀ at the decision step with the initial network's, and liu_sign_similarity, over the
              fixed probe set (the first ``probes.liu_trials`` test samples); liu_effective_rank of W_t
  liu_kernel  liu_kernel_alignment: the tangent kernel restricted to W over the first
              ``probes.liu_kernel_trials`` probe trials (the RNN: outputs over every step × class
              stacked, as in the paper) against the same kernel at θ₀ (expensive: its own cadence)

Formulas and references: :mod:`grokscope.diagnostics.liu_measures`. The initial values (W₀, H₀, K₀)
are computed once per run from the engine's θ₀ and kept in the probe cache.
"""
from __future__ import annotations

from typing import Any

from grokscope.config import Config, ConfigError, Probes
from grokscope.diagnostics import liu_measures as lm
from grokscope.training.probes import Probe, register_probe

DEFAULT_PARAM = "W_rec"


def _trainable(cfg: Config) -> tuple[str, ...] | None:
    """The model's trainable names without its data (None where the model needs data to say)."""
    from grokscope.models.registry import build_model
    try:
        return tuple(build_model(cfg.model, 1, None).trainable)
    except (ConfigError, TypeError, ValueError, AttributeError, KeyError):
        return None


def _param_reason(name: str | None, names: tuple[str, ...], model: str) -> str | None:
    if name is None:
        return None if DEFAULT_PARAM in names else (
            f"needs probes.liu_param (model.name = {model!r} has no {DEFAULT_PARAM}; its parameters: "
            f"{', '.join(names)})")
    if name not in names:
        return (f"needs probes.liu_param = {name!r} to be a trainable parameter of model.name = {model!r} "
                f"(its parameters: {', '.join(names)})")
    return None


def supports(cfg: Config) -> str | None:
    if cfg.probes.names == "auto":
        return "is opt-in (extra forward passes and kernels): name it in probes.names"
    names = _trainable(cfg)
    return None if names is None else _param_reason(cfg.probes.liu_param, names, cfg.model.name)


def _settings(ctx: Any) -> Any:
    return ctx.data.meta.get("probe_settings") or Probes()


def _state(ctx: Any) -> dict[str, Any]:
    """Per-run values at θ₀ (the parameter name, W₀, the probe inputs, H₀, K₀), filled on first use."""
    st = ctx.cache.__dict__.setdefault("liu", {})
    if not st:
        pr, e = _settings(ctx), ctx.engine
        names = tuple(ctx.model.trainable)
        why = _param_reason(pr.liu_param, names, type(ctx.model).__name__)
        if why is not None:
            raise ConfigError(f"probes.names contains 'liu': it {why}")
        name = pr.liu_param or DEFAULT_PARAM
        X = ctx.data.X_test[:pr.liu_trials]
        st.update(name=name, X=X, Xk=X[:pr.liu_kernel_trials], W0=e.params0[name].detach().clone())
    return st


def liu_metrics(ctx: Any) -> dict[str, float]:
    st, p = _state(ctx), ctx.engine.params
    if "H0" not in st:
        st["H0"] = lm.representation(ctx.model, ctx.engine.params0, st["X"]).detach()
    H = lm.representation(ctx.model, p, st["X"]).detach()
    W = p[st["name"]].detach()
    return {"liu_weight_change": lm.weight_change(W, st["W0"]),
            "liu_rep_alignment": lm.representation_alignment(st["H0"], H),
            "liu_sign_similarity": lm.sign_similarity(st["H0"], H),
            "liu_effective_rank": lm.effective_rank(W) if W.ndim == 2 else float("nan")}


def liu_kernel_metrics(ctx: Any) -> dict[str, float]:
    st = _state(ctx)
    if "K0" not in st:
        st["K0"] = lm.tangent_kernel(ctx.model, ctx.engine.params0, st["name"], st["Xk"]).detach()
    K = lm.tangent_kernel(ctx.model, ctx.engine.params, st["name"], st["Xk"]).detach()
    return {"liu_kernel_alignment": lm.alignment(st["K0"], K)}


for _p in [
    Probe("liu", ("liu_weight_change", "liu_rep_alignment", "liu_sign_similarity", "liu_effective_rank"),
          liu_metrics, supports, "Liu et al. 2024: ‖W − W₀‖_F, representation alignment, sign similarity and "
          "effective rank of the named parameter (probes.liu_param)"),
    Probe("liu_kernel", ("liu_kernel_alignment",), liu_kernel_metrics, supports,
          "Liu et al. 2024: tangent-kernel alignment with θ₀, restricted to probes.liu_param", expensive=True),
]:
    register_probe(_p)
