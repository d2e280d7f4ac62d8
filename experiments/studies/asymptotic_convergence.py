"""Convergence of the simulated loss curves to the P/D = γ asymptotic theory (issue #20, docs/theory-asymptotic.md §7).

For each D in the ladder and each seed: the reduced engine at infinite width (model.init = infinite), P = γD,
η₀ = 0.2·D (so the per-step contraction 2η₀/D of the linear modes is the same for every D and the step axis is
shared), centred; then grokscope.theory.asymptotic.curves at the run's own steps, conditioned on the run's
ρ = |β|²/D (from test_loss_exact(0) = 3ρ²/4) and its train label moments (mean y, mean y², rebuilt from
the seeds and checked against train_loss(0) = mean y²).
Error of one run: sup over the logged (log-spaced) steps 1 ≤ t ≤ T of |L_sim − L_th|/L_sim, for the train
loss (only where L_sim ≥ floor·L_sim(0)) and the exact test loss. Reported: seed means and the least-squares
slope of log(error) on log(D).

    OMP_NUM_THREADS=1 python experiments/studies/asymptotic_convergence.py --config lazy
    OMP_NUM_THREADS=1 python experiments/studies/asymptotic_convergence.py --config grok --steps 3000

Simulations are cached under --cache (one .npz per run), so a rerun only recomputes the theory.
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

import grokscope
from grokscope.theory.asymptotic import curves

BASE = {"task": {"name": "polynomial", "D": 100, "P": 550, "P_test": 1000, "target": "single_index"},
        "model": {"name": "committee", "N": 500, "phi": "quadratic", "eps": 0.02},
        "scaling": {"alpha": 1.0, "centre": True, "lr_rule": "paper"},
        "optim": {"name": "gd", "lr": 1.0},
        "train": {"steps": 1000, "dtype": "float64"}}
CONFIGS = {"lazy": (1000.0, 0.3), "mid": (40.0, 0.3), "grok": (2.0, 0.1)}   # (α, ε)


def simulate(D: int, P: int, alpha: float, eps: float, eta: float, steps: int, seed: int,
             init: str = "infinite", N: int = 500, lpd: int = 40, early_stop: float | None = None,
             cache: Path | None = None) -> dict[str, np.ndarray]:
    """One reduced-engine run through the public API; returns step, train_loss, test_loss_exact, wall_s."""
    key = f"D{D}_P{P}_a{alpha:g}_e{eps:g}_eta{eta:g}_T{steps}_s{seed}_{init}_N{N}_l{lpd}_es{early_stop}"
    f = cache / f"{key}.npz" if cache else None
    if f is not None and f.exists():
        return dict(np.load(f))
    ov = {"task.D": D, "task.P": P, "task.P_test": 20, "model.N": N, "model.eps": eps, "model.init": init,
          "scaling.alpha": alpha, "optim.lr": eta, "train.steps": steps, "train.log_per_decade": lpd,
          "train.progress": False, "output.plots": False, "output.report": False,
          "task.data_seed": 3 * seed, "task.test_seed": 3 * seed + 1, "task.beta_seed": 3 * seed + 2,
          "model.seed": seed, "probes.names": ["loss", "exact_loss"], "events.test_metric": "test_loss_exact",
          "events.relative": []}
    if early_stop:
        ov["train.early_stop"] = early_stop
    cfg = grokscope.load_config(BASE, ov)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        m = grokscope.run(cfg, Path(d) / "run", quiet=True).metrics
    out = {"step": m["step"].to_numpy(), "train_loss": m["train_loss"].to_numpy(float),
           "test_loss_exact": m["test_loss_exact"].to_numpy(float), "wall_s": np.array(time.perf_counter() - t0)}
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez(f, **out)
    return out


def label_moments(D: int, P: int, seed: int, train_y2: float) -> tuple[tuple[float, float] | None, float]:
    """((mean y, mean y²) over the train set, ρ = |β|²/D), rebuilt from the task's documented draws
    (tasks/polynomial.py: X = randn(P, D)/√D from Generator(data_seed), β = randn(D) from Generator(beta_seed)).
    Self-checked against the run's train_loss(0) = mean y² (centred); on a mismatch returns (None, nan)."""
    import torch
    gx = torch.Generator().manual_seed(3 * seed)
    gb = torch.Generator().manual_seed(3 * seed + 2)
    X = torch.randn(P, D, generator=gx, dtype=torch.float64) / math.sqrt(D)
    beta = torch.randn(D, generator=gb, dtype=torch.float64)
    y = 0.5 * (X @ beta) ** 2
    m1, m2 = float(y.mean()), float((y * y).mean())
    if abs(m2 - train_y2) > 1e-9 * train_y2:
        return None, math.nan
    return (m1, m2), float(beta @ beta) / D


def run_error(sim: dict[str, np.ndarray], alpha: float, eps: float, D: int, P: int, eta: float, seed: int,
              floor: float = 0.01) -> dict[str, float]:
    """sup-over-logged-steps relative errors (train where L ≥ floor·L(0); exact test) of one run."""
    st = sim["step"].astype(int)
    rho = math.sqrt(4.0 * float(sim["test_loss_exact"][0]) / 3.0)        # E y² = 3ρ²/4 exactly
    ty, _ = label_moments(D, P, seed, float(sim["train_loss"][0]))
    th = curves(alpha, eps, D, P, eta, st, rho=rho, train_y=ty)
    sel = st >= 1
    tr, te = sim["train_loss"], sim["test_loss_exact"]
    ok = sel & (tr >= floor * tr[0])
    e_tr = float(np.max(np.abs(th["train_loss"][ok] - tr[ok]) / tr[ok]))
    e_te = float(np.max(np.abs(th["test_loss"][sel] - te[sel]) / te[sel]))
    return {"train": e_tr, "test": e_te, "both": max(e_tr, e_te)}


def slope(Ds: list[int], errs: list[float]) -> float:
    """Least-squares slope of log(err) on log(D)."""
    x, y = np.log(np.asarray(Ds, float)), np.log(np.asarray(errs, float))
    return float(np.polyfit(x, y, 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="lazy")
    ap.add_argument("--D", type=int, nargs="+", default=[25, 50, 100, 200, 400])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--gamma", type=float, default=5.5)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--cache", type=Path, default=Path("runs/asymptotic-convergence"))
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    alpha, eps = CONFIGS[a.config]
    rows, t_all = [], time.perf_counter()
    for D in a.D:
        P, eta = int(round(a.gamma * D)), 0.2 * D
        errs, walls = [], []
        for s in range(a.seeds):
            sim = simulate(D, P, alpha, eps, eta, a.steps, s, cache=a.cache)
            errs.append(run_error(sim, alpha, eps, D, P, eta, s))
            walls.append(float(sim["wall_s"]))
        row = {"D": D, "P": P, **{k: float(np.mean([e[k] for e in errs])) for k in ("train", "test", "both")},
               "sd_both": float(np.std([e["both"] for e in errs])), "sim_wall_s": float(np.sum(walls))}
        rows.append(row)
        print(f"D={D:4d} P={P:5d}  train {row['train']:.4f}  test {row['test']:.4f}  sup {row['both']:.4f} "
              f"(sd {row['sd_both']:.4f}, {a.seeds} seeds, sim {row['sim_wall_s']:.0f}s)", flush=True)
    res = {"config": a.config, "alpha": alpha, "eps": eps, "gamma": a.gamma, "steps": a.steps, "rows": rows,
           "slope_both": slope([r["D"] for r in rows], [r["both"] for r in rows]),
           "slope_train": slope([r["D"] for r in rows], [r["train"] for r in rows]),
           "slope_test": slope([r["D"] for r in rows], [r["test"] for r in rows]),
           "wall_s": time.perf_counter() - t_all}
    print(f"fitted slope d log(err)/d log(D): sup {res['slope_both']:.3f}, train {res['slope_train']:.3f}, "
          f"test {res['slope_test']:.3f}; wall {res['wall_s']:.0f}s")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
