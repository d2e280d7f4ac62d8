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
METRICS.update({  # issue #22 (training/probe_robust.py)
    "lc_train": "local complexity: mean number of ReLU units (all layers) whose boundary crosses the "
                "cross-polytope of radius probes.lc_radius around a training point (Humayun et al. 2024)",
    "lc_test": "local complexity around test points",
    "lc_random": "local complexity around random points uniform in the training inputs' bounding box",
    "lc_<set>_l<l>": "local complexity of hidden layer l alone (set: train, test, random)",
    "robust_acc": "test accuracy under an L∞ PGD attack of radius probes.robust_eps (robust at every iterate)",
    "fgsm_acc": "test accuracy under the one-step FGSM attack of radius probes.robust_eps",
    "ipr_mean": "mean over hidden neurons of the Fourier inverse participation ratio Σ_k (|ĉ_k|/‖ĉ‖)⁴ of "
                "their weights (Doshi et al. 2024; 1: one frequency)",
    "ipr_periodic_fraction": "fraction of hidden neurons with IPR ≥ 0.5 (periodic, generalising)",
    "noise_memorised": "fraction of the corrupted training samples predicted as their corrupted label",
    "noise_corrected": "fraction of the corrupted training samples predicted as their true label",
})

METRICS.update({  # the pathways probe (training/probe_pathways.py; Li, Fan & Zhou 2025)
    "pathway_memorised": "fraction of training samples counted memorised (classified correctly at this and the "
                         "previous probe; regression: per-sample loss ≤ 0.1·initial mean at both, changed ≤ 0.05·it)",
    "pathway_distance": "mean pairwise edit distance between memorised samples' pathways (kept unit/expert IDs "
                        "to 0.7 of the routing mass, layer after layer)",
    "pathway_distance_norm": "pathway_distance with each pair's distance divided by the longer pathway's length",
    "pathway_jaccard": "mean pairwise Jaccard distance 1 − |S∩S'|/|S∪S'| of memorised samples' kept-unit sets",
    "pathway_consistency": "C = mean_i [1 − mean_ℓ c_iℓ / max_ℓ c_iℓ], c_iℓ the cosine of consecutive hidden layers' "
                           "routing in layer ℓ+1's unit space (MLPs with ≥ 2 hidden layers; ≡ 0 for exactly 2)",
    "pathway_consistency_inv": "1 − pathway_consistency (the paper's sign convention is inconsistent)",
    "pathway_cos": "mean cosine c_iℓ of consecutive hidden layers' routing (the unnormalised consistency)",
    "ntk_eff_dim": "effective dimension Tr(K(K + λI)⁻¹) of the NTK on ≤ 128 training points, λ = Tr(K)/n",
})

METRICS.update({  # Liu et al. 2024 laziness measures (training/probe_liu.py), restricted to probes.liu_param
    "liu_weight_change": "‖W_t − W_0‖_F of the named parameter (probes.liu_param; default W_rec)",
    "liu_rep_alignment": "⟨H₀H₀ᵀ, HHᵀ⟩_F/(‖·‖‖·‖): hidden-rate kernel at the decision step vs the initial network's",
    "liu_sign_similarity": "fraction of decision-step hidden rates whose sign is unchanged since θ₀",
    "liu_effective_rank": "exp(entropy of σ/Σσ) of the named parameter's singular values",
    "liu_kernel_alignment": "⟨K₀, K_t⟩_F/(‖K₀‖‖K_t‖), tangent kernel restricted to the named parameter, outputs "
                            "over time × class stacked (Liu et al.'s KA)",
})


def describe(name: str) -> str:
    return METRICS[name]
