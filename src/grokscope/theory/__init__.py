"""Theory curves beside the simulation: exact kernel-limit GD, population (online) GD on (w̄, M),
the gradient-flow limit, the initial NTK's Mercer spectrum. `grokscope theory` (its numbers and text)
is grokscope.views.theory_report.

One copy of each piece of mathematics, called by the engines, the ensemble and the diagnostics too:
wm_step (the exact (w̄, M) GD map, dense and factor forms), ntk_closed_form (the committee NTK in
closed form), kernel_gd (the kernel-GD spectral factors). Built on them: closed (moments, the (w̄, M)
recursion), kernel_limit, population, flow, spectrum. Everything float64.
"""
from grokscope.theory.closed import (
                                     ClosedDynamics,
                                     empirical_dynamics,
                                     empirical_moments,
                                     iterate,
                                     loss_fns,
                                     population_moments,
                                     rate,
                                     stats_from_weights,
)
from grokscope.theory.flow import dopri5, flow
from grokscope.theory.kernel_gd import spectral_factors
from grokscope.theory.kernel_limit import (
                                     KernelGD,
                                     kernel_regression,
                                     quadratic_population_moments,
                                     shifted_target,
)
from grokscope.theory.ntk_closed_form import closed_form_ntk, committee_kernel_forms, committee_ntk
from grokscope.theory.population import population_dynamics, population_trajectory, wide_population
from grokscope.theory.spectrum import (
                                     ModeGroup,
                                     eigenlearning,
                                     init_ntk_spectrum,
                                     kernel_timescales,
                                     population_kernel_curve,
                                     target_powers,
)

__all__ = [
    "ClosedDynamics", "KernelGD", "ModeGroup", "closed_form_ntk", "committee_kernel_forms", "committee_ntk",
    "dopri5", "eigenlearning", "empirical_dynamics", "empirical_moments", "flow", "init_ntk_spectrum",
    "iterate", "kernel_regression", "kernel_timescales", "loss_fns", "population_dynamics",
    "population_kernel_curve", "population_moments", "population_trajectory", "quadratic_population_moments",
    "rate", "shifted_target", "spectral_factors", "stats_from_weights", "target_powers", "wide_population",
]
