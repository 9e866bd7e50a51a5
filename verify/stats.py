"""Confidence intervals for Monte-Carlo checks: normal approximation, Bonferroni over a family of intervals."""

from __future__ import annotations

import numpy as np
from scipy import stats

CONFIDENCE = 0.99  # family-wise level of every statistical check in the suite


def z_value(family_size: int = 1, confidence: float = CONFIDENCE) -> float:
    """Two-sided normal quantile for a family of ``family_size`` intervals at joint level ``confidence``."""
    return float(stats.norm.ppf(1 - (1 - confidence) / (2 * family_size)))


def mean_and_se(samples: np.ndarray) -> tuple[float, float]:
    """Sample mean and its standard error (ddof = 1)."""
    samples = np.asarray(samples, dtype=np.float64)
    return float(samples.mean()), float(samples.std(ddof=1) / np.sqrt(samples.size))


def ci_reason(family_size: int, n_samples: int, confidence: float = CONFIDENCE) -> str:
    return (f"{confidence:.0%} normal CI (Bonferroni over {family_size} interval(s), z = "
            f"{z_value(family_size, confidence):.3f}) from {n_samples} independent Monte-Carlo samples")
