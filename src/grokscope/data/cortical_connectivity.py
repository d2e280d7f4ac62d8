"""Generate ``cortical_w_rec_300.npz``: a 300 × 300 recurrent matrix drawn from a statistical MODEL of
cortical connectivity. It is not measured data; it is a random draw from the model below, for the
``init.recurrent.kind = file`` path (Liu et al. 2024 also start from connectivity taken from data).

Model (one draw, numpy seed 2024):
  * cell types: 80 % excitatory (E, 240 cells) and 20 % inhibitory (I, 60 cells), in blocks;
  * sparse, block-structured connection probabilities p[post, pre]: E→E 0.10, E→I 0.30, I→E 0.40,
    I→I 0.35 (the order of magnitude reported by paired-recording surveys of mouse/rat cortex);
  * heavy-tailed weights: each existing synapse has a log-normal magnitude (σ_log = 1.0, so a few strong
    synapses carry much of the input), scaled per block so that the mean inhibitory input to a cell
    is 1.2× its mean excitatory input (inhibition-dominated balance);
  * Dale's law: a presynaptic cell's outgoing weights share its sign (columns E ≥ 0, I ≤ 0);
  * no autapses; finally the matrix is rescaled to the Frobenius norm of the paper's Gaussian
    initialisation, 1.25·√N (E‖1.25·N(0, 1)/√N‖_F² = 1.25²·N), so runs compare structure, not scale.
Run ``python src/grokscope/data/cortical_connectivity.py`` to rewrite the file (deterministic).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

N, FRAC_E, SEED, SIGMA_LOG, GAIN, INH_RATIO = 300, 0.8, 2024, 1.0, 1.25, 1.2
P_CONN = {("E", "E"): 0.10, ("I", "E"): 0.30, ("E", "I"): 0.40, ("I", "I"): 0.35}  # (post, pre)


def cortical_matrix(n: int = N, seed: int = SEED) -> np.ndarray:
    """One draw of the model (module docstring), (n, n) float64; W[i, j] is the synapse j → i."""
    rng = np.random.default_rng(seed)
    n_e = int(round(FRAC_E * n))
    kind = np.array(["E"] * n_e + ["I"] * (n - n_e))
    p = np.vectorize(lambda post, pre: P_CONN[(post, pre)])(kind[:, None], kind[None, :])
    mask = rng.random((n, n)) < p
    np.fill_diagonal(mask, False)
    mag = rng.lognormal(mean=0.0, sigma=SIGMA_LOG, size=(n, n)) * mask
    exc, inh = kind == "E", kind == "I"
    mean_e = mag[:, exc].sum(axis=1).mean()  # mean total excitatory input per cell
    mean_i = mag[:, inh].sum(axis=1).mean()
    W = np.where(exc[None, :], mag, -mag * (INH_RATIO * mean_e / mean_i))
    return W * (GAIN * np.sqrt(n) / np.linalg.norm(W))


if __name__ == "__main__":
    out = Path(__file__).with_name("cortical_w_rec_300.npz")
    W = cortical_matrix()
    np.savez_compressed(out, W=W)  # one array: config/arrays.py reads it
    print(f"wrote {out}: shape {W.shape}, density {np.mean(W != 0):.3f}, ‖W‖_F {np.linalg.norm(W):.4f}")
