"""``theory_report(cfg)``: what the theory predicts for a config, before training (CLI ``grokscope theory``).

Sections: the sample-complexity window (P/D, P/D², kernel mode count), the wide-limit Mercer spectrum
and the target's power per eigenspace, the kernel-regression floor (eigenlearning prediction and the
exact ridgeless K₀ regression on this dataset), kernel-fit time scales, the linearised (α → ∞) model's
losses at the end of the run, a feature-learning time estimate, and a verdict on the paper's three
grokking conditions (§4.2: misaligned NTK, P in the window, lazy start). Thresholds in the verdict are
heuristics, stated in the reasons. Applies to the quadratic committee with fixed unit readouts
trained by full-batch GD on a polynomial task; anything else gets ``applicable = False`` and why.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from grokscope.config import Config
from grokscope.models.registry import supports
from grokscope.numerics.scaling import learning_rate
from grokscope.tasks.base import task_supports
from grokscope.theory.closed import rate, stats_from_weights
from grokscope.theory.kernel_limit import (
    KernelGD,
    committee_kernel_forms,
    committee_ntk,
    quadratic_population_moments,
    shifted_target,
)
from grokscope.theory.population import eigen_groups, wide_population
from grokscope.theory.spectrum import eigenlearning, init_ntk_spectrum, kernel_timescales

F64 = torch.float64
EXACT_MAX_P = 4000  # above this the O(P³) exact kernel numbers are skipped


def _applicable(cfg: Config) -> list[str]:
    why = []
    m = cfg.model
    if not task_supports(cfg.task, "quadratic_target"):
        why.append(f"task.name = {cfg.task.name!r}: needs the polynomial task (Gaussian inputs, known target)")
    if not supports(m, "reduced"):
        why.append(f"model.name = {m.name!r}: needs the committee with a quadratic φ (phi = quadratic, or "
                   "hermite with k = 2) and readouts fixed to 1")
    if cfg.optim.name != "gd" or cfg.optim.weight_decay:
        why.append(f"optim.name = {cfg.optim.name!r}: time scales assume full-batch GD without weight decay")
    if cfg.train.loss != "mse":
        why.append(f"train.loss = {cfg.train.loss!r}: needs mse")
    return why


def _init_stats(cfg: Config, D: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(w̄₀, M₀) of the run's initial W (same generator and seed as the trainer)."""
    from grokscope.models import build_model
    model = build_model(cfg.model, D)
    W = model.init(torch.Generator().manual_seed(cfg.model.seed), F64)["W"]
    if cfg.model.init_W:
        from grokscope.config.arrays import load_array
        W = load_array(cfg.model.init_W, "model.init_W", (cfg.model.N, D), ("model.N", "task.D")).to(F64)
    return stats_from_weights(W)


def linearised_curves(cfg: Config, steps: list[float], data: Any = None) -> dict[str, Any]:
    """Exact curves of the linearised model (α → ∞ / lazy twin: GD on f̃₀ + ∇f̃₀·Δθ with the run's
    finite-N NTK at init) at ``steps`` (may include ``math.inf`` = K₀ ridgeless regression).

    Returns {"step", "train_loss", "test_loss", "test_loss_exact" (lists), "stable", "max_stable_eta"}:
    the overlay for a run's loss plot, same metric names. Cost O(P³ + P²D² + T·P·P_test).
    """
    from grokscope.tasks.base import TASKS
    data = data if data is not None else TASKS[cfg.task.name](cfg.task)
    a, eps, N, D = cfg.scaling.alpha, cfg.model.eps, cfg.model.N, cfg.task.D
    eta = learning_rate(cfg.scaling.lr_rule, cfg.optim.lr, a, N)
    wbar0, M0 = _init_stats(cfg, D)
    kw = {"scale": a * a / N, "wbar": wbar0, "M": M0}
    K = committee_ntk(data.X_train, data.X_train, eps, **kw)
    Kt = committee_ntk(data.X_test, data.X_train, eps, **kw)
    target = data.target
    f0 = f0t = None
    if not cfg.scaling.centre:  # f̃₀ = α w̄₀·x + (αε/2) xᵀM₀x
        u0, S0 = a * wbar0, a * eps * M0
        f0 = data.X_train @ u0 + 0.5 * ((data.X_train @ S0) * data.X_train).sum(-1)
        f0t = data.X_test @ u0 + 0.5 * ((data.X_test @ S0) * data.X_test).sum(-1)
        target = shifted_target(target, 0.0, u0, S0) if target is not None else None
    kg = KernelGD(K, data.y_train, eta, f0)
    # t = ∞ is K₀ ridgeless regression whatever η: past the stability limit the run's own GD diverges
    # (kernel_gd: its limit is inf), so the ∞ entries use a stable η — they do not depend on it.
    lim = kg if eta < kg.max_stable_eta else KernelGD(K, data.y_train, 0.5 * kg.max_stable_eta, f0)

    def at(fn: Any) -> list[float]:
        """fn(gd, steps) over ``steps``: the finite ones with the run's η in one call, ∞ with ``lim``."""
        fin = [t for t in steps if not math.isinf(t)]
        vals = iter(fn(kg, fin).tolist() if fin else [])
        inf = float(fn(lim, [math.inf])[0]) if len(fin) < len(steps) else None
        return [inf if math.isinf(t) else next(vals) for t in steps]

    out: dict[str, Any] = {"step": list(steps), "train_loss": at(lambda g, t: g.train_loss(t)),
                           "test_loss": at(lambda g, t: g.test_loss(t, Kt, data.y_test, f0t)),
                           "stable": eta < kg.max_stable_eta, "max_stable_eta": kg.max_stable_eta}
    if target is not None:
        U, S = committee_kernel_forms(data.X_train, eps, **kw)
        G, l, e2 = quadratic_population_moments(U, S, target)
        out["test_loss_exact"] = at(lambda g, t: g.population_loss(t, G, l, e2))
    return out


def _kernel_exact(cfg: Config, data: Any) -> dict[str, Any]:
    """Linearised model at the run's end and at t = ∞ (K₀ regression)."""
    c = linearised_curves(cfg, [cfg.train.steps, math.inf], data)
    return {"stable": c["stable"], "max_stable_eta": c["max_stable_eta"],
            "train_loss_end": c["train_loss"][0], "test_loss_end": c["test_loss"][0],
            "test_loss_exact_end": c["test_loss_exact"][0], "K0_test_mse": c["test_loss"][1],
            "K0_test_mse_exact": c["test_loss_exact"][1], "K0_train_mse": c["train_loss"][1]}


def theory_report(cfg: Config, exact: bool = True) -> dict[str, Any]:
    """Predictions for ``cfg`` (see module docstring). ``exact``: also the O(P³) dataset-exact kernel
    numbers (skipped for P > 4000). All times are in GD steps."""
    from grokscope.tasks.base import TASKS
    t, m, sc = cfg.task, cfg.model, cfg.scaling
    if not (task_supports(t, "scalar_regression") and supports(m, "committee_theory")):
        from grokscope.config import ConfigError
        raise ConfigError(f"theory: task.name = {t.name!r}, model.name = {m.name!r}: the paper's theory covers "
                          "the committee machine on the polynomial task only")
    D, P, N, alpha, eps = t.D, t.P, m.N, sc.alpha, m.eps
    out: dict[str, Any] = {"D": D, "P": P, "N": N, "alpha": alpha, "eps": eps, "centre": sc.centre,
                           "steps": cfg.train.steps}
    why = _applicable(cfg)
    out["applicable"], out["not_applicable_because"] = not why, why
    rank = D + D * (D + 1) // 2
    out["window"] = {"P_over_D": P / D, "P_over_D2": P / D**2, "kernel_modes": rank, "P_over_modes": P / rank,
                     "one_over_lambda_traceless": D**2 / (2 * eps**2) if eps else math.inf}
    if not task_supports(t, "quadratic_target"):
        return out
    data = TASKS[t.name](t)
    if data.target is None:
        out["not_applicable_because"].append("target unknown (y from files without beta)")
        out["applicable"] = False
        return out
    eta = learning_rate(sc.lr_rule, cfg.optim.lr, alpha, N)
    kappa = alpha**2 / N
    eta_eff, c = eta * kappa, rate(eta, alpha, N)
    out.update({"eta": eta, "eta_eff": eta_eff, "rate_c": c})
    # the kernel must fit y − f̃₀: the target itself when centred, else shifted by the init's form
    fit = data.target
    if not sc.centre and not why:
        wbar0, M0 = _init_stats(cfg, D)
        fit = shifted_target(data.target, 0.0, alpha * wbar0, alpha * eps * M0)
    groups = init_ntk_spectrum(D, eps, kappa, fit)
    total = sum(g.power for g in groups)
    out["spectrum"] = [{"group": g.name, "eigenvalue": g.eigenvalue, "multiplicity": g.multiplicity,
                        "power": g.power, "power_fraction": g.power / total if total else 0.0} for g in groups]
    el = eigenlearning(groups, P)
    out["kernel_floor"] = {"fits": "y" if fit is data.target else "y - f0", "E_y2": total, "predicted_K0_test_mse": el["test_mse"], "E0": el["E0"],
                           "learnability": el["learnability"]}
    ts = kernel_timescales(groups, eta)
    unlearned = sum(g.multiplicity * g.eigenvalue for g in groups if el["learnability"][g.name] < 0.5)
    ts["memorise_train"] = P / (2 * eta * unlearned) if unlearned > 0 else math.inf
    out["timescales"] = ts
    if exact and P <= EXACT_MAX_P and not why:
        out["linearised"] = _kernel_exact(cfg, data)
    out["feature_learning"] = _feature_learning(cfg, data.target, c)
    out["verdict"] = _verdict(out)
    return out


def _feature_learning(cfg: Config, target: Any, c: float) -> dict[str, Any]:
    """Estimate of when M aligns with B (module docstring of population.py for the recursion).

    Analytic: with w̄ = 0, M ≈ I and S ≪ B, the top eigen-direction of B grows as
    m ← (1 + cε b_max/D²)² m, and the fit needs αε(m − 1) ≈ b_max, so
    t_FL ≈ ln(1 + b_max/(αε)) / (2 ln(1 + cε b_max/D²)) ≈ D² ln(1 + b_max/(αε)) / (2cε b_max)
    (paper rule c = 2η₀/α: ∝ α/(η₀ε)). Exact in the wide population limit: the step where the
    misalignment term halves. Both ignore finite P (noise in A, kernel memorisation shrinking r).
    """
    D, alpha, eps = cfg.task.D, cfg.scaling.alpha, cfg.model.eps
    bs, _ = eigen_groups(target.B)
    b_max = max(bs, key=abs) if bs else 0.0
    res: dict[str, Any] = {"b_max": b_max}
    if float(target.B.abs().max()) == 0 or b_max <= 0 or eps <= 0:
        res["note"] = "target has no positive quadratic part: no feature alignment to learn"
        return res
    growth = math.log1p(c * eps * b_max / D**2)
    res["t_analytic"] = math.log1p(b_max / (alpha * eps)) / (2 * growth) if growth > 0 else math.inf
    if float(target.b.abs().max()) == 0:
        cap = int(min(max(10 * cfg.train.steps, 10 * res["t_analytic"]), 2_000_000))
        wp = wide_population(target, alpha, eps, c, cap, cfg.scaling.centre, stop_at_half=True)
        res["t_wide_population"] = wp["t_half_misalignment"]
        res["searched_up_to"] = cap
    return res


def _verdict(d: dict[str, Any]) -> dict[str, Any]:
    """The paper's conditions (1)–(3), with heuristic thresholds written into each reason."""
    spec = {g["group"]: g for g in d["spectrum"]}
    learn = d["kernel_floor"]["learnability"]
    frac_tl = spec["traceless"]["power_fraction"]
    c1 = frac_tl >= 0.25
    r1 = (f"(1) misaligned NTK: {100 * frac_tl:.0f}% of E[y²] lies in the traceless-quadratic modes, whose "
          f"eigenvalue 2κε²/D² is {spec['traceless']['eigenvalue'] / spec['linear']['eigenvalue']:.2g}× the "
          f"linear one (needs ≥ 25%)")
    w = d["window"]
    c2 = w["P_over_D"] >= 2 and learn["traceless"] < 0.5
    r2 = (f"(2) window D ≪ P ≪ D²: P/D = {w['P_over_D']:.3g} (needs ≥ 2 for feature learning), "
          f"P/D² = {w['P_over_D2']:.3g}; ridgeless K₀ learnability of the traceless modes "
          f"{learn['traceless']:.2f} (needs < 0.5; the kernel needs P ≈ {w['kernel_modes']} = #modes)")
    fl = d["feature_learning"]
    t_fl = fl.get("t_wide_population") or fl.get("t_analytic")
    tau_lin = d["timescales"]["linear"]
    c3 = t_fl is not None and t_fl >= 10 * tau_lin
    r3 = (f"(3) lazy start: kernel fit of the linear modes in ~{tau_lin:.3g} steps, feature learning "
          f"~{t_fl:.3g} steps (estimate; needs ≥ 10× apart)" if t_fl is not None
          else "(3) lazy start: no feature learning needed for this target")
    groks = bool(c1 and c2 and c3)
    in_run = groks and t_fl is not None and t_fl <= d["steps"]
    if not d["applicable"]:
        groks = in_run = None  # type: ignore[assignment]
    return {"conditions": {"misaligned": c1, "window": c2, "lazy_start": c3}, "reasons": [r1, r2, r3],
            "expected_to_grok": groks, "within_run": in_run}


def format_theory(d: dict[str, Any]) -> list[str]:
    """Human-readable lines for ``grokscope theory``."""
    def f(v: Any) -> str:
        if isinstance(v, float):
            return "inf" if math.isinf(v) else f"{v:.4g}"
        return str(v)

    w = d["window"]
    lines = [(f"theory for D={d['D']} P={d['P']} N={d['N']} alpha={f(d['alpha'])} eps={f(d['eps'])} "
              f"centre={d['centre']}"),
             (f"window: P/D = {f(w['P_over_D'])}, P/D² = {f(w['P_over_D2'])}, kernel modes = "
              f"{w['kernel_modes']}, 1/λ_traceless = D²/(2ε²) = {f(w['one_over_lambda_traceless'])} "
              "(paper prints D²/(2ε))")]
    if not d["applicable"]:
        lines += ["not applicable: " + "; ".join(d["not_applicable_because"])]
        if "spectrum" not in d:
            return lines
    lines.append(f"learning rate η = {f(d['eta'])}, ηα²/N = {f(d['eta_eff'])}, rate c = 2ηα/N = {f(d['rate_c'])}")
    lines.append("wide-limit NTK spectrum (λ includes α²/N; traceless λ = 2ε²/D², not the paper's 2ε/D²):")
    for g in d["spectrum"]:
        lines.append(f"  {g['group']:<10} λ = {f(g['eigenvalue']):<10} ×{g['multiplicity']:<6} "
                     f"target power {f(g['power'])} ({100 * g['power_fraction']:.1f}%)")
    kf = d["kernel_floor"]
    fits = "E[y²]" if kf["fits"] == "y" else "E[(y − f̃₀)²]"
    lines.append(f"kernel floor: {fits} = {f(kf['E_y2'])}, predicted K₀ test MSE (eigenlearning) = "
                 f"{f(kf['predicted_K0_test_mse'])}, learnability " +
                 ", ".join(f"{k} {v:.2f}" for k, v in kf["learnability"].items() if k != "null"))
    lines.append("kernel time scales (steps, e-fold of the residual): " +
                 ", ".join(f"{k} {f(v)}" for k, v in d["timescales"].items() if k != "null"))
    if "linearised" in d:
        li = d["linearised"]
        lines.append(f"linearised model at step {d['steps']}: train {f(li['train_loss_end'])}, test "
                     f"{f(li['test_loss_end'])}, exact test {f(li['test_loss_exact_end'])}; t→∞ (K₀ regression): "
                     f"test {f(li['K0_test_mse'])}, exact test {f(li['K0_test_mse_exact'])}"
                     + ("" if li["stable"] else "  [GD UNSTABLE: η ≥ P/λ_max]"))
    fl = d["feature_learning"]
    if "t_analytic" in fl:
        lines.append(f"feature learning (estimate): analytic t ≈ {f(fl['t_analytic'])} steps; wide-limit "
                     f"population misalignment halves at t = {fl.get('t_wide_population')}")
    elif "note" in fl:
        lines.append(f"feature learning: {fl['note']}")
    v = d["verdict"]
    lines += ["  " + r for r in v["reasons"]]
    if not d["applicable"]:
        lines.append("verdict: n/a (the conditions above assume the setting named under 'not applicable')")
        return lines
    lines.append(f"verdict: {'expected to grok' if v['expected_to_grok'] else 'not expected to grok'}"
                 + (" (within the run)" if v["within_run"] else
                    (" (later than train.steps)" if v["expected_to_grok"] else "")))
    return lines
