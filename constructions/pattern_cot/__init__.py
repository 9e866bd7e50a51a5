"""Li, Lu, Chen, Cui, Wang (ICLR 2025): training nonlinear transformers for chain-of-thought inference.

Public API: exact transition-matrix algebra (transition_product, tau, tau_o, rho, rho_o, condition1), tasks and
prompts (make_task, cot_prompt, icl_prompt), and the hard-attention oracle (oracle_error).
"""

from constructions.pattern_cot.data import (
    Geometry, Task, cot_prompt, icl_prompt, make_geometry, make_task, same_count, sample_batch, tsr_patterns,
)
from constructions.pattern_cot.oracle import OracleResult, oracle_error
from constructions.pattern_cot.transitions import (
    WORKED_EXAMPLE, composed_map, condition1, correct_maps, exact, icl_limit_error, rho, rho_o, step_matrix, tau,
    tau_o, transition_product,
)

__all__ = [
    "Geometry", "OracleResult", "Task", "WORKED_EXAMPLE", "composed_map", "condition1", "correct_maps",
    "cot_prompt", "exact", "icl_limit_error", "icl_prompt", "make_geometry", "make_task", "oracle_error", "rho",
    "rho_o", "same_count", "sample_batch", "step_matrix", "tau", "tau_o", "transition_product", "tsr_patterns",
]
