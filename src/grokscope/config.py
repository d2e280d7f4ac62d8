"""Typed, frozen config tree: YAML load/dump, dotted ``--set`` overrides, validation.

Every bad value raises one :class:`ConfigError` naming the key, the value and what is allowed,
before any work starts. Names follow the paper: D, P, N, alpha, eps, beta.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A config value is wrong; the message names key, value and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataFiles(_Section):
    """Bring-your-own arrays (.npy or .npz with one array): reuse another codebase's exact data."""

    X_train: str | None = None
    y_train: str | None = None
    X_test: str | None = None
    y_test: str | None = None
    beta: str | None = None


class PolynomialTask(_Section):
    """x ~ N(0, I/D); target ½(β·x)² (single_index), He_k(z) with z = √D β̂·x (hermite), or
    Σ_j ½(β_j·x)² over ``n_index`` directions (multi_index); β ~ N(0, I)."""

    name: Literal["polynomial"] = "polynomial"
    D: int = Field(100, gt=0)
    P: int = Field(550, gt=0)
    P_test: int = Field(1000, gt=0)
    target: Literal["single_index", "hermite", "multi_index"] = "single_index"
    k: int = Field(2, ge=1, le=12, description="Hermite degree of the target")
    n_index: int = Field(2, ge=1, description="number of directions of the multi-index target")
    data_seed: int = 0
    test_seed: int = 1
    beta_seed: int = 2
    files: DataFiles = DataFiles()


class CommitteeModel(_Section):
    """f(x) = (1/N) Σ_i a_i φ(w_i·x); W ~ σ·N(0, 1); a = 1 (fixed) unless readouts are trained."""

    name: Literal["committee"] = "committee"
    N: int = Field(500, gt=0)
    phi: Literal["quadratic", "relu", "tanh", "hermite"] = "quadratic"
    eps: float = Field(0.02, description="φ(h) = h + (eps/2) h² (quadratic) or h + (eps/2) He_k(h)")
    k: int = Field(2, ge=2, le=12, description="Hermite degree of φ when phi = hermite")
    readouts: Literal["fixed", "trained"] = "fixed"
    readout_init: Literal["ones", "normal"] = "ones"
    sigma: float = Field(1.0, gt=0, description="init scale: W ~ sigma·N(0,1)")
    init_W: str | None = Field(None, description=".npy/.npz file with the initial W, shape (N, D)")
    init: Literal["sampled", "infinite"] = Field(
        "sampled", description="sampled W, or the infinite-width limit w̄ = 0, M = σ²I (reduced engine only)")
    seed: int = 0


class Scaling(_Section):
    """f̃ = alpha·(f(θ) − f(θ₀)) when centred, else alpha·f(θ). Learning rate η from ``optim.lr``:
    paper: η = lr·N/alpha²; inv_alpha2: η = lr/alpha²; plain: η = lr."""

    alpha: float = Field(1.0, gt=0)
    centre: bool = True
    lr_rule: Literal["paper", "inv_alpha2", "plain"] = "paper"


class Optim(_Section):
    """Functional optimisers. ``batch_size`` only for sgd (None = full batch)."""

    name: Literal["gd", "sgd", "momentum", "adam", "adamw"] = "gd"
    lr: float = Field(1.0, gt=0, description="η₀ before the lr_rule is applied")
    momentum: float = Field(0.9, ge=0, lt=1)
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Optim:
        for i, b in enumerate(self.betas):
            if not 0 <= b < 1:
                raise ValueError(f"optim.betas[{i}] = {b!r}: must be in [0, 1)")
        if self.batch_size is not None and self.name != "sgd":
            raise ValueError(f"optim.batch_size = {self.batch_size!r}: only allowed with optim.name = sgd "
                             f"(got {self.name!r}); full-batch optimisers use every sample")
        return self


class Train(_Section):
    steps: int = Field(100_000, ge=1)
    log_per_decade: int = Field(100, ge=1, le=10_000, description="probe points per decade of steps")
    engine: Literal["auto", "network", "reduced"] = "auto"
    loss: Literal["mse", "cross_entropy"] = "mse"
    grad: Literal["analytic", "autograd"] = "analytic"
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    dtype: Literal["float64", "float32"] = "float64"
    seed: int = Field(0, description="seed for mini-batch sampling")
    progress: bool = True

    @model_validator(mode="after")
    def _device(self) -> Train:
        d = self.device
        ok = d in ("auto", "cpu", "cuda") or (d.startswith("cuda:") and d[5:].isdigit())
        if not ok:
            raise ValueError(f"train.device = {d!r}: allowed are auto, cpu, cuda, cuda:N")
        return self


class Probes(_Section):
    """``names``: 'auto' (every probe the model and task support) or an explicit list."""

    names: Literal["auto"] | list[str] = "auto"
    expensive_points: int = Field(100, ge=2, description="probe points over the run for NTK-based probes")
    cadence: dict[str, int] = Field(default_factory=dict,
                                    description="per-probe number of points over the run (overrides)")

    @model_validator(mode="after")
    def _cadence(self) -> Probes:
        for k, v in self.cadence.items():
            if v < 2:
                raise ValueError(f"probes.cadence.{k} = {v!r}: must be ≥ 2 points (first and last step)")
        return self


class Events(_Section):
    thresholds: list[float] = Field(default_factory=lambda: [0.1], description="absolute loss thresholds")
    relative: list[float] = Field(default_factory=lambda: [0.1],
                                  description="thresholds as fractions of the step-0 loss")
    test_metric: Literal["test_loss", "test_loss_exact"] = "test_loss"
    departure: float = Field(0.1, gt=0, description="relative gap |L − L_lin|/L_lin that marks leaving the twin")
    k0_ridge: float = Field(0.0, ge=0, description="ridge of the K₀ kernel-regression baseline")

    @model_validator(mode="after")
    def _pos(self) -> Events:
        for key in ("thresholds", "relative"):
            for v in getattr(self, key):
                if not v > 0:
                    raise ValueError(f"events.{key} contains {v!r}: thresholds must be > 0")
        return self


class Output(_Section):
    root: str = "runs"
    name: str | None = Field(None, description="run directory name (default: preset/config name + hash)")
    plots: bool = True
    flush_every_s: float = Field(30.0, gt=0, description="how often partial metrics are written during a run")
    report: bool = Field(True, description="write report.html at the end of a run (when plots is true)")
    stream: list[Literal["tensorboard", "mlflow", "wandb"]] = Field(
        default_factory=list, description="stream metrics live during training to these backends")
    mlflow_uri: str | None = Field(None, description="MLflow tracking URI (default sqlite:///<root>/mlflow.db)")


class Config(_Section):
    task: PolynomialTask = PolynomialTask()
    model: CommitteeModel = CommitteeModel()
    scaling: Scaling = Scaling()
    optim: Optim = Optim()
    train: Train = Train()
    probes: Probes = Probes()
    events: Events = Events()
    output: Output = Output()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def replace(self, **dotted: Any) -> Config:
        """New config with dotted keys replaced: ``cfg.replace(**{"model.N": 10})``."""
        d = self.to_dict()
        for key, value in dotted.items():
            _set_dotted(d, key, value)
        return parse_config(d)


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Config
    for part in loc[:-1]:
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        model = field.annotation
    return list(model.model_fields) if hasattr(model, "model_fields") else []


def parse_config(data: dict[str, Any] | None) -> Config:
    """Validate a nested dict into a :class:`Config`; raise :class:`ConfigError` on any bad value."""
    try:
        return Config.model_validate(data or {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = _fmt_loc(err["loc"])
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(_allowed_keys(err["loc"]))
                lines.append(f"{key}: unknown key; allowed here: {allowed}")
            elif err["type"] == "value_error":
                msg = str(err["msg"]).removeprefix("Value error, ")
                lines.append(msg if msg.split(" ")[0].count(".") else f"{key}: {msg}")
            else:
                lines.append(f"{key} = {err.get('input')!r}: {err['msg']}")
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
        try:
            out[key] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key} = {raw!r}: not a valid YAML value ({exc.__class__.__name__})")
    return out


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r}: not found")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(p)!r}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r}: top level must be a mapping of sections, "
                          f"got {type(data).__name__}")
    return data


def load_config(source: str | os.PathLike[str] | dict[str, Any] | None = None,
                overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """Config from a YAML path or dict, with dotted overrides applied, then validated."""
    data = read_yaml(source) if isinstance(source, (str, os.PathLike)) else dict(source or {})
    data = yaml.safe_load(yaml.safe_dump(data))  # deep copy through plain types
    ov = parse_overrides(overrides) if isinstance(overrides, list) else dict(overrides or {})
    for key, value in ov.items():
        _set_dotted(data, key, value)
    return parse_config(data)


def dump_config(cfg: Config) -> str:
    """Fully resolved YAML text; ``load_config`` of it gives back an equal config."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
