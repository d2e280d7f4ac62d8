"""Task and model sections: one pydantic class per family, selected by its ``name`` (a section without
``name`` is the first family of its registry), plus the base class and error every section shares.

:mod:`grokscope.config` re-exports all of these; import them from there. A new family is one class
here plus one registry entry.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from grokscope.config.limits import (
    COUNT_MAX,
    LIST_MAX,
    OPT_PATH,
    SEED,
    find_range,
    integer,
    real,
    short,
)

SIZE = integer(1, COUNT_MAX)
WIDTH = integer(-COUNT_MAX, COUNT_MAX)  # layer widths: the sections say "widths must be > 0" themselves
POSITIVE = real(0, 1e12, lo_open=True)


class ConfigError(ValueError):
    """A config value is wrong; the message names key, value and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """State every numeric field's allowed range in its description."""
        super().__pydantic_init_subclass__(**kwargs)
        changed = False
        for f in cls.model_fields.values():
            rng = find_range(f.annotation, f.metadata)
            if rng is not None and "allowed:" not in (f.description or ""):
                f.description = f"{f.description + '; ' if f.description else ''}allowed: {rng.text}"
                changed = True
        if changed:
            cls.model_rebuild(force=True)


class DataFiles(_Section):
    """Bring-your-own arrays (.npy or .npz with one array): reuse another codebase's exact data."""

    X_train: OPT_PATH = None
    y_train: OPT_PATH = None
    X_test: OPT_PATH = None
    y_test: OPT_PATH = None
    beta: OPT_PATH = None


class PolynomialTask(_Section):
    """x ~ N(0, I/D); target ½(β·x)² (single_index), He_k(z) with z = √D β̂·x (hermite), or
    Σ_j ½(β_j·x)² over ``n_index`` directions (multi_index); β ~ N(0, I)."""

    name: Literal["polynomial"] = "polynomial"
    D: SIZE = 100
    P: SIZE = 550
    P_test: SIZE = 1000
    target: Literal["single_index", "hermite", "multi_index"] = "single_index"
    k: integer(1, 12) = Field(2, description="Hermite degree of the target")
    n_index: integer(1, 10**6) = Field(2, description="number of directions of the multi-index target")
    data_seed: SEED = 0
    test_seed: SEED = 1
    beta_seed: SEED = 2
    files: DataFiles = DataFiles()
    online: bool = Field(False, description="online learning: every step trains on P fresh samples of the "
                         "input distribution instead of re-using one train set (the train loss is then the "
                         "loss on that step's fresh samples)")

    @model_validator(mode="after")
    def _online_needs_the_distribution(self) -> PolynomialTask:
        given = [n for n in ("X_train", "y_train") if getattr(self.files, n) is not None]
        if self.online and given:
            raise ValueError(f"task.online = true: draws fresh Gaussian inputs every step, so task.files."
                             f"{given[0]} cannot be used; drop it or set task.online = false")
        return self


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


class ModularTask(_Section):
    """(a ∘ b) mod p over all p² pairs (b ≠ 0 for div), split into train/test by ``split_seed``.

    op: add a+b, sub a−b, mul a·b, div a·b⁻¹ (p prime), x2xyy2 a²+ab+b². inputs: onehot X (P, 2p)
    = [e_a, e_b] for MLPs; tokens X (P, 3) int64 = (a, b, p) with '=' the token p, for transformers.
    """

    name: Literal["modular"] = "modular"
    p: integer(2, 4096) = Field(113, description="modulus; must be prime for op = div")
    op: Literal["add", "sub", "mul", "div", "x2xyy2"] = "add"
    frac_train: real(0, 1, lo_open=True, hi_open=True) = Field(
        0.3, description="fraction of the pairs used for training")
    split_seed: SEED = 0
    inputs: Literal["onehot", "tokens"] = "tokens"
    label_noise: real(0, 1, hi_open=True) = Field(
        0.0, description="fraction ξ of training labels replaced by a different random class (Doshi et al.)")
    label_noise_seed: SEED = Field(0, description="seed of which training labels are corrupted, and to what")

    @model_validator(mode="after")
    def _check(self) -> ModularTask:
        if self.op == "div" and not _is_prime(self.p):
            raise ValueError(f"task.p = {self.p}: op = div needs a prime p (every b ≠ 0 must have an "
                             "inverse mod p)")
        n = self.p * (self.p - 1) if self.op == "div" else self.p**2
        n_train = round(self.frac_train * n)
        if not 1 <= n_train <= n - 1:
            raise ValueError(f"task.frac_train = {self.frac_train!r}: gives {n_train} of {n} pairs for "
                             "training; need at least one train and one test pair")
        return self


class CommitteeModel(_Section):
    """f(x) = (1/N) Σ_i a_i φ(w_i·x); W ~ σ·N(0, 1); a = 1 (fixed) unless readouts are trained."""

    name: Literal["committee"] = "committee"
    N: SIZE = 500
    phi: Literal["quadratic", "relu", "tanh", "hermite"] = "quadratic"
    eps: real(-1e6, 1e6) = Field(0.02, description="φ(h) = h + (eps/2) h² (quadratic) or h + (eps/2) He_k(h)")
    k: integer(2, 12) = Field(2, description="Hermite degree of φ when phi = hermite")
    readouts: Literal["fixed", "trained"] = "fixed"
    readout_init: Literal["ones", "normal"] = "ones"
    sigma: real(1e-6, 1e6) = Field(1.0, description="init scale: W ~ sigma·N(0,1)")
    init_W: OPT_PATH = Field(None, description=".npy/.npz file with the initial W, shape (N, D)")
    init: Literal["sampled", "infinite"] = Field(
        "sampled", description="sampled W, or the infinite-width limit w̄ = 0, M = σ²I (reduced engine only)")
    seed: SEED = 0

    @model_validator(mode="after")
    def _check(self) -> CommitteeModel:
        if self.init == "infinite" and self.init_W is not None:
            raise ValueError(f"model.init_W = {short(self.init_W)}: not used with model.init = 'infinite' (the "
                             "infinite-width limit samples no W); drop model.init_W or set model.init = sampled")
        return self


class ImageTask(_Section):
    """Image classification: sklearn's bundled 8×8 digits, MNIST from local IDX files in ``path``, or
    MNIST-1D generated by the ``mnist1d`` package. Pixels in [0, 1], flattened; ``n_train`` and
    ``n_test`` disjoint samples drawn with ``seed``; integer labels (one-hot targets under mse)."""

    name: Literal["images"] = "images"
    source: Literal["digits", "mnist", "mnist1d"] = "digits"
    path: OPT_PATH = Field(None, description="directory holding the MNIST IDX files (source = mnist)")
    n_train: SIZE = 1000
    n_test: SIZE = 797
    seed: SEED = Field(0, description="seed of the random train/test selection")
    label_noise: real(0, 1, hi_open=True) = Field(
        0.0, description="fraction ξ of training labels replaced by a different random class (Doshi et al.)")
    label_noise_seed: SEED = Field(0, description="seed of which training labels are corrupted, and to what")


class TeacherTask(_Section):
    """Teacher–student regression (Omnigrok, paper §5.5): x ~ N(0, I_D), y = teacher(x), the teacher a
    D-hidden…-K tanh MLP with biases and PyTorch's default init drawn with ``seed``."""

    name: Literal["teacher"] = "teacher"
    D: SIZE = 5
    hidden: list[WIDTH] = Field(default_factory=lambda: [100, 100], max_length=LIST_MAX)
    K: SIZE = Field(5, description="teacher outputs")
    P: SIZE = 100
    P_test: SIZE = 100
    seed: SEED = Field(0, description="seed of the teacher's weights and of the inputs")
    thresholds: list[real(-1e12, 1e12)] = Field(
        default_factory=lambda: [1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.1], max_length=LIST_MAX,
        description="θ of the thresholded accuracy: fraction of samples with per-sample MSE < θ")
    threshold: POSITIVE = Field(1e-3, description="θ of the train_acc/test_acc columns (paper: 0.001)")

    @model_validator(mode="after")
    def _check(self) -> TeacherTask:
        for h in self.hidden:
            if h <= 0:
                raise ValueError(f"task.hidden = {short(self.hidden)}: widths must be > 0")
        for v in self.thresholds:
            if not v > 0:
                raise ValueError(f"task.thresholds contains {v!r}: thresholds must be > 0")
        return self


class EigenTask(_Section):
    """Eigenvector labels (paper Fig 5): x ~ N(0, I/D), P + P_test points; the labels are the j-th
    eigenvector (j = 1 the largest) of the mean-subtracted initial-NTK Gram matrix over all points,
    filled in once the model is initialised; the first P points train, the rest test."""

    name: Literal["eigen"] = "eigen"
    D: SIZE = 100
    P: SIZE = 100
    P_test: SIZE = 100
    j: SIZE = Field(70, description="eigenvector index, 1 = largest eigenvalue")
    data_seed: SEED = 0

    @model_validator(mode="after")
    def _check(self) -> EigenTask:
        if self.j > self.P + self.P_test:
            raise ValueError(f"task.j = {self.j}: must be ≤ task.P + task.P_test = {self.P + self.P_test}")
        return self


class ParityTask(_Section):
    """Sparse parity (Prieto et al. 2025, Fig 4; Barak et al. 2022): n_samples random bit strings of
    n_relevant + n_noise bits; label = XOR of the first n_relevant bits (2 classes). Inputs float,
    bits as 0/1 (encoding binary) or as ±1 (pm1); split into train/test by frac_train."""

    name: Literal["parity"] = "parity"
    n_relevant: integer(1, 64) = Field(3, description="bits whose parity is the label")
    n_noise: integer(0, 4096) = Field(40, description="irrelevant random bits appended")
    n_samples: integer(2, 10**7) = Field(2000, description="strings drawn (train + test)")
    frac_train: real(0, 1, lo_open=True, hi_open=True) = Field(0.5, description="fraction used for training")
    encoding: Literal["binary", "pm1"] = "binary"
    seed: SEED = 0

    @model_validator(mode="after")
    def _check(self) -> ParityTask:
        n_train = round(self.frac_train * self.n_samples)
        if not 1 <= n_train <= self.n_samples - 1:
            raise ValueError(f"task.frac_train = {self.frac_train!r}: gives {n_train} of {self.n_samples} "
                             "samples for training; need at least one train and one test sample")
        return self


class MLPModel(_Section):
    """Fully connected net: h_1 = c_0 W_0 x (+ b_0), h_{l+1} = c_l W_l φ(h_l) (+ b_l), output h_L·out_scale.
    c_l: norm none → 1; ntk → 1/√fan_in; paper (the authors' MNIST code) → 1/√fan_in for hidden
    layers and 1/fan_in for the readout. Init: normal σ·N(0,1); lecun σ·N(0,1)/√fan_in; kaiming
    σ·N(0,1)·√(2/fan_in); torch_default σ·U(±1/√fan_in) (biases too; else biases start at 0)."""

    name: Literal["mlp"] = "mlp"
    hidden: list[WIDTH] = Field(default_factory=lambda: [200, 200, 200], max_length=LIST_MAX)
    activation: Literal["relu", "tanh", "quadratic", "square", "linear"] = "relu"
    eps: real(-1e6, 1e6) = Field(1.0, description="φ(h) = h + (eps/2) h² when activation = quadratic")
    bias: bool = False
    init: Literal["normal", "lecun", "kaiming", "torch_default"] = "kaiming"
    sigma: real(1e-6, 1e6) = Field(1.0, description="init scale multiplying every initial weight and bias")
    norm: Literal["none", "ntk", "paper"] = "none"
    out_scale: real(1e-12, 1e12) = Field(1.0, description="constant factor on the output (Fig 2: 1/(D·N))")
    readout_alpha: real(1e-6, 1e6) = Field(
        1.0, exclude=True, description="derived, never set: scaling.alpha when scaling.alpha_convention = "
                                       "paper-code (the output's second alpha), else 1")
    seed: SEED = 0

    @model_validator(mode="after")
    def _check(self) -> MLPModel:
        if any(h <= 0 for h in self.hidden):
            raise ValueError(f"model.hidden = {short(self.hidden)}: widths must be > 0")
        return self


class TransformerModel(_Section):
    """One-layer transformer of Nanda et al. (2023): learned token and position embeddings, causal
    multi-head attention, ReLU MLP, no LayerNorm; logits (P, classes) from the last position."""

    name: Literal["transformer"] = "transformer"
    d_model: SIZE = 128
    n_heads: SIZE = 4
    d_head: integer(1, COUNT_MAX, optional=True) = Field(
        None, description="per-head width (default d_model // n_heads)")
    d_mlp: SIZE = 512
    act: Literal["relu", "gelu"] = "relu"
    seed: SEED = Field(1, description="seed of the weight init (the paper's code: torch seed 1)")
    layernorm: Literal["none", "pre", "post"] = Field(
        "none", description="LayerNorm: none (Nanda et al.), pre (norm_first) or post (PyTorch's encoder "
        "layer default, Prieto et al.)")
    moe_experts: integer(0, 64) = Field(
        0, description="0: a dense MLP; E ≥ 2: a mixture of E expert MLPs with a softmax router (Li et al.: 4–8)")
    moe_top_k: integer(1, 64) = Field(2, description="experts each sample is routed to (top-k gates, renormalised)")
    moe_d_expert: integer(1, COUNT_MAX, optional=True) = Field(
        None, description="hidden width of each expert (default d_mlp // moe_experts)")

    @model_validator(mode="after")
    def _check(self) -> TransformerModel:
        if self.d_head is None and self.d_model % self.n_heads:
            raise ValueError(f"model.n_heads = {self.n_heads}: must divide model.d_model = {self.d_model} "
                             "(or set model.d_head)")
        if self.moe_experts == 1:
            raise ValueError("model.moe_experts = 1: allowed are 0 (a dense MLP) or 2..64 experts")
        if self.moe_experts and self.moe_top_k > self.moe_experts:
            raise ValueError(f"model.moe_top_k = {self.moe_top_k}: must be ≤ model.moe_experts = "
                             f"{self.moe_experts}")
        return self


# Sections selected by their ``name``; a section without ``name`` is the first entry (the default).
TASK_SECTIONS: dict[str, type[_Section]] = {"polynomial": PolynomialTask, "modular": ModularTask,
                                             "images": ImageTask, "teacher": TeacherTask, "eigen": EigenTask,
                                             "parity": ParityTask}
MODEL_SECTIONS: dict[str, type[_Section]] = {"committee": CommitteeModel, "transformer": TransformerModel,
                                               "mlp": MLPModel}


def _by_name(sections: dict[str, type[_Section]]) -> Any:
    """Pydantic discriminated union over ``sections`` on the ``name`` field (missing name → first)."""
    default = next(iter(sections))

    def tag(v: Any) -> str:
        return v.get("name", default) if isinstance(v, dict) else getattr(v, "name", default)

    members = tuple(Annotated[cls, Tag(n)] for n, cls in sections.items())
    return Annotated[Union[members], Discriminator(tag)]  # noqa: UP007


TaskSection = _by_name(TASK_SECTIONS)
ModelSection = _by_name(MODEL_SECTIONS)
SEQUENCE_MODELS = ("transformer",)  # models that read token sequences (task.inputs = tokens)
