"""Goal Attainment Scaling: the Kiresuk & Sherman summary T-score. (A scale's shape, each of the
levels -2 ... +2 once, is a plan rule: rapport_shared.contracts.plan_rules.check_scale.)

T = 50 + 10 * sum(w_i x_i) / sqrt((1 - rho) * sum(w_i^2) + rho * (sum w_i)^2)

x_i is the level attained on goal i (-2 ... +2), w_i its weight, and rho the assumed correlation
between goals' attainment; 0.3 is Kiresuk & Sherman's conventional value. T is 50 when every
goal lands exactly on its expected level, and has a standard deviation of 10.
"""

import math
from collections.abc import Sequence

RHO = 0.3


def t_score(attained: Sequence[tuple[float, int]], rho: float = RHO) -> float | None:
    """attained is (weight, level) per goal; None when there is no goal to score."""
    if not attained:
        return None
    weighted = sum(weight * level for weight, level in attained)
    sum_squares = sum(weight**2 for weight, _ in attained)
    total_weight = sum(weight for weight, _ in attained)
    return 50 + 10 * weighted / math.sqrt((1 - rho) * sum_squares + rho * total_weight**2)
