"""Yang, Huang, Liang, Chi (NeurIPS 2025): path-finding in trees with one-layer softmax transformers.

Trees and their distributions (trees), node embeddings (embeddings), token layouts (tokens, [R]), the one-layer
multi-head softmax model with the Theorem 1 and 2 constructions and autoregressive decoding (model, numpy),
bounds and thresholds (bounds, sympy then lambdify), batched torch losses (torch_model).
Labels are 0-based: label i is column a_i of the embedding matrix A (the paper's [S] shifted by one).
"""

from constructions.tree_paths.embeddings import coherence, equicorrelated, one_hot, orthonormal, perturbed
from constructions.tree_paths.model import (
    BackwardModel, Decoding, ForwardModel, backward_construction, decode_path, forward_construction,
    forward_from_symmetric,
)
from constructions.tree_paths.tokens import (
    STAGE_B, STAGE_F, backward_schedule, backward_tokens, forward_schedule, forward_tokens,
)
from constructions.tree_paths.trees import (
    Tree, perfect_binary_tree, random_leaf, random_perfect_tree, random_test_tree, random_tree,
)

__all__ = [
    "BackwardModel", "Decoding", "ForwardModel", "STAGE_B", "STAGE_F", "Tree", "backward_construction",
    "backward_schedule", "backward_tokens", "coherence", "decode_path", "equicorrelated", "forward_construction",
    "forward_from_symmetric", "forward_schedule", "forward_tokens", "one_hot", "orthonormal", "perfect_binary_tree",
    "perturbed", "random_leaf", "random_perfect_tree", "random_test_tree", "random_tree",
]
