"""Lazy-vs-rich read-outs of a run: the K₀ kernel-regression baseline and the laziness summary.

K₀ baseline: ridgeless kernel regression with the initial NTK — the t → ∞ limit of the
linearised twin, i.e. what a perfectly lazy network would reach (paper Fig 1's horizontal line).
For an uncentred run the kernel fits the residual y − f̃₀ and f̃₀ is added back, so the baseline is
that run's own lazy limit (for centred runs f̃₀ = 0 and it is the paper's K₀ regression of y).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from grokscope.diagnostics.kernels import kernel_regression


def k0_baseline(K_train: Any, K_test_train: Any, f0_train: Any, f0_test: Any, y_train: Any, y_test: Any,
                ridge: float = 0.0) -> dict[str, Any]:
    """Train/test MSE of kernel regression with K₀ (train block (P, P), test×train block (P_test, P))
    on y − f̃₀; condition number; a warning if ill-conditioned."""
    fit = kernel_regression(K_train, K_test_train, y_train - f0_train, y_test - f0_test, ridge=ridge)
    out = {"train_mse": float(fit.train_mse), "test_mse": float(fit.test_mse), "cond": float(fit.cond),
           "method": fit.method, "ridge": ridge, "ill_conditioned": bool(fit.ill_conditioned)}
    if fit.warning:
        out["warning"] = fit.warning
    return out


def departure_step(df: pd.DataFrame, threshold: float) -> int | None:
    """First logged step where the network's train or test loss departs from its linearised
    twin's by more than ``threshold`` relative: |L − L_lin|/L_lin > threshold."""
    for col in ("train_loss", "test_loss"):
        if f"lin_{col}" not in df:
            return None
    net = df[["train_loss", "test_loss"]].to_numpy(float)
    lin = df[["lin_train_loss", "lin_test_loss"]].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(net - lin) / np.abs(lin)
    hit = np.nonzero(np.where(np.isfinite(rel), rel, -np.inf).max(axis=1) > threshold)[0]
    return int(df["step"].iloc[hit[0]]) if hit.size else None


def laziness_summary(df: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """Departure step from the twin, final kernel distance and parameter change, and a verdict."""
    out: dict[str, Any] = {"departure_threshold": threshold}
    last = df.iloc[-1]
    for col in ("kernel_distance", "param_change"):
        if col in df and df[col].notna().any():
            out[f"final_{col}"] = float(df[col].dropna().iloc[-1])
    if "lin_train_loss" not in df:
        return out
    t = departure_step(df, threshold)
    out["departure_step"] = t
    steps = int(last["step"])
    if t is None:
        out["verdict"] = f"lazy throughout: stayed within {threshold:g} of its linearised twin for {steps} steps"
    elif t == 0 or t <= 1:
        out["verdict"] = "rich from the start: departed from its linearised twin at once"
    else:
        out["verdict"] = f"lazy until step {t}, then rich"
    return out
