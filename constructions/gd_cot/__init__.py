"""Huang, Wang, Lee (ICLR 2025): one-layer LSA, CoT rollout, Theorem 3.1 optimum, Theorem 3.2 construction.

Public API (numpy in, numpy out, float64): embed, lsa_forward, cot_rollout, gd_iterates, gd_construction,
no_cot_optimum (exact sympy numbers for integer inputs).
"""

from constructions.gd_cot.model import (
    LOSS_FACTOR,
    blocks,
    cot_rollout,
    embed,
    estimates,
    gd_construction,
    gd_iterates,
    lsa_forward,
    no_cot_decomposition,
    sample_tasks,
)
from constructions.gd_cot.symbolic import no_cot_optimum

__all__ = [
    "LOSS_FACTOR", "blocks", "cot_rollout", "embed", "estimates", "gd_construction", "gd_iterates",
    "lsa_forward", "no_cot_decomposition", "no_cot_optimum", "sample_tasks",
]
