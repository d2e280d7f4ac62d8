"""The ``pathways`` probe: train-only generalisation signals (Li, Fan & Zhou 2025; neighbors.md §10),
from the pure functions of :mod:`grokscope.diagnostics.pathways`. Needs no test data.

Routing weights g (M, E) of each layer, per model (read from its params, never mutating them):
  MLP          hidden layer ℓ: g_ℓ = |φ(h_ℓ)| (M, N_ℓ), the units' activation magnitudes
  committee    g = |a_i φ(w_i·x)| (M, N), each unit's contribution; one layer: Jaccard distance only
  transformer  with model.moe_experts: the router's softmax at the '=' position (M, E); dense: |act| of
               the MLP's hidden units at that position (M, d_mlp)
Memorised samples (the paper's per-sample rule, online: no later checkpoint is known while training):
classification, sample i classified correctly at this probe and at the previous one; regression,
ℓ_i ≤ ε at both and |ℓ_i − ℓ_i(previous)| ≤ δ, with ε = EPS_REL·ℓ̄₀ and δ = DELTA_REL·ℓ̄₀ (ℓ̄₀ the mean
per-sample training loss at the first probe). Up to MAX_SAMPLES of them, in a fixed seeded order, enter the
pathway metrics; distances average over up to MAX_PAIRS pairs (a fixed seed per probe).
The NTK effective dimension Tr(K(K + λI)⁻¹) is taken on a fixed subset of NTK_SAMPLES training points,
λ = LAMBDA_REL·Tr(K)/n, the mean eigenvalue (scale-free: the NTK's overall growth does not move it).
"""
from __future__ import annotations

from typing import Any

import torch

from grokscope.diagnostics import pathways as pw
from grokscope.training.probes import Probe, register_probe

MASS, TOP_K = pw.MASS, None


def _selection(data: Any) -> tuple[float, int | None]:
    """(mass, top_k) from ``probes.pathway_mass`` / ``pathway_top_k`` (the defaults without a config)."""
    st = data.meta.get("probe_settings")
    return (getattr(st, "pathway_mass", MASS), getattr(st, "pathway_top_k", TOP_K))
EPS_REL, DELTA_REL = 0.1, 0.05
MAX_SAMPLES, MAX_PAIRS, NTK_SAMPLES = 256, 4096, 128
LAMBDA_REL = 1.0
SEED = 0
METRICS = ("pathway_memorised", "pathway_distance", "pathway_distance_norm", "pathway_jaccard",
           "pathway_consistency", "pathway_consistency_inv", "pathway_cos", "ntk_eff_dim")


def supports(cfg: Any) -> str | None:
    """None if the probe applies to ``cfg``, else why. Opt-in: it is never part of probes.names = auto."""
    from grokscope.models.registry import supports as model_supports
    if cfg.probes.names == "auto":
        return "is opt-in: name it in probes.names (a forward pass and a training-set NTK per probe)"
    if model_supports(cfg.model, "committee_theory"):
        if model_supports(cfg.model, "reduced") and cfg.train.engine != "network":
            return "needs train.engine = network for the committee (the reduced engine keeps no per-unit weights)"
        return None
    if not model_supports(cfg.model, "progress"):
        return "needs a model with hidden units: the committee, an MLP with a hidden layer, or the transformer"
    return None


def routing_weights(model: Any, params: dict[str, torch.Tensor], X: torch.Tensor
                    ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """(g per layer, each (M, E_ℓ) ≥ 0; the hidden-to-hidden weights W_{ℓ+1} for consistency, or None)."""
    if hasattr(model, "routing"):  # the transformer
        if getattr(model, "moe_experts", 0):
            return [model.routing(params, X)], None
        return [model.hidden_units(params, X).abs()], None
    if hasattr(model, "layer_scale"):  # the MLP
        gates, a = [], X
        for i in range(model.n_layers - 1):
            h = model.layer_scale(i) * (a @ params[f"W{i}"].T)
            if f"b{i}" in params:
                h = h + params[f"b{i}"]
            a = model.act(h)
            gates.append(a.abs())
        W = [params[f"W{i}"] for i in range(1, model.n_layers - 1)]
        return gates, W if len(gates) >= 2 else None
    if "W" in params and "a" in params:  # the committee
        return [(model.act(X @ params["W"].T) * params["a"]).abs()], None
    raise ValueError(f"pathways probe: no routing weights for a {type(model).__name__}")


def _state(ctx: Any) -> dict[str, Any]:
    st = getattr(ctx.cache, "_pathways", None)
    if st is None:
        P = ctx.data.P
        g = torch.Generator().manual_seed(SEED)
        st = {"order": torch.randperm(P, generator=g), "loss0": None, "prev": None,
              "ntk_idx": torch.randperm(P, generator=g)[:NTK_SAMPLES].sort().values}
        ctx.cache._pathways = st
    return st


def memorised_now(loss: torch.Tensor, prev: torch.Tensor | None, eps: float, delta: float) -> torch.Tensor:
    """(P,) bool: ℓ ≤ ε now and at the previous probe, and |ℓ − ℓ_prev| ≤ δ (none at the first probe)."""
    if prev is None:
        return torch.zeros_like(loss, dtype=torch.bool)
    return (loss <= eps) & (prev <= eps) & ((loss - prev).abs() <= delta)


def pathway_metrics(ctx: Any) -> dict[str, float | None]:
    st = _state(ctx)
    d, params = ctx.data, ctx.engine.params
    with torch.no_grad():
        f = ctx.engine.outputs("train")
        loss = ctx.loss.per_sample(f, d.y_train).detach().to(torch.float64).cpu()
    if st["loss0"] is None:
        st["loss0"] = float(loss.mean())
    l0 = st["loss0"]
    if d.classes is not None and f.ndim == 2:  # classification: correct now and at the previous probe
        y = d.y_train.argmax(1) if d.y_train.is_floating_point() else d.y_train
        ok = (f.argmax(1) == y).cpu()
        mem = ok & st["prev"] if st["prev"] is not None else torch.zeros_like(ok)
        st["prev"] = ok
    else:
        mem = memorised_now(loss, st["prev"], EPS_REL * l0, DELTA_REL * l0)
        st["prev"] = loss
    out: dict[str, float | None] = {k: None for k in METRICS}
    out["pathway_memorised"] = float(mem.double().mean())
    idx = st["order"][mem[st["order"]]][:MAX_SAMPLES].to(d.X_train.device)
    if idx.numel() >= 2:
        with torch.no_grad():
            gates, W = routing_weights(ctx.model, params, d.X_train[idx])
        gates = [g.detach().to(torch.float64).cpu() for g in gates]
        mass, top_k = _selection(d)
        out["pathway_jaccard"] = pw.mean_jaccard_distance(pw.unit_sets(gates, mass, top_k))
        if not hasattr(ctx.model, "quadratic_form"):  # the committee: Jaccard only
            gen = torch.Generator().manual_seed(SEED)
            paths = pw.pathways(gates, mass, top_k)
            out["pathway_distance"], out["pathway_distance_norm"] = pw.mean_edit_distance(paths, MAX_PAIRS, gen)
        if W is not None:
            norm = [g / g.sum(1, keepdim=True).clamp_min(1e-300) for g in gates]
            cos = pw.mlp_layer_cosines(norm, [w.detach().to(torch.float64).cpu() for w in W])
            C = float(pw.consistency(cos).mean())
            out["pathway_consistency"], out["pathway_consistency_inv"] = C, 1.0 - C
            out["pathway_cos"] = float(cos.mean())
    K = ctx.engine.ntk(d.X_train[st["ntk_idx"].to(d.X_train.device)]).detach().to(torch.float64)
    lam = LAMBDA_REL * float(torch.diagonal(K).sum()) / K.shape[0]
    out["ntk_eff_dim"] = pw.effective_dimension(K, lam) if lam > 0 else None
    return out


register_probe(Probe("pathways", METRICS, pathway_metrics, supports,
                     "train-only pathway signals of memorised training samples (Li et al. 2025): edit and "
                     "Jaccard distances, layer consistency, and the training NTK's effective dimension",
                     expensive=True))
