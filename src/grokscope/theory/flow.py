"""Gradient-flow limit (η → 0 at fixed τ = η t) of the closed (w̄, M) dynamics, integrated by an
adaptive, error-controlled Dormand–Prince 5(4) Runge–Kutta method (no scipy: tested against
``scipy.integrate.solve_ivp`` RK45/DOP853 to 1e-10, and faster than it per right-hand side
evaluation on these problems, see benchmarks/bench_flow.py).

In step units t (so a flow time t compares with GD step t; τ = η t), with c = 2ηα/N and the
moments s = E_ρ[r x], A = E_ρ[r x xᵀ] of the train set (or of the population):

    dw̄/dt = −c (s + εA w̄),   dM/dt = −c (ε(AM + MA) + s w̄ᵀ + w̄ sᵀ).

Discrete GD is the Euler step of this flow plus the O(c²) terms c²(εA w̄ sᵀ + ε s w̄ᵀA + s sᵀ + ε² A M A);
over a fixed number of steps t the two differ by O(c) (relative), i.e. ∝ η.

Error control (Hairer–Nørsett–Wanner II.4): per step err = RMS_i(e_i / (atol + rtol·max(|y_i|, |ŷ_i|)))
with e the difference of the embedded 5th/4th-order solutions; a step is accepted when err ≤ 1 and the
next step is h·min(5, max(0.2, 0.9·err^(−1/5))). Requested output times are hit exactly (steps are
clipped to them), so outputs carry the local-error guarantee, not an interpolation error.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch

from grokscope.theory.closed import ClosedDynamics

Tensor = torch.Tensor
F64 = torch.float64

# Dormand–Prince 5(4) tableau (FSAL: the 7th stage is the derivative at the new point).
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)  # b5 − b4


def _initial_step(f: Callable[[float, Tensor], Tensor], t0: float, y0: Tensor, f0: Tensor,
                  rtol: float, atol: float) -> float:
    """Hairer's starting-step heuristic for a 5th-order method."""
    scale = atol + rtol * y0.abs()
    d0 = float(torch.sqrt(((y0 / scale) ** 2).mean()))
    d1 = float(torch.sqrt(((f0 / scale) ** 2).mean()))
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    f1 = f(t0 + h0, y0 + h0 * f0)
    d2 = float(torch.sqrt((((f1 - f0) / scale) ** 2).mean())) / h0
    h1 = max(1e-6, h0 * 1e-3) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** 0.2
    return min(100 * h0, h1)


def dopri5(f: Callable[[float, Tensor], Tensor], y0: Tensor, t_eval: Sequence[float], t0: float = 0.0,
           rtol: float = 1e-8, atol: float = 1e-12, h0: float | None = None,
           max_steps: int = 1_000_000) -> tuple[Tensor, dict[str, int]]:
    """Integrate dy/dt = f(t, y) from (t0, y0) and return y at the sorted times ``t_eval`` ≥ t0.

    y0: 1-D float64 tensor (n,). Returns (Y (T, n), stats {steps, rejected, fev}).
    """
    times = [float(t) for t in t_eval]
    if any(b < a for a, b in itertools.pairwise(times)) or (times and times[0] < t0):
        raise ValueError("dopri5: t_eval must be sorted and ≥ t0")
    y = y0.to(F64).clone()
    t = float(t0)
    k1 = f(t, y)
    stats = {"steps": 0, "rejected": 0, "fev": 1}
    h = h0 if h0 is not None else _initial_step(f, t, y, k1, rtol, atol)
    stats["fev"] += 1
    out = []
    j = 0
    while j < len(times) and times[j] <= t:
        out.append(y.clone())
        j += 1
    while j < len(times):
        if stats["steps"] + stats["rejected"] >= max_steps:
            raise RuntimeError(f"dopri5: more than {max_steps} steps before t = {times[j]} (at t = {t})")
        t_next = times[j]
        clipped = t + h >= t_next
        step = t_next - t if clipped else h
        ks = [k1]
        for i in range(1, 7):
            yi = y + step * sum(a * k for a, k in zip(_A[i], ks) if a != 0.0)
            ks.append(f(t + _C[i] * step, yi))
        stats["fev"] += 6
        y_new = yi  # the 7th stage point is the 5th-order solution
        err_vec = step * sum(e * k for e, k in zip(_E, ks) if e != 0.0)
        scale = atol + rtol * torch.maximum(y.abs(), y_new.abs())
        err = float(torch.sqrt(((err_vec / scale) ** 2).mean()))
        if not math.isfinite(err):
            h = step * 0.2
            stats["rejected"] += 1
            continue
        if err <= 1.0:
            t = t_next if clipped else t + step
            y, k1 = y_new, ks[6]
            stats["steps"] += 1
            while j < len(times) and times[j] <= t:
                out.append(y.clone())
                j += 1
            factor = 5.0 if err == 0 else min(5.0, max(0.2, 0.9 * err ** -0.2))
            h = max(h, step) * factor if not clipped else max(h, step * factor)
        else:
            stats["rejected"] += 1
            h = step * max(0.2, 0.9 * err ** -0.2)
    return torch.stack(out) if out else torch.empty(0, y.numel(), dtype=F64), stats


def _pack(wbar: Tensor, M: Tensor) -> Tensor:
    return torch.cat([wbar, M.reshape(-1)])


def _unpack(y: Tensor, D: int) -> tuple[Tensor, Tensor]:
    return y[:D], y[D:].reshape(D, D)


def flow(dyn: ClosedDynamics, times: Sequence[float],
         losses: Callable[[Tensor, Tensor], dict[str, float]], rtol: float = 1e-9, atol: float = 1e-12,
         wbar: Tensor | None = None, M: Tensor | None = None) -> dict[str, object]:
    """Gradient flow of ``dyn`` (empirical or population moments) from (w̄₀, M₀); ``losses`` at ``times``
    (step units, sorted). Returns {"step": times, <metric>: [...], "wbar", "M" (final), "stats"}."""
    wbar = dyn.wbar0 if wbar is None else wbar
    M = dyn.M0 if M is None else M
    D = wbar.shape[0]

    def rhs(_t: float, y: Tensor) -> Tensor:
        dw, dM = dyn.velocity(*_unpack(y, D))
        return _pack(dw, dM)

    Y, stats = dopri5(rhs, _pack(wbar, M), times, rtol=rtol, atol=atol)
    out: dict[str, list] = {"step": [float(t) for t in times]}
    for y in Y:
        for k, v in losses(*_unpack(y, D)).items():
            out.setdefault(k, []).append(v)
    w_end, M_end = _unpack(Y[-1], D)
    return {**out, "wbar": w_end, "M": M_end, "stats": stats}
