"""Probes of issue #22 (opt-in: name them in ``probes.names``; 'auto' leaves them out, they cost extra
forward passes):

  local_complexity  Humayun et al. 2024: mean number of ReLU units whose boundary crosses the cross-
                    polytope (radius probes.lc_radius, probes.lc_vertices vertices) around the first
                    probes.lc_points train, test and random points (uniform in the training inputs' box);
                    columns lc_train, lc_test, lc_random (summed over layers) and lc_<set>_l<l> per layer
                    (the current network's units; a centred run's f̃ = α(f(θ) − f(θ₀)) also has θ₀'s
                    fixed boundaries, which are not counted)
  robustness        PGD accuracy at L∞ radius probes.robust_eps on the test set (robust_acc), FGSM
                    (fgsm_acc), inputs clamped to the training inputs' range
  ipr               Doshi et al. 2024: per-neuron Fourier IPR of the one-hidden-layer MLP on one-hot pairs:
                    ipr_mean, ipr_periodic_fraction (IPR ≥ 0.5)
  label_noise       on the corrupted training samples (task.label_noise): the fraction predicted as the
                    corrupted label (noise_memorised) and as the true label (noise_corrected)

Each reads the engine's current weights (never changes them) through the model's functional apply.
"""
from __future__ import annotations

from typing import Any

import torch

from grokscope.config import Config
from grokscope.diagnostics import ipr as ipr_mod
from grokscope.diagnostics import local_complexity as lc
from grokscope.diagnostics import robustness as rb
from grokscope.models.registry import supports as model_supports
from grokscope.numerics.scaling import scaled_output
from grokscope.tasks.base import task_supports
from grokscope.training.probes import Probe, register_probe

SETS = ("train", "test", "random")


def _opt_in(cfg: Config) -> str | None:
    if cfg.probes.names == "auto":
        return "is opt-in (extra forward passes): name it in probes.names"
    return None


def _relu_mlp(cfg: Config) -> str | None:
    if getattr(cfg.model, "activation", None) not in lc.PIECEWISE_LINEAR or not getattr(cfg.model, "hidden", None):
        return (f"needs a fully connected network (model.name = mlp) with hidden layers and a piecewise-linear "
                f"activation ({', '.join(lc.PIECEWISE_LINEAR)})")
    return _opt_in(cfg)


def _float_classifier(cfg: Config) -> str | None:
    if not task_supports(cfg.task, "classes") or model_supports(cfg.model, "tokens"):
        return "needs a classification task with float inputs (not token sequences)"
    return _opt_in(cfg)


def _mlp_modular(cfg: Config) -> str | None:
    if not task_supports(cfg.task, "modular_addition") or model_supports(cfg.model, "tokens") or \
            len(getattr(cfg.model, "hidden", ())) != 1:
        return "needs task.name = modular (op = add, inputs = onehot) and an mlp with one hidden layer"
    return _opt_in(cfg)


def _noisy(cfg: Config) -> str | None:
    if not getattr(cfg.task, "label_noise", 0):
        return "needs task.label_noise > 0 (corrupted training labels)"
    return _opt_in(cfg)


def _local_complexity(ctx: Any) -> dict[str, float]:
    e, d = ctx.engine, ctx.data
    pr = d.meta["probe_settings"]
    gen = torch.Generator().manual_seed(0)  # the same frames at every step: changes are the network's
    n = pr.lc_points
    points = {"train": d.X_train[:n], "test": d.X_test[:n], "random": lc.random_points(d.X_train, n, gen)}
    out: dict[str, float] = {}
    for s in SETS:
        counts = lc.local_complexity(ctx.model, e.params, points[s], pr.lc_radius, pr.lc_vertices, gen)
        per_layer = counts.to(torch.float64).mean(dim=0)
        out[f"lc_{s}"] = float(per_layer.sum())
        out.update({f"lc_{s}_l{i + 1}": float(v) for i, v in enumerate(per_layer)})
    return out


def predictor(ctx: Any) -> Any:
    """x ↦ f̃(x) = α(f(x; θ) − f(x; θ₀)) (centred) or αf(x; θ), at the engine's current θ."""
    e, m = ctx.engine, ctx.model

    def predict(X: torch.Tensor) -> torch.Tensor:
        f0 = m.apply(e.params0, X) if e.centre else None
        return scaled_output(m.apply(e.params, X), f0, e.alpha)

    return predict


def _robustness(ctx: Any) -> dict[str, float]:
    d = ctx.data
    pr = d.meta["probe_settings"]
    lo, hi = float(d.X_train.min()), float(d.X_train.max())
    predict = predictor(ctx)
    eps = pr.robust_eps
    return {"robust_acc": rb.accuracy(rb.pgd_correct(predict, d.X_test, d.y_test, eps, pr.robust_iters, lo=lo, hi=hi)),
            "fgsm_acc": rb.accuracy(rb.fgsm_correct(predict, d.X_test, d.y_test, eps, lo=lo, hi=hi))}


def _ipr(ctx: Any) -> dict[str, float]:
    P = ctx.engine.params
    s = ipr_mod.neuron_ipr(P["W0"], P["W1"], ctx.data.meta["p"])
    return {"ipr_mean": float(s.mean()), "ipr_periodic_fraction": ipr_mod.periodic_fraction(s)}


def _label_noise(ctx: Any) -> dict[str, float]:
    d = ctx.data
    idx = d.meta["corrupted"].to(d.y_train.device)
    pred = ctx.engine.outputs("train").argmax(dim=1)[idx]
    noisy = d.y_train[idx]
    noisy = noisy.argmax(dim=1) if noisy.ndim == 2 else noisy.long()
    clean = d.meta["labels_clean_train"].to(pred.device)[idx.to(pred.device)]
    return {"noise_memorised": float((pred == noisy).to(torch.float64).mean()),
            "noise_corrected": float((pred == clean).to(torch.float64).mean())}


for _p in [
    Probe("local_complexity", ("lc_train", "lc_test", "lc_random"), _local_complexity, _relu_mlp,
          "local complexity: ReLU boundaries crossing a cross-polytope around train/test/random points",
          expensive=True),
    Probe("robustness", ("robust_acc", "fgsm_acc"), _robustness, _float_classifier,
          "PGD and FGSM test accuracy at L∞ radius probes.robust_eps", expensive=True),
    Probe("ipr", ("ipr_mean", "ipr_periodic_fraction"), _ipr, _mlp_modular,
          "Fourier inverse participation ratio of the hidden neurons (periodic vs memorising)", expensive=True),
    Probe("label_noise", ("noise_memorised", "noise_corrected"), _label_noise, _noisy,
          "corrupted training samples predicted as their corrupted / their true label"),
]:
    register_probe(_p)
