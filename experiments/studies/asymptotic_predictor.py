"""Grokking-time predictor (grokscope.theory.asymptotic.crossing_times) against simulation on the Fig 3(e) grids.

Grid and settings from src/grokscope/specs/fig3e.yaml (config/specs after the restructure): α ∈ lin[0.4, 5.6],
ε ∈ lin[0.02, 0.28]; quick: 5 × 5 at D = 20, P = 110, η₀ = 4, 6 000 steps; full: 14 × 14 at D = 100, P = 550,
η₀ = 20, 110 000 steps (--stride k keeps every k-th α and ε). Simulations: reduced engine through the public API,
--init infinite (the theory's N → ∞, default) or sampled (N = 50 quick / 500 full, as the spec), centred, events
on the exact population test loss, early stop once both crossings of θ = 0.1 are in and t ≥ 2 × the later one.
Scores over the cells where both simulation and prediction cross: Spearman rank correlation of t_test(θ) and of
the grokking amount max(0, t_test − t_train), and the median / 90th percentile of |log(pred/sim)| for t_test,
t_train and the amount (cells with a zero amount on either side are left out of the amount's log ratio).

    OMP_NUM_THREADS=1 python experiments/studies/asymptotic_predictor.py --grid quick
    OMP_NUM_THREADS=1 python experiments/studies/asymptotic_predictor.py --grid full --stride 2 --max-steps 20000
    # the whole 14 × 14 grid from two processes sharing the cache, then the scores (all cells cached)
    for k in 0 1; do OMP_NUM_THREADS=1 python experiments/studies/asymptotic_predictor.py --grid full \
        --max-steps 20000 --shard $k/2 & done; wait
    OMP_NUM_THREADS=1 python experiments/studies/asymptotic_predictor.py --grid full --max-steps 20000 --out full.csv
    # disputed cells (simulation never by 20 000 steps, theory crosses) rerun to the spec's 110 000 steps
    for k in 0 1; do OMP_NUM_THREADS=1 python experiments/studies/asymptotic_predictor.py --recheck full.csv \
        --shard $k/2 & done; wait
    OMP_NUM_THREADS=1 python experiments/studies/asymptotic_predictor.py --gamma-scan   # error vs P/D (doc §6)

Simulations are cached under --cache; rerunning recomputes only the predictions.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from grokscope.theory.asymptotic import crossing_times, escape_budget

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asymptotic_convergence import label_moments, simulate  # noqa: E402

GRIDS = {"quick": {"D": 20, "P": 110, "N": 50, "eta": 4.0, "steps": 6000, "num": 5},
         "full": {"D": 100, "P": 550, "N": 500, "eta": 20.0, "steps": 110_000, "num": 14}}


def first_cross(step: np.ndarray, v: np.ndarray, th: float) -> float:
    hit = np.nonzero(v <= th)[0]
    return float(step[hit[0]]) if hit.size else math.inf


def scores(df: pd.DataFrame) -> dict[str, float]:
    both = df[np.isfinite(df.sim_t_test) & np.isfinite(df.pred_t_test)]
    out = {"cells": len(df), "cells_both_cross": len(both)}
    for k in ("t_test", "t_train", "amount"):
        s, p = both[f"sim_{k}"], both[f"pred_{k}"]
        out[f"spearman_{k}"] = float(s.rank().corr(p.rank()))
        ok = (s > 0) & (p > 0)
        lr = np.abs(np.log(p[ok] / s[ok]))
        out[f"median_abs_log_{k}"] = float(np.median(lr)) if len(lr) else math.nan
        out[f"p90_abs_log_{k}"] = float(np.quantile(lr, 0.9)) if len(lr) else math.nan
        out[f"median_log_ratio_{k}"] = float(np.median(np.log(p[ok] / s[ok]))) if len(lr) else math.nan
    return out


def gamma_scan(cache: Path, D: int = 60, alpha: float = 2.0, eps: float = 0.1, gammas=(3, 5.5, 10, 20),
               seeds: int = 2, steps: int = 6000, th: float = 0.1) -> None:
    """Seed-mean crossing times, simulated and predicted, along the sample ratio γ at fixed (D, α, ε), η₀ = 0.2D."""
    eta = 0.2 * D
    print("gamma     P  P/D2 | sim t_train  t_test | pred t_train  t_test | log(pred/sim) train  test")
    for g in gammas:
        P, rows = int(g * D), []
        for s in range(seeds):
            sim = simulate(D, P, alpha, eps, eta, steps, s, lpd=100, early_stop=2.0, cache=cache)
            st, tr, te = sim["step"], sim["train_loss"], sim["test_loss_exact"]
            ty, _ = label_moments(D, P, s, float(tr[0]))
            p = crossing_times(alpha, eps, D, P, eta, (th,), max_steps=steps, rho=math.sqrt(4 * te[0] / 3),
                               train_y=ty)[th]
            rows.append((first_cross(st, tr, th), first_cross(st, te, th), p["t_train"], p["t_test"]))
        m = np.mean(rows, axis=0)
        with np.errstate(divide="ignore"):
            lr = np.log(m[2:] / m[:2])
        print(f"{g:5} {P:5} {P / (D * (D + 1) / 2 - 1):5.2f} | {m[0]:11.0f} {m[1]:7.0f} | {m[2]:12.0f} {m[3]:7.0f} | "
              f"{lr[0]:+19.2f} {lr[1]:+5.2f}", flush=True)


def recheck(csv: Path, n: int, shard: tuple[int, int], cache: Path, seed: int, init: str, th: float) -> None:
    """The disputed cells of a capped full-grid CSV (the simulation does not cross θ by the cap, the
    theory does): n of them, evenly spaced in αε, simulated again to the full grid's 110 000 steps."""
    g = GRIDS["full"]
    df = pd.read_csv(csv)
    d = df[np.isinf(df.sim_t_test) & np.isfinite(df.pred_t_test)].assign(ae=lambda x: x.alpha * x.eps)
    d = d.sort_values("ae")
    pick = d.iloc[np.unique(np.linspace(0, len(d) - 1, n).round().astype(int))]
    print(f"{len(d)} disputed cells; rechecking {len(pick)} to {g['steps']} steps")
    for i, r in enumerate(pick.itertuples()):
        if i % shard[1] != shard[0]:
            continue
        s = simulate(g["D"], g["P"], float(r.alpha), float(r.eps), g["eta"], g["steps"], seed, init=init, N=g["N"],
                     lpd=100, early_stop=2.0, cache=cache)
        st, te = s["step"], s["test_loss_exact"]
        print(f"α={r.alpha:.2f} ε={r.eps:.3f} αε={r.ae:.3f}  sim t_test {first_cross(st, te, th):>7.0f} "
              f"(test loss at {st[-1]:.0f}: {te[-1]:.3g}) | pred t_test {r.pred_t_test:>6.0f}  "
              f"(sim {float(s['wall_s']):.0f}s)", flush=True)


def shard(text: str) -> tuple[int, int]:
    """argparse type of --shard: 'K/N' with 0 ≤ K < N."""
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected K/N, e.g. 0/2") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: needs 0 ≤ K < N")
    return k, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", choices=sorted(GRIDS), default="quick")
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--shard", type=shard, default=(0, 1), help="K/N: simulate only every N-th α from the K-th (fill the cache "
                    "from N processes; scores are only printed for 0/1)")
    ap.add_argument("--init", choices=["infinite", "sampled"], default="infinite")
    ap.add_argument("--theta", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-steps", type=int, default=None,
                    help="cap the simulated horizon (default: the spec's); crossings later than it count as never")
    ap.add_argument("--cache", type=Path, default=Path("runs/asymptotic-predictor"))
    ap.add_argument("--out", type=Path, default=None, help="CSV of the cells (and a .json of the scores)")
    ap.add_argument("--gamma-scan", action="store_true", help="theory error along γ = P/D instead of a grid")
    ap.add_argument("--recheck", type=Path, default=None, metavar="CSV",
                    help="rerun --recheck-n disputed cells of a capped full-grid CSV to the full horizon")
    ap.add_argument("--recheck-n", type=int, default=10)
    a = ap.parse_args()
    k, n = a.shard
    if a.recheck:
        recheck(a.recheck, a.recheck_n, (k, n), a.cache, a.seed, a.init, a.theta)
        return
    if a.gamma_scan:
        gamma_scan(a.cache)
        return
    g = GRIDS[a.grid]
    alphas = np.linspace(0.4, 5.6, g["num"])[::a.stride][k::n]
    epss = np.linspace(0.02, 0.28, g["num"])[::a.stride]
    D, P, eta, th = g["D"], g["P"], g["eta"], a.theta
    T = a.max_steps or g["steps"]
    rows, t0, t_sim, t_pred = [], time.perf_counter(), 0.0, 0.0
    for al in alphas:
        for ep in epss:
            s = simulate(D, P, float(al), float(ep), eta, T, a.seed, init=a.init, N=g["N"], lpd=100,
                         early_stop=2.0, cache=a.cache)
            t_sim += float(s["wall_s"])
            rho = math.sqrt(4 * float(s["test_loss_exact"][0]) / 3)
            ty, _ = label_moments(D, P, a.seed, float(s["train_loss"][0]))
            t1 = time.perf_counter()
            p = crossing_times(float(al), float(ep), D, P, eta, (th,), max_steps=T, rho=rho, train_y=ty)[th]
            t_pred += time.perf_counter() - t1
            st, tr, te = s["step"], s["train_loss"], s["test_loss_exact"]
            r = {"alpha": al, "eps": ep, "sim_t_train": first_cross(st, tr, th), "sim_t_test": first_cross(st, te, th),
                 "pred_t_train": p["t_train"], "pred_t_test": p["t_test"],
                 "escape_margin": escape_budget(float(al), float(ep), D, P, rho=rho)["margin"],
                 "sim_last_step": float(st[-1])}
            for k in ("sim", "pred"):
                tt, tv = r[f"{k}_t_train"], r[f"{k}_t_test"]
                r[f"{k}_amount"] = max(0.0, tv - tt) if math.isfinite(tt) and math.isfinite(tv) else math.inf
            rows.append(r)
            print(f"α={al:.2f} ε={ep:.3f}  sim t_train {r['sim_t_train']:>7.0f} t_test {r['sim_t_test']:>7.0f} | "
                  f"pred {r['pred_t_train']:>7.0f} {r['pred_t_test']:>7.0f}  (sim {float(s['wall_s']):.1f}s)", flush=True)
    df = pd.DataFrame(rows)
    if n > 1:
        return
    sc = {**scores(df), "grid": a.grid, "stride": a.stride, "init": a.init, "theta": th, "max_steps": T,
          "sim_never_crosses_test": int(np.isinf(df.sim_t_test).sum()),
          "pred_never_crosses_test": int(np.isinf(df.pred_t_test).sum()),
          "sim_wall_s": t_sim, "pred_wall_s": t_pred, "wall_s": time.perf_counter() - t0}
    print(json.dumps(sc, indent=1))
    if a.out:
        df.to_csv(a.out, index=False)
        a.out.with_suffix(".json").write_text(json.dumps(sc, indent=1))


if __name__ == "__main__":
    main()
