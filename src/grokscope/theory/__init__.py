"""Theory curves beside the simulation: exact kernel-limit GD, population (online) GD on (w̄, M),
the gradient-flow limit, the initial NTK's Mercer spectrum, and ``theory_report(cfg)``.

Modules: closed (the (w̄, M) recursion, moments, flow field), kernel_limit, population, flow,
spectrum. `grokscope theory` (its numbers and text) is grokscope.views.theory_report. Everything float64.
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
from grokscope.theory.kernel_limit import (
                                     KernelGD,
                                     committee_kernel_forms,
                                     committee_ntk,
                                     kernel_regression,
                                     quadratic_population_moments,
                                     shifted_target,
)
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
    "ClosedDynamics", "KernelGD", "ModeGroup", "committee_kernel_forms", "committee_ntk", "dopri5",
    "eigenlearning", "empirical_dynamics", "empirical_moments", "flow",
    "init_ntk_spectrum", "iterate", "kernel_regression", "kernel_timescales", "loss_fns",
    "population_dynamics", "population_kernel_curve", "population_moments", "population_trajectory",
    "quadratic_population_moments", "rate", "shifted_target", "stats_from_weights", "target_powers",
    "wide_population",
]
