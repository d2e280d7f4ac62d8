"""The one registry of metric names: the same column names whatever the engine."""
from __future__ import annotations

METRICS: dict[str, str] = {
    "step": "optimiser steps taken (1 step = 1 full-batch GD update = 1 epoch for full batch)",
    "train_loss": "loss of f̃ on the training set (MSE: mean over samples, no ½)",
    "test_loss": "loss of f̃ on the held-out test set",
    "test_loss_exact": "exact population loss E_x[(y − f̃)²] for x ~ N(0, I/D): no test-set noise",
    "decomp_variance": "paper eq. 6 'variance error' ¼(Tr B/D − αε Tr M/D)² (general: (c − c0 + Tr A/2D)²)",
    "decomp_misalignment": "paper eq. 6 'misalignment error' ‖αεM − B‖²_F/(2D²), B = β⋆β⋆ᵀ",
    "decomp_linear": "paper eq. 6 'power in linear modes' α²|w̄|²/D (general: |u − b|²/D)",
    "decomp_orthogonal": "target power orthogonal to all quadratics (He_k, k ≥ 3): no quadratic net fits it",
    "train_acc": "train accuracy: argmax (classification), or per-sample MSE < task.threshold (teacher task)",
    "test_acc": "test accuracy: argmax (classification), or per-sample MSE < task.threshold (teacher task)",
    "train_acc_thr_<θ>": "teacher task: fraction of train samples with per-sample MSE < θ (θ as 1e-03)",
    "test_acc_thr_<θ>": "teacher task: fraction of test samples with per-sample MSE < θ",
    "weight_norm": "‖θ‖ over all parameters (fixed readouts included)",
    "param_change": "relative parameter change ‖θ − θ₀‖/‖θ₀‖",
    "ntk_alignment": "NTK–label alignment on the test set, one-sided centred (the authors' code; paper Fig 1)",
    "ntk_alignment_uncentred": "yᵀKy/(‖K‖_F‖y‖²) on the test set (the paper's printed formula)",
    "ntk_cka": "double-centred CKA between the test NTK and yyᵀ (Cortes et al.)",
    "kernel_distance": "‖K_t − K₀‖_F/‖K₀‖_F on the test set",
    "kernel_velocity": "‖K_t − K_s‖_F/(‖K_s‖_F (t − s)) between consecutive NTK probes, per step",
    "kernel_misalignment": "1 − ⟨K₀, K_t⟩_F/(‖K₀‖_F‖K_t‖_F) on the test set (Liu et al. 2024's tangent-kernel "
                           "alignment, as a distance)",
    "ntk_effective_rank": "exp(entropy of the normalised test-NTK eigenvalues)",
    "ntk_label_power_1": "fraction of ‖y_test‖² on the top eigenvector of the test NTK",
    "ntk_label_power_10": "fraction of ‖y_test‖² on the top 10 eigenvectors of the test NTK",
    "ntk_label_power_100": "fraction of ‖y_test‖² on the top 100 eigenvectors (paper condition (1))",
    "lin_train_loss": "train loss of the linearised twin (model linearised at θ₀, same optimiser)",
    "lin_test_loss": "test loss of the linearised twin",
    "sc_fraction": "fraction of train samples in Softmax Collapse: fl(Σ_j exp(z_j − max z)) == 1 in the "
                   "working precision (train.logits_dtype / loss_dtype); for stablemax, Σ_j s(z_j)/s(max z) == 1",
    "zero_loss_fraction": "fraction of train samples whose loss is exactly 0 in the working precision",
    "fourier_gini": "Gini coefficient of the token embedding's Fourier norms (modular addition, transformer)",
    "key_freq_energy": "fraction of the embedding's energy on its 5 key frequencies",
    "restricted_loss": "cross-entropy of f̃ kept to the key frequencies' cos/sin(w_k(a+b)) components, all pairs",
    "excluded_loss": "cross-entropy of f̃ with the key-frequency components removed, training pairs",
}


def describe(name: str) -> str:
    return METRICS[name]
