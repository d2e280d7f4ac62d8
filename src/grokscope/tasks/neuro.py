"""Cognitive tasks for the rate RNN through neurogym (Liu et al., ICLR 2024; neighbors.md §5).

Each trial is T frames u_t ∈ R^{n_in} at step dt with per-step labels g_t (0 = fixate); the dataset
holds X (P, T·n_in) (frames time-major, flattened; models/rnn.py reads them back as (P, T, n_in)),
y (P,) the label at the last step (the decision), and ``meta``: n_in, seq_len = T, env id, timing
and the full label sequences ``gt_train``/``gt_test`` (P, T). The paper's three tasks, by alias:
  2AF  PerceptualDecisionMaking-v0  fixation 0, stimulus 700, delay 0, decision 100 ms
  DMS  DelayMatchSample-v0          fixation 0, sample 100, delay 500, test 100, decision 100 ms
  CXT  ContextDecisionMaking-v0     fixation 0, stimulus 200, delay 500, decision 100 ms
at dt = 100 ms: T = 8 steps each (the authors' main.py), observation noise at neurogym's default.
Trials are drawn one by one (``env.new_trial``) from environments seeded from ``task.seed`` through
numpy's SeedSequence, a test stream and a train stream, so a batch is reproducible and the first
test trials — the fixed probe set of the laziness measures — do not depend on ``n_train``.
neurogym is optional (extra ``neuro``) and imported only here and in the config check.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from grokscope.config.limits import short
from grokscope.config.neural_sections import NeuroTask, neurogym_module
from grokscope.config.sections import ConfigError
from grokscope.tasks.base import Dataset, register_task


def _stream_seed(seed: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def draw_trials(cfg: NeuroTask, n: int, stream: int) -> tuple[np.ndarray, np.ndarray]:
    """n trials of one seeded stream: observations (n, T, n_in) and labels (n, T)."""
    ngym = neurogym_module()
    env_id, timing = cfg.resolved()
    kwargs: dict[str, Any] = {"dt": cfg.dt} | ({"timing": timing} if timing is not None else {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            env = ngym.make(env_id, **kwargs).unwrapped
        except Exception as exc:  # neurogym rejects the timing keys or values
            raise ConfigError(f"task.timing = {short(timing)}: neurogym's {env_id} refused it "
                              f"({type(exc).__name__}: {short(str(exc))})") from None
        env.seed(_stream_seed(cfg.seed, stream))
        obs, gts = [], []
        for i in range(n):
            env.new_trial()
            ob, gt = np.asarray(env.ob, dtype=np.float64), np.asarray(env.gt, dtype=np.int64)
            if obs and ob.shape != obs[0].shape:
                raise ConfigError(f"task.env = {cfg.env!r}: trial {i} lasts {ob.shape[0]} steps, trial 0 "
                                  f"{obs[0].shape[0]}; the RNN needs fixed durations: set task.timing to "
                                  f"constant ms per period (got {short(timing)})")
            obs.append(ob)
            gts.append(gt)
    return np.stack(obs), np.stack(gts)


def _classes(cfg: NeuroTask) -> int:
    ngym = neurogym_module()
    env_id, timing = cfg.resolved()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = ngym.make(env_id, dt=cfg.dt, **({"timing": timing} if timing is not None else {}))
    return int(env.action_space.n)


def _memory(cfg: Any) -> tuple[int, str] | None:
    t = cfg.task
    return 8 * 2 * (t.n_train + t.n_test) * 64, "reduce task.n_train or task.n_test"


@register_task("neuro", NeuroTask, lambda cfg: frozenset({"classes"}), memory=_memory)
def build_neuro(cfg: NeuroTask) -> Dataset:
    """The seeded test stream (probe set first), then the train stream; labels at the last step."""
    ob_te, gt_te = draw_trials(cfg, cfg.n_test, stream=0)
    ob_tr, gt_tr = draw_trials(cfg, cfg.n_train, stream=1)
    if ob_te.shape[1:] != ob_tr.shape[1:]:
        raise ConfigError(f"task.env = {cfg.env!r}: train and test trials differ in length; set task.timing")
    T, n_in = ob_tr.shape[1:]
    env_id, timing = cfg.resolved()
    meta = {"n_in": int(n_in), "seq_len": int(T), "env": env_id, "timing": timing,
            "gt_train": torch.from_numpy(gt_tr), "gt_test": torch.from_numpy(gt_te),
            "duration_ms": float(T * cfg.dt)}
    return Dataset(torch.from_numpy(ob_tr.reshape(len(ob_tr), -1)), torch.from_numpy(gt_tr[:, -1]),
                   torch.from_numpy(ob_te.reshape(len(ob_te), -1)), torch.from_numpy(gt_te[:, -1]),
                   classes=_classes(cfg), meta=meta)
