"""Progress measures (Nanda et al. 2023) read from a transformer or MLP run on a + b mod p.

Uses the pure functions of :mod:`grokscope.diagnostics.progress` on
  W_E  the token embedding rows of 0..p−1 (the '=' row dropped), (p, d_model); for an MLP on one-hot
       pairs [e_a, e_b] the first layer's columns of a and of b side by side, [W0[:, :p]ᵀ, W0[:, p:]ᵀ], (p, 2N);
  L    the run's scaled outputs f̃ = α(f − f₀) (or αf) over all p² pairs, row-major a·p + b, (p², p),
       assembled from the engine's train and test read-outs (no extra forward pass);
  y    the labels over all pairs (p²,), and the training mask (p²,).
Metrics (key frequencies K = the ``N_KEY`` largest-energy frequencies of W_E, recomputed each probe):
  fourier_gini     Gini coefficient of W_E's Fourier-basis norms (rises as the embedding goes sparse)
  key_freq_energy  fraction of W_E's energy on K
  restricted_loss  cross-entropy (MSE on one-hot targets for mse runs) of L projected on cos/sin(w_k(a+b)), k ∈ K (+ the reference's bias
                   correction), over all pairs
  excluded_loss    cross-entropy of L with those components removed, over the training pairs
"""
from __future__ import annotations

from typing import Any

import torch

from grokscope.diagnostics import progress as pg
from grokscope.numerics.losses import MSE

N_KEY = 5  # Nanda et al. report 5 key frequencies for p = 113
METRICS = ("fourier_gini", "key_freq_energy", "restricted_loss", "excluded_loss")


def supports(cfg: Any) -> str | None:
    """None if a config has what the measures need, else the reason."""
    from grokscope.models.registry import supports as model_supports
    from grokscope.tasks.base import task_supports
    if not task_supports(cfg.task, "modular_addition"):
        return "needs task.name = modular with op = add (the Fourier algorithm of a + b)"
    if not model_supports(cfg.model, "progress"):
        return "needs model.name = transformer (its token embedding W_E) or an mlp with a hidden layer"
    return None


def embedding(params: dict[str, torch.Tensor], p: int) -> torch.Tensor:
    """W_E (p, ·): the transformer's token embedding, or an MLP's first-layer columns for a and b."""
    if "W_E" in params:
        return params["W_E"][:p]
    W0 = params["W0"]  # (N, 2p): columns 0..p−1 read e_a, p..2p−1 read e_b
    return torch.cat([W0[:, :p].T, W0[:, p:].T], dim=1)


def _grid(ctx: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row index of each train pair, of each test pair, labels (p²,), train mask (p²,)), cached."""
    if ctx.cache.progress_grid is None:
        d = ctx.data
        p = d.meta["p"]
        dev = d.y_train.device
        i_tr = (d.meta["pairs_train"][:, 0] * p + d.meta["pairs_train"][:, 1]).to(dev)
        i_te = (d.meta["pairs_test"][:, 0] * p + d.meta["pairs_test"][:, 1]).to(dev)

        def lab(y: torch.Tensor) -> torch.Tensor:
            return y.argmax(1) if y.is_floating_point() else y.long()

        y = torch.empty(p * p, dtype=torch.int64, device=dev)
        y[i_tr], y[i_te] = lab(d.y_train), lab(d.y_test)
        mask = torch.zeros(p * p, dtype=torch.bool, device=dev)
        mask[i_tr] = True
        ctx.cache.progress_grid = (i_tr, i_te, y, mask)
    return ctx.cache.progress_grid


def all_pair_outputs(ctx: Any) -> torch.Tensor:
    """f̃ over all p² pairs, row-major, (p², p), from the engine's train and test read-outs."""
    i_tr, i_te, _, _ = _grid(ctx)
    f_tr, f_te = ctx.engine.outputs("train"), ctx.engine.outputs("test")
    p = ctx.data.meta["p"]
    L = f_tr.new_empty(p * p, f_tr.shape[1])
    L[i_tr], L[i_te] = f_tr, f_te
    return L


def progress_metrics(ctx: Any) -> dict[str, float]:
    p = ctx.data.meta["p"]
    W_E = embedding(ctx.engine.params, p).detach().to(torch.float64)
    freqs = pg.key_frequencies(W_E, n=min(N_KEY, p // 2))
    energy = pg.embedding_spectrum(W_E)
    L = all_pair_outputs(ctx).to(torch.float64)
    _, _, y, mask = _grid(ctx)
    loss = None
    if getattr(ctx.loss, "name", None) == "mse" or ctx.data.y_train.is_floating_point():
        loss, y = MSE(), torch.nn.functional.one_hot(y, p).to(torch.float64)
    return {"fourier_gini": pg.gini(pg.fourier_norms(W_E)),
            "key_freq_energy": float(energy[freqs].sum()),
            "restricted_loss": pg.restricted_loss(L, y, p, freqs, loss=loss),
            "excluded_loss": pg.excluded_loss(L, y, p, freqs, mask=mask, loss=loss)}
