"""Typed, frozen config tree: YAML load/dump, dotted ``--set`` overrides, validation.

Every bad value raises one :class:`ConfigError` naming the key, the value and what is allowed,
before any work starts. Names follow the paper: D, P, N, alpha, eps, beta.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from grokscope.config import yaml_safe
from grokscope.config.limits import (
    COUNT_MAX,
    LIST_MAX,
    NAME,
    OPT_PATH,
    PATH,
    PATH_MAX,
    SEED,
    STEPS_MAX,
    integer,
    real,
    short,
)
from grokscope.config.sections import (
    MODEL_SECTIONS,
    SEQUENCE_MODELS,
    TASK_SECTIONS,
    CommitteeModel,
    ConfigError,
    ModelSection,
    PolynomialTask,
    TaskSection,
    _Section,
)
from grokscope.config.suggest import key_suggestion

_UNIT = real(0, 1, hi_open=True)
_POS = real(0, 1e12, lo_open=True)


class Scaling(_Section):
    """f̃ = alpha·(f(θ) − f(θ₀)) when centred, else alpha·f(θ). Learning rate η from ``optim.lr``:
    paper: η = lr·N/alpha²; inv_alpha2: η = lr/alpha²; plain: η = lr."""

    alpha: real(1e-6, 1e6) = 1.0
    centre: bool = True
    lr_rule: Literal["paper", "inv_alpha2", "plain"] = "paper"
    alpha_convention: Literal["as-written", "paper-code"] = Field(
        "as-written", description="as-written: the output is alpha·f, as the paper writes it; paper-code: "
        "the MLP's output carries alpha twice, alpha²·f, as the authors' Fig 2 code does (the module's "
        "scale times a global of the same name); η still follows lr_rule with alpha (mlp models only)")


class Optim(_Section):
    """Functional optimisers. ``batch_size``: mini-batches for any optimiser but gd (None = full batch)."""

    name: Literal["gd", "sgd", "momentum", "adam", "adamw"] = "gd"
    lr: real(0, 1e9, lo_open=True) = Field(1.0, description="η₀ before the lr_rule is applied")
    momentum: _UNIT = 0.9
    betas: tuple[_UNIT, _UNIT] = (0.9, 0.999)
    adam_eps: real(0, 1, lo_open=True) = 1e-8
    weight_decay: real(0, 1e6) = 0.0
    batch_size: integer(1, COUNT_MAX, optional=True) = None
    weight_decay_mode: Literal["auto", "l2", "decoupled"] = Field(
        "auto", description="l2: g + λθ enters the update; decoupled: θ ← θ(1 − ηλ) (AdamW style); "
                            "auto: decoupled for adamw, l2 otherwise")
    orthogonal: bool = Field(False, description="⊥Grad: remove each tensor's gradient component along "
                                                "its weights, rescale to ‖g‖, then step the base optimiser")
    fixed_norm: Literal["initial"] | float | None = Field(
        None, description="after every step rescale the trainable weights to this global norm "
                          "('initial': ‖θ₀‖), Omnigrok's reduced landscape")
    warmup_steps: integer(0, STEPS_MAX) = Field(
        0, description="linear learning-rate warm-up: update t (0-based) uses η·min(t/warmup_steps, 1), "
                       "Nanda et al.'s LambdaLR schedule (0: off; adam and adamw only)")

    @field_validator("fixed_norm", mode="before")
    @classmethod
    def _fixed_norm(cls, v: Any) -> Any:
        ok = v is None or v == "initial" or (isinstance(v, (int, float)) and not isinstance(v, bool)
                                               and 0 < v <= 1e12 and math.isfinite(v))
        if not ok:
            raise ValueError(f"optim.fixed_norm = {short(v)}: allowed are null, 'initial' (‖θ₀‖) or a norm "
                             "0 < x ≤ 1e+12")
        return v

    @model_validator(mode="after")
    def _check(self) -> Optim:
        if self.batch_size is not None and self.name == "gd":
            raise ValueError(f"optim.batch_size = {self.batch_size!r}: not allowed with optim.name = gd "
                             "(full-batch gradient descent); use sgd, momentum, adam or adamw for mini-batches")
        if self.warmup_steps and self.name not in ("adam", "adamw"):
            raise ValueError(f"optim.warmup_steps = {self.warmup_steps!r}: allowed only with optim.name = adam "
                             f"or adamw (got {self.name!r}): the reduced engine and the closed-form linearised "
                             "twin of gd, sgd and momentum step at a constant η; use 0 with them")
        return self


class Train(_Section):
    steps: integer(1, STEPS_MAX) = 100_000
    log_per_decade: integer(1, 10_000) = Field(100, description="probe points per decade of steps")
    engine: Literal["auto", "network", "reduced"] = "auto"
    loss: Literal["mse", "cross_entropy", "stablemax"] = "mse"
    grad: Literal["analytic", "autograd"] = "analytic"
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    dtype: Literal["float64", "float32"] = "float64"
    seed: SEED = Field(0, description="seed for mini-batch sampling")
    progress: bool = True
    logits_dtype: Literal["auto", "float16", "float32", "float64"] = Field(
        "auto", description="precision the model output is rounded to before the loss (auto: train.dtype)")
    loss_dtype: Literal["auto", "float16", "float32", "float64"] = Field(
        "auto", description="precision of the loss/softmax computation (auto: the logits dtype)")
    early_stop: real(1, 1e6, optional=True) = Field(
        None, description="stop once the grokking events are settled: every threshold crossing "
        "(train and test, absolute and relative) has happened and the step is ≥ early_stop × the latest "
        "crossing step (None: off; see grokscope.training.stopping)")

    @model_validator(mode="after")
    def _device(self) -> Train:
        d = self.device
        ok = d in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:[0-9]{1,3}", d) is not None
        if not ok:
            raise ValueError(f"train.device = {short(d)}: allowed are auto, cpu, cuda, cuda:N")
        return self


class Recurrent(_Section):
    """``init.recurrent`` (Liu et al. 2024): the initial connectivity of one named weight matrix
    ``param`` (m × n), drawn after the model's own init. gaussian: W = gain·N(0, 1)/√n (full rank);
    lowrank: that W truncated by SVD to ``rank`` and rescaled to its Frobenius norm; spectrum: its
    singular values replaced by s_i ∝ i^(−decay) (``decay``, or the decay whose effective rank is
    ``effective_rank``), same norm; aligned: rank ``rank`` whose right/left singular vectors span the
    columns of ``align_in`` / the rows of ``align_out`` (the task's input and output directions) first,
    with the gaussian's top singular values, same norm; file: the matrix in ``path`` (.npy/.npz)."""

    kind: Literal["none", "gaussian", "lowrank", "spectrum", "aligned", "file"] = Field(
        "none", description="none: keep the model's own init")
    param: str = Field("W_rec", max_length=100, description="the trainable matrix it sets")
    gain: real(1e-6, 1e6) = Field(1.25, description="W = gain·N(0, 1)/√n")
    rank: integer(1, COUNT_MAX, optional=True) = Field(None, description="rank (lowrank, aligned)")
    decay: real(0, 100, optional=True) = Field(None, description="spectrum: s_i ∝ i^(−decay)")
    effective_rank: real(1, COUNT_MAX, optional=True) = Field(
        None, description="spectrum: target exp(entropy of s/Σs) (Roy & Vetterli), 1 ≤ x ≤ min(m, n)")
    align_in: str = Field("W_in", max_length=100, description="aligned: the input matrix (columns = directions)")
    align_out: str = Field("W_out", max_length=100, description="aligned: the readout (rows = directions)")
    path: OPT_PATH = Field(None, description="file: .npy/.npz holding the matrix (finite, shape of param)")
    seed: integer(0, 2**63 - 1, optional=True) = Field(None, description="seed of the gaussian draw (null: model.seed)")

    @model_validator(mode="after")
    def _check(self) -> Recurrent:
        k = self.kind
        if (self.rank is None) == (k in ("lowrank", "aligned")):
            raise ValueError(f"init.recurrent.rank = {self.rank!r}: " + ("required with" if self.rank is None
                             else "only used with init.recurrent.kind = lowrank or aligned, not") + f" kind = {k!r}")
        if k == "spectrum" and (self.decay is None) == (self.effective_rank is None):
            raise ValueError("init.recurrent.decay / effective_rank: kind = 'spectrum' needs exactly one of them "
                             f"(got decay = {self.decay!r}, effective_rank = {self.effective_rank!r})")
        if k != "spectrum" and (self.decay, self.effective_rank) != (None, None):
            raise ValueError(f"init.recurrent.decay / effective_rank: only used with kind = 'spectrum' (got {k!r})")
        if (self.path is None) == (k == "file"):
            raise ValueError(f"init.recurrent.path = {short(self.path)}: " + ("required with kind = 'file'"
                             if self.path is None else f"only used with kind = 'file' (got {k!r})"))
        if self.path is not None:
            from grokscope.config.arrays import load_array
            W = load_array(self.path, "init.recurrent.path")  # finite, non-empty
            if W.ndim != 2:
                raise ValueError(f"init.recurrent.path = {short(self.path)}: a {W.ndim}-d array; needs a matrix")
        return self


def recurrent_conflicts(cfg: Any) -> list[str]:
    """``init.recurrent`` sizes against the rnn's N × N W_rec (other matrices: checked at build)."""
    rec, m = cfg.init.recurrent, cfg.model
    if rec.kind == "none" or m.name != "rnn" or rec.param != "W_rec":
        return []
    out, N = [], m.N
    for key, v in (("rank", rec.rank), ("effective_rank", rec.effective_rank)):
        if v is not None and v > N:
            out.append(f"init.recurrent.{key} = {v!r}: larger than W_rec (model.N × model.N = {N} × {N}); "
                       f"allowed: 1..{N}")
    if rec.path is not None:
        from grokscope.config.arrays import load_array
        try:
            load_array(rec.path, "init.recurrent.path", (N, N), ("model.N", "model.N"))
        except ValueError as exc:
            out.append(str(exc))
    return out


class Init(_Section):
    """Generic transforms of any model's initial weights, applied after the model's own init (and
    ``model.init_W``): each selected weight matrix (ndim ≥ 2; the last two axes, leading axes batched)
    is truncated to ``rank`` by SVD and rescaled to its full-rank Frobenius norm (Liu et al. 2024);
    then every trainable tensor is multiplied by ``scale`` (Omnigrok's init scale)."""

    rank: integer(1, COUNT_MAX, optional=True) = Field(
        None, description="SVD rank of the initial weight matrices (null: full)")
    scale: real(1e-6, 1e6) = Field(1.0, description="multiplies every trainable initial weight")
    params: list[str] | None = Field(None, max_length=LIST_MAX,
                                     description="names of the tensors the rank applies to "
                                                 "(null: every trainable tensor with ndim ≥ 2)")
    interp: real(0, 1) = Field(
        0.0, description="paper Fig 10: W₀ ← interp·W⋆ + (1 − interp)·W₀, W⋆ the committee's analytic "
                         "solution (w̄ = 0, αεM = B of the target; numerics/interp_init.py); needs an "
                         "uncentred run")
    mask_from: OPT_PATH = Field(
        None, description="grokking tickets (Minegishi et al.): a finished run directory whose final weights "
                          "give the magnitude-pruning mask; the run starts from its own θ₀ ⊙ mask and keeps "
                          "the mask fixed (numerics/masks.py)")
    mask_sparsity: real(0, 1, hi_open=True) = Field(
        0.0, description="fraction of the weight-matrix entries pruned (global over every trainable ndim ≥ 2 "
                         "tensor; 0: no mask)")
    mask_kind: Literal["magnitude", "random"] = Field(
        "magnitude", description="magnitude: keep the largest |final weights| of init.mask_from; random: a "
                                 "random mask of the same per-tensor counts (init.mask_seed)")
    mask_seed: SEED = Field(0, description="seed of the random mask")
    mask_scope: Literal["layer", "global"] = Field(
        "layer", description="layer: each weight tensor pruned at init.mask_sparsity; global: one magnitude "
                             "threshold over all of them (Minegishi et al.; prunes whole small-scale layers)")
    recurrent: Recurrent = Field(default_factory=Recurrent, description="initial connectivity of one named "
                                 "matrix (Liu et al. 2024; numerics/initialise.py)")

    @model_validator(mode="after")
    def _mask(self) -> Init:
        if self.mask_from is not None and self.mask_sparsity == 0:
            raise ValueError(f"init.mask_from = {short(self.mask_from)}: needs init.mask_sparsity in (0, 1) "
                             "(the fraction of weights pruned); got 0")
        if self.mask_sparsity > 0 and self.mask_kind == "magnitude" and self.mask_from is None:
            raise ValueError(f"init.mask_sparsity = {self.mask_sparsity!r} with init.mask_kind = 'magnitude' "
                             "needs init.mask_from (the run directory whose final weights are pruned); "
                             "or use init.mask_kind = random")
        return self


class Probes(_Section):
    """``names``: 'auto' (every probe the model and task support) or an explicit list."""

    names: Literal["auto"] | list[str] = Field("auto", max_length=LIST_MAX)
    expensive_points: integer(2, 10**6) = Field(100, description="probe points over the run for NTK-based probes")
    cadence: dict[str, integer(2, 10**6)] = Field(
        default_factory=dict, max_length=LIST_MAX,
        description="per-probe number of points over the run (overrides; ≥ 2: the first and last step)")
    pathway_mass: real(0, 1, lo_open=True) = Field(
        0.7, description="pathways probe: a layer keeps its largest units (experts) up to this share of the "
                         "total activation (Li et al.'s cumulative mass)")
    pathway_top_k: integer(1, COUNT_MAX, optional=True) = Field(
        None, description="pathways probe: keep exactly this many units per layer instead (null: use the mass)")
    lc_radius: real(0, 1e6, lo_open=True) = Field(
        0.05, description="local_complexity probe: radius r of the cross-polytope around each point")
    lc_vertices: integer(2, 10_000) = Field(
        20, description="local_complexity probe: vertices x ± r·v_p of the cross-polytope (P/2 orthonormal v_p)")
    lc_points: integer(1, 10**6) = Field(
        200, description="local_complexity probe: points per set (train, test, random; the first n of each)")
    robust_eps: real(0, 1e6) = Field(
        0.05, description="robustness probe: L∞ radius ε of the PGD attack (inputs clamped to the training inputs' range)")
    robust_iters: integer(1, 10_000) = Field(10, description="robustness probe: PGD iterations (step 2.5ε/iters)")
    liu_param: str | None = Field(None, max_length=100, description="liu/liu_kernel probes: the parameter the "
                                  "measures are restricted to (null: W_rec, else the model's second weight matrix)")
    liu_trials: integer(1, 10**6) = Field(320, description="liu probe: probe-set trials (the first test samples)")
    liu_kernel_trials: integer(1, 10**6) = Field(
        32, description="liu_kernel probe: trials of the tangent kernel (the first of the probe set)")


class Events(_Section):
    thresholds: list[_POS] = Field(default_factory=lambda: [0.1], max_length=LIST_MAX,
                                   description="absolute loss thresholds")
    relative: list[_POS] = Field(default_factory=lambda: [0.1], max_length=LIST_MAX,
                                 description="thresholds as fractions of the step-0 loss")
    test_metric: Literal["test_loss", "test_loss_exact"] = "test_loss"
    departure: real(0, 1e6, lo_open=True) = Field(
        0.1, description="relative gap |L − L_lin|/L_lin that marks leaving the twin")
    k0_ridge: real(0, 1e6) = Field(0.0, description="ridge of the K₀ kernel-regression baseline")


class Output(_Section):
    root: PATH = "runs"
    name: NAME = Field(None, description="run directory name, one path component of at most 100 characters "
                                         "(default: preset/config name + hash)")
    plots: bool = True
    flush_every_s: real(0, 1e9, lo_open=True) = Field(
        30.0, description="how often partial metrics are written during a run")
    report: bool = Field(True, description="write report.html at the end of a run (when plots is true)")
    stream: list[Literal["tensorboard", "mlflow", "wandb"]] = Field(
        default_factory=list, description="stream metrics live during training to these backends")
    mlflow_uri: str | None = Field(None, max_length=PATH_MAX,
                                   description="MLflow tracking URI (default sqlite:///<root>/mlflow.db)")
    formats: list[Literal["png", "pdf", "svg"]] = Field(
        default_factory=lambda: ["png"], min_length=1, max_length=3,
        description="file formats of every figure a run or sweep writes (figures/<name>.<format>)")

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"output.formats = {v!r}: each of png, pdf, svg at most once")
        return v


class Config(_Section):
    """One run, fully specified: ``task`` (data), ``model``, ``scaling`` (α, centring, η rule), ``optim``,
    ``train`` (steps, engine, loss, dtype, device), ``init`` (weight transforms), ``probes``, ``events``
    and ``output``. Frozen; build one with :func:`load_config` (YAML file, preset dict and dotted
    overrides), change one with ``cfg.replace(**{"scaling.alpha": 4})``. Every bad value fails here with
    one message naming the key, the value and what is allowed."""

    task: TaskSection = PolynomialTask()
    model: ModelSection = CommitteeModel()
    scaling: Scaling = Scaling()
    optim: Optim = Optim()
    train: Train = Train()
    init: Init = Init()
    probes: Probes = Probes()
    events: Events = Events()
    output: Output = Output()

    @model_validator(mode="before")
    @classmethod
    def _alpha_twice(cls, data: Any) -> Any:
        return _readout_alpha(data)

    @model_validator(mode="after")
    def _compatible(self) -> Config:
        problems = section_conflicts(self)
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def replace(self, **dotted: Any) -> Config:
        """New config with dotted keys replaced: ``cfg.replace(**{"model.N": 10})``."""
        d = self.to_dict()
        for key, value in dotted.items():
            _set_dotted(d, key, value)
        return parse_config(d)


def _readout_alpha(data: Any) -> Any:
    """scaling.alpha_convention = paper-code: hand alpha to the MLP section as its derived second output
    factor ``model.readout_alpha`` (1 otherwise). Derived on every parse, never dumped, never set by hand."""
    m = data.get("model") if isinstance(data, dict) else None
    if isinstance(m, _Section):
        m = m.model_dump()  # a section object: drop a readout_alpha derived for another config
    if not isinstance(m, dict) or m.get("name") != "mlp":
        return data
    if "readout_alpha" in m and isinstance(data["model"], dict):
        raise ValueError(f"model.readout_alpha = {short(m['readout_alpha'])}: derived from scaling.alpha when "
                         "scaling.alpha_convention = paper-code; do not set it (remove the key)")
    sc = data.get("scaling", {})
    sc = sc.model_dump() if isinstance(sc, _Section) else sc
    a = sc.get("alpha", 1.0) if isinstance(sc, dict) and sc.get("alpha_convention") == "paper-code" else None
    try:
        a = float(a) if isinstance(a, (int, float, str)) and not isinstance(a, bool) and len(str(a)) < 100 else None
    except ValueError:
        a = None
    m = {k: v for k, v in m.items() if k != "readout_alpha"}
    if a is not None and 1e-6 <= a <= 1e6:  # a bad alpha fails in its own field (scaling.alpha)
        m["readout_alpha"] = a
    return {**data, "model": m}


def section_conflicts(cfg: Config) -> list[str]:
    """Task, model, loss and learning-rate rule that do not fit together (one message each)."""
    t, m, out = cfg.task, cfg.model, []
    tokens = t.name == "modular" and t.inputs == "tokens"
    if m.name in SEQUENCE_MODELS and not tokens:
        out.append(f"model.name = {m.name!r} reads token sequences: needs task.name = modular with "
                   f"task.inputs = tokens (got task.name = {t.name!r}"
                   + (f", task.inputs = {t.inputs!r})" if t.name == "modular" else ")"))
    if tokens and m.name not in SEQUENCE_MODELS:
        out.append(f"task.inputs = 'tokens' feeds a sequence model ({', '.join(SEQUENCE_MODELS)}); "
                   f"model.name = {m.name!r} needs task.inputs = onehot")
    if cfg.scaling.alpha_convention == "paper-code" and m.name != "mlp":
        out.append(f"scaling.alpha_convention = 'paper-code' applies alpha twice to an MLP's output (the "
                   f"authors' Fig 2 code); model.name = {m.name!r} has no such readout: use as-written")
    if m.name == "committee" and t.name == "modular":
        out.append("model.name = 'committee' has one scalar output; task.name = 'modular' needs one output "
                   "per class (use an MLP with task.inputs = onehot, or the transformer)")
    if cfg.init.interp and cfg.scaling.centre:
        out.append(f"init.interp = {cfg.init.interp!r}: W⋆ solves the uncentred problem (αf(x; W⋆) = y); "
                   "set scaling.centre = false (the paper's Fig 10 is uncentred) or init.interp = 0")
    out += recurrent_conflicts(cfg)
    if getattr(t, "online", False) and cfg.optim.batch_size is not None:
        out.append(f"task.online = true draws P fresh samples every step; optim.batch_size = "
                   f"{cfg.optim.batch_size} would sub-sample them: leave it unset (the batch is task.P)")
    if getattr(t, "online", False) and cfg.train.engine == "reduced":
        out.append("task.online = true: the reduced engine needs one fixed train set; use train.engine = auto "
                   "or network")
    if cfg.scaling.lr_rule == "paper" and m.name == "transformer":
        out.append("scaling.lr_rule = 'paper' (η = lr·N/α²) needs the committee width N; model.name = "
                   "'transformer' has none: use inv_alpha2 (η = lr/α², the paper's Transformer runs) or plain")
    return out


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if not isinstance(part, int) and not (isinstance(part, str) and part.isprintable() and len(part) <= 100):
            part = short(part, 100)  # odd keys (control characters, huge, non-text) shown as a repr
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_UNIONS = {"task": TASK_SECTIONS, "model": MODEL_SECTIONS}


def _untag(loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], type | None]:
    """Drop the union tag pydantic puts after ``task``/``model``; also return the tagged section class."""
    if len(loc) > 1 and loc[0] in _UNIONS and loc[1] in _UNIONS[loc[0]]:
        return (loc[0],) + tuple(loc[2:]), _UNIONS[loc[0]][loc[1]]
    return tuple(loc), None


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    loc, section = _untag(loc)
    model: Any = Config
    for i, part in enumerate(loc[:-1]):
        if i == 0 and section is not None:
            model = section
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        model = field.annotation
    return list(model.model_fields) if hasattr(model, "model_fields") else []


def _dotted_keys() -> list[str]:
    """Every dotted config key of every section family (scaling.alpha, model.N, task.p, …)."""
    keys = set()
    for sec, field in Config.model_fields.items():
        classes = _UNIONS[sec].values() if sec in _UNIONS else [field.annotation]
        for cls in classes:
            keys.update(f"{sec}.{k}" for k in getattr(cls, "model_fields", {}))
    return sorted(keys)


def parse_config(data: dict[str, Any] | None) -> Config:
    """Validate a nested dict into a :class:`Config`; raise :class:`ConfigError` on any bad value."""
    try:
        return Config.model_validate(data or {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = _fmt_loc(_untag(err["loc"])[0])
            if err["type"] == "union_tag_invalid":
                sections = _UNIONS.get(str(err["loc"][0]), {})
                lines.append(f"{key}.name = {short(err['ctx'].get('tag'))}: unknown; allowed are "
                             f"{', '.join(sections)}")
            elif err["type"] == "extra_forbidden":
                here = _allowed_keys(err["loc"])
                hint = key_suggestion(key, here, _dotted_keys())
                lines.append(f"{key}: unknown key{hint}; allowed here: {', '.join(here)}")
            elif err["type"] == "value_error":
                msg = str(err["msg"]).removeprefix("Value error, ")
                lines.append(msg if msg.split(" ")[0].count(".") else f"{key}: {msg}")
            else:
                lines.append(f"{key} = {short(err.get('input'))}: {err['msg']}")
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines)) from None


def _set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    node = d
    parts = key.split(".")
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = value


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["model.N=1000", "scaling.centre=false"]`` → {"model.N": 1000, "scaling.centre": False}.

    Values are parsed as YAML scalars/lists, so numbers, booleans and ``[1, 2]`` work.
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. model.N=1000")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key or any(not p for p in key.split(".")):
            raise ConfigError(f"--set {item!r}: the key must be dotted section.field, e.g. model.N")
        out[key] = yaml_safe.loads(raw, f"--set {short(key, 100)} = {short(raw)}")
    return out


def read_yaml(path: str | os.PathLike[str], what: str = "config file") -> dict[str, Any]:
    """The mapping in a YAML file, read with the hardened loader of :mod:`grokscope.config.yaml_safe`."""
    p = Path(path)
    data = yaml_safe.load_file(p, what)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {str(p)!r}: top level must be a mapping of sections, "
                          f"got {type(data).__name__}")
    return data


def load_config(source: str | os.PathLike[str] | dict[str, Any] | None = None,
                overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """Config from a YAML path or dict, with dotted overrides applied, then validated."""
    data = read_yaml(source) if isinstance(source, (str, os.PathLike)) else dict(source or {})
    try:
        data = yaml.safe_load(yaml.safe_dump(data))  # deep copy through plain types
    except (yaml.YAMLError, RecursionError) as exc:
        raise ConfigError(f"config: not plain YAML data ({exc.__class__.__name__})") from None
    ov = parse_overrides(overrides) if isinstance(overrides, list) else dict(overrides or {})
    for key, value in ov.items():
        _set_dotted(data, key, value)
    return parse_config(data)


def dump_config(cfg: Config) -> str:
    """Fully resolved YAML text; ``load_config`` of it gives back an equal config."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
