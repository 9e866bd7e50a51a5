"""Checks of Yang, Huang, Liang, Chi (NeurIPS 2025): path-finding in trees (claims tree_paths.*)."""
