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


class Probes(_Section):
    """``names``: 'auto' (every probe the model and task support) or an explicit list."""

    names: Literal["auto"] | list[str] = Field("auto", max_length=LIST_MAX)
    expensive_points: integer(2, 10**6) = Field(100, description="probe points over the run for NTK-based probes")
    cadence: dict[str, integer(2, 10**6)] = Field(
        default_factory=dict, max_length=LIST_MAX,
        description="per-probe number of points over the run (overrides; ≥ 2: the first and last step)")


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
