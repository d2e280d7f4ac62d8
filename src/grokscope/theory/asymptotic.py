"""High-dimensional (D → ∞, P/D = γ) theory of the wide committee's GD dynamics: lazy gap + feature escape.

Pure numpy, float64; imports nothing from grokscope. Derivation and checks: docs/theory-asymptotic.md.

Setting: x ~ N(0, I/D), y = ½(β·x)², ρ = |β|²/D (≈ 1), N → ∞ (w̄₀ = 0, M₀ = σ²I), full-batch GD with the
paper's rule η = η₀N/α² (``eta`` below is η₀ = optim.lr), MSE without ½. Time is the GD step t.

Order parameters (all scalars or functions on two spectral measures, asymptotic_spectra.py):
  q(t)        overlap of S = αε(M − σ²I) with the target, S_ββ = qρD (feature learning, 0 → 1);
  R(λ, t)     label-noise residual in the K-eigenmode λ (ν sector; the noise is the traceless part
              ξ = ρ(z² − 1)/2 of y, z = β·x/√ρ), R(λ, 0) = 1;
  Â(λ, t)     the kernel coefficient accumulated on that mode (sets the linear-mode power);
  R_c, Â_c    the same on the constant (radial) sector, measure μ_v.
Discrete GD, h = 2η₀/P, f = 1 − hλ, source δq from feature learning (eq. numbers: the doc's §4):

  R ← f R − δq,        Â ← Â + h R                        (ν sector, noise amplitude 1)
  R_c ← f R_c − δq ρ/2, Â_c ← Â_c + h R_c                   (μ_v sector, absolute)
  q + a ← (q + a)(1 + g Δ)²,  Δ = ∫ R dν_ξ,  g = 2η₀ερ/(αD),  a = αεσ²/(ρD)
  q_lin ← q_lin + 2gaΔ (the part of q that is lazy learning, already inside K),  δq = δq_FL: q_FL = q − q_lin
  (below, q stands for q_FL)

  L_train = P_tl ∫R² dν_ξ + (1 + 2/D) ∫R_c² dμ_v     (= 3ρ²/4 at t = 0)
  L_test  = P_tl (1 − q)² + (1 + 2/D) e_c² + (P_tl γ/λ_tr) ∫Â² ω_lt + γ[∫ℓ_c Â_c² dμ_v − b(∫Â_c dμ_v)²]
            + P_tl (P/D₂) (∫Â² ω_tt − 2(1 − q)∫Â dν_tr)   (window: traceless modes fitted lazily, O(P/D²))
  ν_ξ = ν_tr/λ_tr: the label noise is the target's traceless part, a signal direction of the traceless block;
  ω_lt = ν_lin ν_tr/ν, ω_tt = ν_tr²/ν: two-point traces Tr[ÂXXᵀÂW₂], Tr[(ÂW₂)²] in the commuting
  approximation (exact for P ≪ D² and for a pure traceless block; doc §3.4).
  P_tl = (ρ²/2)(1 − 1/D), e_c = Y0 − b∫Â_c dμ_v − qρ/2 (Y0 = ρ/2, minus αεσ²/2 uncentred), b = ε²σ²P/D,
  ν_lin, ν_tr: the linear/traceless block shares of ν (gram_rule). With g = 0 (no feature learning) these are the exact P/D = γ limits of
  kernel GD on the initial NTK (the lazy curves; tested against KernelGD-equivalent simulations).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

try:
    from .asymptotic_spectra import block_constants, gram_m0, gram_rule, spike_rule
except ImportError:  # loaded as a plain file (no package)
    from asymptotic_spectra import block_constants, gram_m0, gram_rule, spike_rule  # type: ignore

__all__ = ["curves", "crossing_times", "escape_budget", "phase_field", "lazy_limits"]


def _geo(f: np.ndarray, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fⁿ, G1 = Σ_{j<n} f^j, G2 = Σ_{j<n} Σ_{i<j} f^i) with x = 1 − f, stable for x → 0."""
    fn = f**n
    small = np.abs(x) * n < 1e-8
    xs = np.where(small, 1.0, x)
    g1 = np.where(small, n - 0.5 * n * (n - 1) * x, (1.0 - fn) / xs)
    g2 = np.where(small, 0.5 * n * (n - 1), (n - g1) / xs)
    return fn, g1, g2


def curves(alpha: float, eps: float, D: int, P: int, eta: float, steps: Sequence[int] | int,
           sigma: float = 1.0, N: int | None = None, centre: bool = True, rho: float = 1.0,
           feature_learning: bool = True, n_nodes: int = 300, n_grid: int = 3000, max_rel: float = 0.01,
           train_y: tuple[float, float] | None = None) -> dict[str, np.ndarray]:
    """Predicted train/test loss at the GD steps ``steps`` (int T → 0..T; else sorted ints), shape (T,).

    Args: alpha, eps, D, P; eta = η₀ (paper lr rule, raw η = η₀N/α²); sigma: init scale (M₀ = σ²I);
    N: width (None = ∞; finite N only enters at O(N^-1/2), not modelled, so the result is the same);
    centre: centred predictor f̃ = α(f − f₀) (else the offset f₀ = αεσ²|x|²/2 enters the constant sector);
    rho = |β|²/D (1 in the limit; pass the run's value for finite-D comparisons); feature_learning=False
    gives the pure lazy (initial-NTK kernel GD) limit. train_y: (mean y, mean y²) over the train set if known
    (conditions on the sample's heavy-tailed label moments; default (ρ/2, 3ρ²/4)). max_rel: macro-step size as a fraction of t.

    Returns {step, train_loss, test_loss, q, linear_power, const_error2, drive} (numpy float64).
    Exact per-step GD filters are used for t < 1/max_rel; beyond, macro-steps of ≤ max_rel·t steps with
    exact homogeneous factors and a trapezoidal feature-learning source (error O(max_rel²)).
    """
    _ = N
    if eps <= 0 or alpha <= 0 or P < 1 or D < 2:
        raise ValueError("curves: needs eps > 0 (the traceless block and the feature drive scale with ε), "
                         "alpha > 0, P ≥ 1, D ≥ 2")
    record = np.arange(steps + 1) if isinstance(steps, int) else np.asarray(sorted(int(s) for s in steps))
    gamma = P / D
    bc = block_constants(D, eps, sigma)
    lam_tr, b = bc["lam_tr"], eps * eps * sigma * sigma * P / D
    xk, w, w_lin, w_tr = gram_rule(D, P, eps, sigma, n_grid)
    w_xi, w_lt, w_tt = w_tr / lam_tr, w_lin * w_tr / w, w_tr * w_tr / w   # ν_ξ; commuting two-point weights
    xs, ws, ell_c = spike_rule(gamma, lam_tr, b, n_nodes)
    h = 2.0 * eta / P
    if h * max(xk.max(), xs.max()) >= 2.0:
        raise ValueError(f"eta = {eta}: GD on the initial NTK diverges (needs η₀ < P/λ_max = "
                         f"{P / max(xk.max(), xs.max()):.4g})")
    x_nu, x_c = h * xk, h * xs
    f_nu, f_c = 1.0 - x_nu, 1.0 - x_c
    P_tl = 0.5 * rho * rho * (1.0 - 1.0 / D)
    D2 = D * (D + 1) / 2 - 1                                  # traceless modes
    off = 0.0 if centre else 0.5 * alpha * eps * sigma * sigma
    Y0 = 0.5 * rho - off
    Y0_tr, P_trn, rad = Y0, P_tl, 1.0 + 2.0 / D             # rad: E|x|⁴ of the radial (|x|²) sector
    if train_y is not None:
        Y0_tr, P_trn, rad = train_y[0] - off, max(train_y[1] - train_y[0] ** 2, 1e-12), 1.0
    g = (2.0 * eta * eps * rho / (alpha * D)) if feature_learning else 0.0
    a = alpha * eps * sigma * sigma / (rho * D)
    R, A = np.ones_like(xk), np.zeros_like(xk)
    Rc, Ac = np.full_like(xs, Y0_tr), np.zeros_like(xs)
    q = q_lin = 0.0
    out = {k: [] for k in ("step", "train_loss", "test_loss", "q", "linear_power", "const_error2", "drive")}

    def observe(t: int) -> None:
        lin = P_tl * gamma / lam_tr * float(w_lt @ (A * A))
        sA = float(ws @ Ac)
        lin += gamma * (float(ws @ (ell_c * Ac * Ac)) - b * sA * sA)
        qf = q - q_lin                                       # beyond-lazy part (the lazy part is in win)
        ec = Y0 - b * sA - 0.5 * rho * qf
        win = P_tl * P / D2 * (float(w_tt @ (A * A)) - 2.0 * (1.0 - qf) * float(w_tr @ A))
        test = P_tl * (1.0 - qf) ** 2 + (1.0 + 2.0 / D) * ec * ec + lin + win
        train = P_trn * float(w_xi @ (R * R)) + rad * float(ws @ (Rc * Rc))
        for k, v in (("step", t), ("train_loss", train), ("test_loss", test), ("q", q - q_lin),
                     ("linear_power", lin), ("const_error2", ec * ec), ("drive", float(w_xi @ R))):
            out[k].append(v)

    def advance(n: int, dq: float) -> tuple:
        fn, g1, g2 = _geo(f_nu, x_nu, n)
        s = dq / n
        R1 = fn * R - s * g1
        A1 = A + h * (R * g1 - s * g2)
        fn, g1, g2 = _geo(f_c, x_c, n)
        sc = 0.5 * rho * s
        return R1, A1, fn * Rc - sc * g1, Ac + h * (Rc * g1 - sc * g2)

    t, j = 0, 0
    T = int(record[-1])
    while True:
        while j < len(record) and record[j] == t:
            observe(t)
            j += 1
        if t >= T:
            break
        d0 = float(w_xi @ R)
        n = max(1, int(max_rel * t))
        if g * abs(d0) > 0:
            n = min(n, max(1, int(0.02 / (2.0 * g * abs(d0)))))
        n = min(n, int(record[j]) - t)
        d0 *= P_trn / P_tl
        grow = (1.0 + g * d0) ** (2 * n)
        dql = 2.0 * g * a * d0 * n                           # lazy (first order in g) part of δq
        R1, _, _, _ = advance(n, (q + a) * (grow - 1.0) - dql)
        d1 = float(w_xi @ R1) * P_trn / P_tl                    # corrector: trapezoidal drive
        grow = math.exp(n * (math.log1p(g * d0) + math.log1p(g * d1))) if g else 1.0
        dq, dql = (q + a) * (grow - 1.0), g * a * (d0 + d1) * n
        R, A, Rc, Ac = advance(n, dq - dql)                  # the FL source: the lazy part is already in K
        q += dq
        q_lin += dql
        t += n
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def crossing_times(alpha: float, eps: float, D: int, P: int, eta: float, thresholds: Sequence[float] = (0.1,),
                   max_steps: int = 110_000, per_decade: int = 200, **kw) -> dict[float, dict[str, float]]:
    """Predicted t_train(θ), t_test(θ) (first step with loss ≤ θ; inf if not before max_steps) and
    grok amount max(0, t_test − t_train) (inf if only the train loss crosses, nan if it does not) for each θ,
    without training: {θ: {t_train, t_test, grok_amount}}. Resolution: every step to 100, then per_decade
    log-spaced steps; cost ≈ 0.1–0.5 s."""
    dec = max(math.log10(max(max_steps, 100)) - 2.0, 0.0)
    grid = np.concatenate([np.arange(0, min(max_steps, 100) + 1),
                           np.geomspace(100, max(max_steps, 100), int(per_decade * dec) + 2)])
    grid = np.unique(np.round(grid[grid <= max_steps]).astype(int))
    c = curves(alpha, eps, D, P, eta, grid, **kw)
    res = {}
    for th in thresholds:
        tt = [float(c["step"][np.argmax(c[k] <= th)]) if (c[k] <= th).any() else math.inf
              for k in ("train_loss", "test_loss")]
        amt = math.nan if not math.isfinite(tt[0]) else max(0.0, tt[1] - tt[0])   # inf: test never crosses
        res[th] = {"t_train": tt[0], "t_test": tt[1], "grok_amount": amt}
    return res


def lazy_limits(alpha: float, eps: float, D: int, P: int, sigma: float = 1.0, centre: bool = True,
                rho: float = 1.0, n_grid: int = 3000) -> dict[str, float]:
    """t → ∞ of the lazy (g = 0) curves (ridgeless kernel regression on the initial NTK; train → 0):
    Â = 1/λ_K in every term of :func:`curves`:  test = P_tl + (1 + 2/D)Y0²(1 − b s₁)² + (P_tl γ/λ_tr)∫ω_lt/λ²
    + P_tl (P/D₂)(∫ω_tt/λ² − 2∫dν_tr/λ) + Y0²γ(∫ℓ_c dμ_v/λ² − b s₁²),  s₁ = ∫dμ_v/λ = m₀/(1 + b m₀).
    Returns the total and its parts (variance = linear-mode power, window = traceless modes learned)."""
    bc = block_constants(D, eps, sigma)
    gamma, b = P / D, eps * eps * sigma * sigma * P / D
    x, w, w_lin, w_tr = gram_rule(D, P, eps, sigma, n_grid)
    xs, ws, ell_c = spike_rule(gamma, bc["lam_tr"], b)
    P_tl = 0.5 * rho * rho * (1 - 1 / D)
    Y0 = 0.5 * rho - (0.0 if centre else 0.5 * alpha * eps * sigma * sigma)
    D2 = D * (D + 1) / 2 - 1
    s1 = float(ws @ (1 / xs))
    var = P_tl * gamma / bc["lam_tr"] * float((w_lin * w_tr / w) @ x**-2.0)
    win = P_tl * P / D2 * (float((w_tr * w_tr / w) @ x**-2.0) - 2 * float(w_tr @ (1 / x)))
    const = (1 + 2 / D) * (Y0 * (1 - b * s1)) ** 2
    lin_c = Y0 * Y0 * gamma * (float(ws @ (ell_c / xs**2)) - b * s1 * s1)
    return {"test_loss": P_tl + const + var + win + lin_c, "variance": var + lin_c, "const_error2": const,
            "window": win, "m0": gram_m0(D, P, eps, sigma)}


def escape_budget(alpha: float, eps: float, D: int, P: int, sigma: float = 1.0, rho: float = 1.0) -> dict[str, float]:
    """Closed-form feature-escape criterion (doc §5). With the lazy drive Δ(t) = ∫f^t dν the total growth
    of ln(q + a) available before the train noise is memorised is

        B = 2g Σ_t Δ(t) = (2ργε/α) ∫dν_ξ/λ = (2ργε/α) m(0)/(1 + c₂m(0))   (independent of η₀),

    m(0) = (1/P)Tr K₀⁻¹ (gram_m0, closed form), c₂ = 2ε²σ²P/D²,

    needed to reach q = ½: B* = ln(1 + 1/(2a)), a = αεσ²/(ρD). margin = B − B* > 0: features are learned
    (the net generalises); < 0: the train set is memorised first and the test loss stays at the lazy floor.
    For γ > 1 and P ≪ D², m(0) = (1 − 1/γ)/λ_tr + O(1), so B ≈ 2ρ(γ − 1)/(αεσ²)."""
    gamma = P / D
    m0 = gram_m0(D, P, eps, sigma)
    c2 = 2.0 * eps * eps * sigma * sigma * P / D**2
    B = 2 * rho * gamma * eps / alpha * m0 / (1 + c2 * m0)
    a = alpha * eps * sigma * sigma / (rho * D)
    need = math.log1p(1 / (2 * a))
    return {"budget": B, "needed": need, "margin": B - need}


def phase_field(alpha: float, eps: float, gamma: float, D: int, eta: float, theta: float = 0.1,
                ratio: float = 2.0, max_steps: int = 110_000, **kw) -> float:
    """Scalar field whose zero level set is the grokking boundary in (α, ε, γ = P/D) at dimension D:
    log(t_test(θ)/t_train(θ))/log(ratio) − 1 (> 0: the test crossing lags the train one by more than
    ``ratio`` — grokking; < 0: they move together). +inf where the train loss crosses θ but the test loss
    never does within max_steps (memorisation without generalisation), nan when neither crosses."""
    P = int(round(gamma * D))
    c = crossing_times(alpha, eps, D, P, eta, (theta,), max_steps=max_steps, **kw)[theta]
    if not math.isfinite(c["t_train"]):
        return math.nan
    if not math.isfinite(c["t_test"]):
        return math.inf
    return math.log(max(c["t_test"], 1.0) / max(c["t_train"], 1.0)) / math.log(ratio) - 1.0
