"""Config sections of the neural-circuit families (Liu et al., ICLR 2024; docs/neural-circuits.md): the
rate RNN (``model.name = rnn``, models/rnn.py), neurogym's cognitive tasks (``task.name = neuro``,
tasks/neuro.py) and row-by-row digits (``task.name = seq_digits``, tasks/seq_digits.py).

They live in the config layer and register themselves here (config/extend.py), so a config naming them
validates as soon as the presets are loaded, before the model and task packages are imported.
neurogym (extra ``neuro``) is imported only to check an environment id that is not one of the aliases.
"""
from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import Field, model_validator

from grokscope.config.extend import register_section
from grokscope.config.limits import COUNT_MAX, SEED, integer, real, short
from grokscope.config.sections import ConfigError, _Section
from grokscope.config.suggest import did_you_mean


def neurogym_module() -> Any:
    try:
        import neurogym
    except ImportError:
        raise ConfigError("task.name = 'neuro': needs neurogym; install the extra: pip install 'grokscope[neuro]'"
                          ) from None
    return neurogym


class RNNModel(_Section):
    """Rate RNN h_{t+1} = (1 − dt/τ)h_t + (dt/τ)(W_rec φ(h_t) + W_in u_t); y_t = W_out φ(h_{t+1}).
    n_in, K and T come from the task (its ``meta``: n_in, seq_len; its classes)."""

    name: Literal["rnn"] = "rnn"
    N: integer(1, 100_000) = Field(300, description="hidden units")
    tau: real(0, 1e9, lo_open=True) = Field(100.0, description="time constant τ (ms)")
    dt: real(0, 1e9, lo_open=True) = Field(100.0, description="time step dt (ms); dt/τ must be ≤ 1")
    activation: Literal["relu", "tanh"] = "relu"
    bias: bool = Field(False, description="recurrent and readout biases (off in the paper)")
    gain: real(1e-6, 1e6) = Field(1.25, description="W_rec = gain·N(0, 1)/√N")
    seed: SEED = 0

    @model_validator(mode="after")
    def _check(self) -> RNNModel:
        if self.dt > self.tau:
            raise ValueError(f"model.dt = {self.dt!r}: must be ≤ model.tau = {self.tau!r} (dt/τ ≤ 1 keeps the "
                             "discretised leak (1 − dt/τ) non-negative)")
        return self


PAPER_TASKS: dict[str, tuple[str, dict[str, float]]] = {
    "2AF": ("PerceptualDecisionMaking-v0", {"fixation": 0, "stimulus": 700, "delay": 0, "decision": 100}),
    "DMS": ("DelayMatchSample-v0", {"fixation": 0, "sample": 100, "delay": 500, "test": 100, "decision": 100}),
    "CXT": ("ContextDecisionMaking-v0", {"fixation": 0, "stimulus": 200, "delay": 500, "decision": 100}),
}


@functools.lru_cache(maxsize=1)
def neurogym_envs() -> tuple[str, ...]:
    """Every environment id the installed neurogym provides."""
    neurogym_module()
    from neurogym.envs.registration import ALL_ENVS
    return tuple(ALL_ENVS)


class NeuroTask(_Section):
    """neurogym trials for the RNN: ``env`` an alias (2AF, DMS, CXT: the paper's task and timing) or
    any neurogym id; ``timing`` (ms per period) overrides the alias's; every trial must last the same
    number of steps. ``n_train`` training trials (mini-batches are drawn from them), ``n_test`` test
    trials, the first of which form the fixed probe set."""

    name: Literal["neuro"] = "neuro"
    env: str = Field("2AF", max_length=100, description="2AF | DMS | CXT | a neurogym environment id")
    timing: dict[str, real(0, 1e7)] | None = Field(
        None, max_length=20, description="ms per trial period (null: the alias's paper timing, or neurogym's)")
    dt: real(1e-3, 1e6) = Field(100.0, description="time step (ms)")
    n_train: integer(1, COUNT_MAX) = 3200
    n_test: integer(1, COUNT_MAX) = 320
    seed: SEED = Field(0, description="seed of the trial streams (test and train)")

    @model_validator(mode="after")
    def _check(self) -> NeuroTask:
        if self.env in PAPER_TASKS:
            return self
        known = neurogym_envs()
        if self.env not in known:
            hint = did_you_mean(self.env, list(PAPER_TASKS) + list(known))
            raise ValueError(f"task.env = {short(self.env)}: not a neurogym task{hint}; allowed: "
                             f"{', '.join(PAPER_TASKS)} or one of neurogym's {len(known)} ids "
                             f"({', '.join(known[:4])}, …)")
        return self

    def resolved(self) -> tuple[str, dict[str, float] | None]:
        """(neurogym id, timing or None for the environment's own)."""
        env_id, timing = PAPER_TASKS.get(self.env, (self.env, None))
        return env_id, (dict(self.timing) if self.timing is not None else timing)


class SeqDigitsTask(_Section):
    """Row-by-row 8×8 digits: 8 frames of 8 pixels, 10 classes."""

    name: Literal["seq_digits"] = "seq_digits"
    n_train: integer(1, COUNT_MAX) = 1000
    n_test: integer(1, COUNT_MAX) = 797
    seed: SEED = Field(0, description="seed of the random train/test selection")


for _kind, _name, _cls in (("model", "rnn", RNNModel), ("task", "neuro", NeuroTask),
                           ("task", "seq_digits", SeqDigitsTask)):
    register_section(_kind, _name, _cls)
