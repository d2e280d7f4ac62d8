"""Probes: functions of an engine (never mutating it) called on the log schedule.

Each probe declares the metrics it writes and whether a config supports it, so asking for an
unsupported probe fails at config time with a message saying which models support it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from grokscope.config import Config, ConfigError
from grokscope.models.registry import supports as model_supports
from grokscope.numerics.losses import accuracy
from grokscope.tasks.base import Dataset, task_supports
from grokscope.training.probe_cache import (
    AtStep,
    K0_test64,
    K0_test_norm,
    NtkRow,
    ProbeContext,
    test_kernel,
    test_kernel64,
)


@dataclass(frozen=True)
class Probe:
    name: str
    metrics: tuple[str, ...]
    fn: Callable[[ProbeContext], dict[str, float]]
    supports: Callable[[Config], str | None]  # None if supported, else the reason
    meaning: str
    expensive: bool = False  # expensive probes run on their own sparser cadence
    points: int | None = None  # default number of points over the run (None: every / expensive_points)


def _always(cfg: Config) -> str | None:
    return None


def _quadratic_form(cfg: Config) -> str | None:
    m, t = cfg.model, cfg.task
    if not model_supports(m, "quadratic_form"):
        return ("needs a predictor that is a quadratic form of x: the committee model with "
                "phi = quadratic (or hermite with k = 2)")
    if not task_supports(t, "quadratic_target"):
        if task_supports(t, "scalar_regression"):  # a Gaussian task whose y came from files
            return "needs a known target: give task.files.beta along with y files, or let grokscope make y"
        return "needs Gaussian inputs and a polynomial target (task.name = polynomial)"
    return None


def _classification(cfg: Config) -> str | None:
    if task_supports(cfg.task, "regression"):
        return (f"needs a classification task (task.name = {cfg.task.name!r} is a regression; the teacher "
                "task has the thresholded accuracy probe instead)")
    return None


def _teacher(cfg: Config) -> str | None:
    return None if task_supports(cfg.task, "threshold_accuracy") else "needs the teacher–student task (task.name = teacher)"


def _threshold_accuracy(ctx: ProbeContext) -> dict[str, float]:
    """Paper Figs 8/17: fraction of samples with per-sample MSE < θ, for the main θ and each listed θ."""
    from grokscope.tasks.teacher import threshold_accuracy, threshold_key
    out: dict[str, float] = {}
    d = ctx.data
    pred = {"train": ctx.engine.outputs("train"), "test": ctx.engine.outputs("test")}
    y = {"train": d.y_train, "test": d.y_test}
    for s in ("train", "test"):
        out[f"{s}_acc"] = threshold_accuracy(pred[s], y[s], d.meta["threshold"])
        for theta in d.meta["thresholds"]:
            out[f"{s}_acc_thr_{threshold_key(theta)}"] = threshold_accuracy(pred[s], y[s], theta)
    return out


def _loss(ctx: ProbeContext) -> dict[str, float]:
    return {"train_loss": float(ctx.loss.value(ctx.engine.outputs("train"), ctx.data.y_train)),
            "test_loss": float(ctx.loss.value(ctx.engine.outputs("test"), ctx.data.y_test))}


def _terms(ctx: ProbeContext) -> dict[str, torch.Tensor]:
    """The eq. 6 decomposition of the current quadratic form, computed once per probe step and shared
    by exact_loss (their sum, as :func:`population_loss` adds them) and decomposition."""
    from grokscope.theory.sufficient import decomposition
    step, hit = ctx.cache.step, ctx.cache.decomp
    if step is None or hit is None or hit.step != step:
        hit = ctx.cache.decomp = AtStep(step, decomposition(*ctx.engine.quadratic_form(), ctx.data.target))
    return hit.value


def _exact(ctx: ProbeContext) -> dict[str, float]:
    d = _terms(ctx)
    return {"test_loss_exact": float(d["variance"] + d["misalignment"] + d["linear"] + d["orthogonal"])}


def _decomposition(ctx: ProbeContext) -> dict[str, float]:
    return {f"decomp_{k}": float(v) for k, v in _terms(ctx).items()}


def _accuracy(ctx: ProbeContext) -> dict[str, float]:
    return {"train_acc": accuracy(ctx.engine.outputs("train"), ctx.data.y_train),
            "test_acc": accuracy(ctx.engine.outputs("test"), ctx.data.y_test)}


def _weights(ctx: ProbeContext) -> dict[str, float]:
    return {"weight_norm": ctx.engine.weight_norm(), "param_change": ctx.engine.param_change()}


def kernel_labels(data: Dataset, split: str = "test") -> torch.Tensor:
    """Targets as kernels see them: float targets as they are, integer class labels one-hot (n, classes)."""
    y = data.y_test if split == "test" else data.y_train
    if y.dtype.is_floating_point:
        return y
    n_cls = data.classes or int(y.max()) + 1
    return torch.nn.functional.one_hot(y.long(), n_cls).to(data.X_test.dtype)


def _ntk(ctx: ProbeContext) -> dict[str, float | None]:
    """The alignments from one matvec (:mod:`grokscope.diagnostics.ntk_row`); ‖K₀‖ and the previous
    row's ‖K‖ reused; ‖K‖, ‖K₀‖ and ‖K − K₀‖ left in the cache for the kernel_alignment probe.
    Everything on the float64 test kernel, whatever the run's dtype (:func:`_test_kernel64`)."""
    from grokscope.diagnostics.ntk_row import alignments, diff_norms
    K0 = K0_test64(ctx)
    K = test_kernel64(ctx)
    step = ctx.cache.step
    nK, nK0 = torch.linalg.matrix_norm(K), K0_test_norm(ctx)
    out = {k: float(v) for k, v in alignments(K, kernel_labels(ctx.data).to(K.dtype), nK).items()}
    last = ctx.cache.ntk_row
    moved = last is not None and step > last.step
    d = diff_norms(K, [K0, last.K] if moved else [K0])   # ‖K − K₀‖ (and ‖K − K_last‖), one read of K
    out["kernel_distance"] = float(d[0] / nK0)
    out["kernel_velocity"] = float(d[1] / (last.norm * (step - last.step))) if moved else None
    ctx.cache.ntk_row = NtkRow(step, K, nK, nK0, d[0])
    return out


def _ntk_spectrum(ctx: ProbeContext) -> dict[str, float]:
    from grokscope.diagnostics import kernels as kr
    K = test_kernel(ctx)
    n = K.shape[0]
    eig = kr.eigh_desc(K)
    power = kr.label_power(K, kernel_labels(ctx.data), [min(k, n) for k in (1, 10, 100)], eig=eig)
    return {"ntk_effective_rank": float(kr.effective_rank(K, eig=eig)), "ntk_label_power_1": float(power[0]),
            "ntk_label_power_10": float(power[1]), "ntk_label_power_100": float(power[2])}


def _twin(ctx: ProbeContext) -> dict[str, float]:
    from grokscope.engines.linearised import lin_metrics
    return lin_metrics(ctx.twin, ctx.data, ctx.loss)


def _softmax_collapse(ctx: ProbeContext) -> dict[str, float]:
    """SC fraction of the train logits in the run's working precision, and the zero-loss fraction."""
    from grokscope.numerics.losses import softmax_collapse_fraction, working_dtypes, zero_loss_fraction
    z, y = ctx.engine.outputs("train"), ctx.data.y_train
    if z.ndim != 2:
        raise ValueError(f"softmax_collapse needs logits (P, K); the model outputs shape {tuple(z.shape)}")
    stablemax = getattr(ctx.loss, "name", None) == "stablemax"  # the collapse of the loss's own normaliser
    return {"sc_fraction": softmax_collapse_fraction(z, *working_dtypes(ctx.loss, z), stablemax=stablemax),
            "zero_loss_fraction": zero_loss_fraction(ctx.loss, z, y)}


def _logits(cfg: Config) -> str | None:
    why = _classification(cfg)
    if why is not None:
        return why + "; softmax collapse is defined for class logits"
    return None


def _has_ntk(cfg: Config) -> str | None:
    if model_supports(cfg.model, "param_twin"):
        return ("needs the committee model: the per-run NTK probes, K₀ baseline and twin are not wired for "
                "(P, K) class outputs yet; the transformer's NTK is available directly from "
                "grokscope.diagnostics.ntk.ntk(model, params, X, alpha=...) (generic torch.func path)")
    return None if model_supports(cfg.model, "ntk") else "needs a model with an NTK path"


def _has_twin(cfg: Config) -> str | None:
    """The transformer's twin is the parameter-space one (generic JVP/VJP at θ₀, any loss/optimiser)."""
    if getattr(cfg.task, "online", False):
        return "trains on the fixed train set; with task.online = true every step has fresh samples"
    return None if model_supports(cfg.model, "param_twin") else _has_ntk(cfg)


PROBES: dict[str, Probe] = {}


def register_probe(probe: Probe) -> Probe:
    """Make ``probe`` selectable by name (``probes.names``, ``probes.cadence``); its metrics must be
    named in :data:`grokscope.training.metrics.METRICS` to be documented there."""
    if probe.name in PROBES and PROBES[probe.name] is not probe:
        raise ValueError(f"probe {probe.name!r} is already registered")
    PROBES[probe.name] = probe
    return probe


for _p in [
    Probe("loss", ("train_loss", "test_loss"), _loss, _always, "train and test loss"),
    Probe("exact_loss", ("test_loss_exact",), _exact, _quadratic_form, "exact population test loss"),
    Probe("decomposition", ("decomp_variance", "decomp_misalignment", "decomp_linear", "decomp_orthogonal"),
          _decomposition, _quadratic_form, "paper eq. 6 three-term test-loss decomposition"),
    Probe("accuracy", ("train_acc", "test_acc"), _accuracy, _classification, "argmax accuracy"),
    Probe("threshold_accuracy", ("train_acc", "test_acc"), _threshold_accuracy, _teacher,
          "fraction of samples with per-sample MSE below task.threshold (and each task.thresholds θ: "
          "train_acc_thr_<θ>, test_acc_thr_<θ>)"),
    Probe("weights", ("weight_norm", "param_change"), _weights, _always, "‖θ‖ and ‖θ − θ₀‖/‖θ₀‖"),
    Probe("ntk", ("ntk_alignment", "ntk_alignment_uncentred", "ntk_cka", "kernel_distance", "kernel_velocity"),
          _ntk, _has_ntk, "NTK–label alignment on the test set, kernel distance to K₀ and velocity",
          expensive=True),
    Probe("ntk_spectrum", ("ntk_effective_rank", "ntk_label_power_1", "ntk_label_power_10",
                           "ntk_label_power_100"), _ntk_spectrum, _has_ntk,
          "test NTK effective rank and label power on its top 1/10/100 eigenvectors", expensive=True,
          points=5),
    Probe("twin", ("lin_train_loss", "lin_test_loss"), _twin, _has_twin,
          "the linearised twin's train and test loss (trained alongside with the same optimiser)"),
    Probe("softmax_collapse", ("sc_fraction", "zero_loss_fraction"), _softmax_collapse, _logits,
          "fraction of train samples in Softmax Collapse and with exactly zero loss (working precision)"),
]:
    register_probe(_p)


def select_probes(cfg: Config) -> list[Probe]:
    """The probes a run uses: every supported one ('auto'), or the named ones (validated)."""
    names = cfg.probes.names
    unknown = sorted(set(cfg.probes.cadence) - set(PROBES))
    if unknown:
        raise ConfigError(f"probes.cadence names {', '.join(map(repr, unknown))}: unknown probe; allowed: "
                          f"{', '.join(PROBES)}")
    if names == "auto":
        return [p for p in PROBES.values() if p.supports(cfg) is None]
    chosen = []
    for n in names:
        if n not in PROBES:
            raise ConfigError(f"probes.names contains {n!r}: unknown probe; allowed: {', '.join(PROBES)}")
        why = PROBES[n].supports(cfg)
        if why is not None:
            raise ConfigError(f"probes.names contains {n!r}: not supported by this config; it {why}")
        chosen.append(PROBES[n])
    if "loss" not in names:
        chosen.insert(0, PROBES["loss"])  # events and the progress bar need the losses
    return chosen


def probe_steps(probe: Probe, cfg: Config, schedule: np.ndarray) -> set[int]:
    """The steps at which a probe runs: every log-schedule point, or for expensive probes
    ``probes.expensive_points`` of them (``probes.cadence[name]`` overrides), evenly spaced in
    schedule index (so still log-spaced), always including the first and the last step."""
    default = probe.points or (cfg.probes.expensive_points if probe.expensive else None)
    n = cfg.probes.cadence.get(probe.name, default)
    if n is None or n >= len(schedule):
        return {int(s) for s in schedule}
    idx = np.unique(np.round(np.linspace(0, len(schedule) - 1, max(n, 2))).astype(int))
    return {int(s) for s in schedule[idx]}


def _progress_supported(cfg: Config) -> str | None:
    from grokscope.training.probe_progress import supports
    return supports(cfg)


def _progress(ctx: ProbeContext) -> dict[str, float]:
    from grokscope.training.probe_progress import progress_metrics
    return progress_metrics(ctx)


register_probe(Probe("progress", ("fourier_gini", "key_freq_energy", "restricted_loss", "excluded_loss"),
                           _progress, _progress_supported,
                           "Nanda et al.'s progress measures: Fourier sparsity of W_E, restricted/excluded loss",
                           expensive=True))


def _kernel_alignment(ctx: ProbeContext) -> dict[str, float]:
    from grokscope.training.probe_kernels import probe
    return probe(ctx)


register_probe(Probe("kernel_alignment", ("kernel_misalignment",), _kernel_alignment, _has_ntk,
                     "1 − cosine alignment of the test NTK with K₀ (Liu et al. 2024)", expensive=True))
