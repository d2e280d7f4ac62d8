"""Empirical NTK of 1000 test points (test×test block) for the Figure-1 network, structured vs generic.

Network: committee D=100, N=500, φ(h) = h + (ε/2)h², ε=0.02, α=1, fixed readouts, float64.
Baseline ("generic"): torch.func per-example Jacobians vmap(jacrev) (n × N·D = 1000 × 50 000)
contracted J Jᵀ, chunked at ≈ 256 MiB, measured in the same process. Rows:
  structured-closed  (XXᵀ) ⊙ (Z B Zᵀ), z = (1, x), α²/N folded into B: FLOPs 2n²D + 2n(D+1)² + 2n²(D+1) + n²
  structured-gram    (XXᵀ) ⊙ (G Gᵀ), G = (α/N) a ⊙ φ'(XWᵀ): FLOPs 2nND + 2n²D + 2n²N + 2n²
  generic            FLOPs of the contraction alone, 2n²·ND (the Jacobian build is extra)
GFLOP/s is against the float64 matmul ceiling (benchmarks/common.py) of the same run.
``--device cuda`` runs it on a GPU.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import best_time, matmul_ceiling, report

from grokscope.diagnostics.ntk import _committee_ntk, ntk
from grokscope.models.committee import Committee

D, N, n, EPS, ALPHA = 100, 500, 1000, 0.02, 1.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    dev = ap.parse_known_args()[0].device
    dtype = torch.float64
    g = torch.Generator().manual_seed(0)
    model = Committee(N, D, "quadratic", eps=EPS)
    params = {k: v.to(dev) for k, v in model.init(g).items()}
    X = (torch.randn(n, D, generator=g, dtype=dtype) / D**0.5).to(dev)

    def sync() -> None:
        if dev.startswith("cuda"):
            torch.cuda.synchronize()

    def run(fn):
        def call() -> torch.Tensor:
            out = fn()
            sync()
            return out
        return call

    closed = run(lambda: ntk(model, params, X, alpha=ALPHA, method="structured"))
    gram = run(lambda: _committee_ntk(model, params, X, None, ALPHA, ("W",), form="gram"))
    generic = run(lambda: ntk(model, params, X, alpha=ALPHA, method="generic"))

    K_ref = generic()
    err = {name: float(torch.linalg.matrix_norm(f() - K_ref) / torch.linalg.matrix_norm(K_ref))
           for name, f in (("structured-closed", closed), ("structured-gram", gram))}
    t_gen = best_time(generic, repeat=2, warmup=0)
    t_closed = best_time(closed, repeat=40)
    t_gram = best_time(gram, repeat=40)
    ceil = matmul_ceiling(dtype, dev)
    flops = {"structured-closed": 2 * n * n * D + 2 * n * (D + 1) ** 2 + 2 * n * n * (D + 1) + n * n,
             "structured-gram": 2 * n * N * D + 2 * n * n * D + 2 * n * n * N + 2 * n * n,
             "generic": 2 * n * n * N * D}
    rows = []
    for name, t in (("structured-closed", t_closed), ("structured-gram", t_gram), ("generic", t_gen)):
        gf = flops[name] / t / 1e9
        rows.append({"method": name, "device": dev, "ms": t * 1e3, "speedup_vs_generic": t_gen / t,
                     "rel_err_vs_generic": err.get(name, 0.0), "GFLOP/s": gf, "ceiling_GFLOP/s": ceil,
                     "pct_of_ceiling": 100 * gf / ceil})
    report(f"NTK test×test block, n={n}, Figure-1 network (D={D}, N={N}, quadratic φ, ε={EPS}, "
           f"α={ALPHA}, float64)", rows)


if __name__ == "__main__":
    main()
