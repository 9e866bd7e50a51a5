"""Small plotting helpers shared by the checks' figures: uncertainty bands, integer axes, legend entries.

Figures only: no check, tolerance or cached function depends on this module (it is not part of the disk cache's
code hash, verify/cache.py), so a change here never invalidates a trained model.

Conventions of the report's figures: every axis labelled (units where there are any), mathtext for symbols
(``$\\alpha$``), every colour and line style in a legend, and an uncertainty band wherever a curve is an estimate
(a mean over tasks, prompts or seeds), its kind named in the legend.
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from scipy import stats

from verify.stats import CONFIDENCE  # the suite's per-check level (one source of truth)


def integer_axis(ax, which: str = "x") -> None:
    """Integer ticks only on ``which`` ('x', 'y' or 'both'): depths, step counts, numbers of examples."""
    for name in ("x", "y") if which == "both" else (which,):
        getattr(ax, f"{name}axis").set_major_locator(MaxNLocator(integer=True))


def log_ticks(ax, ticks, which: str = "x") -> None:
    """On a log axis: major ticks at ``ticks`` labelled as plain numbers (e.g. the batch sizes), no minor labels
    (they overlap as "3 x 10^1 4 x 10^1")."""
    from matplotlib.ticker import NullFormatter

    axis = getattr(ax, f"{which}axis")
    getattr(ax, f"set_{which}ticks")(list(ticks), [f"{t:g}" for t in ticks])
    axis.set_minor_formatter(NullFormatter())


def narrow_log_axis(ax, which: str = "y", bins: int = 5) -> None:
    """A log axis spanning less than a decade: a few evenly spaced round ticks in plain numbers (log minor tick
    labels would read "2.4 x 10^2 2.5 x 10^2")."""
    from matplotlib.ticker import NullFormatter, NullLocator, ScalarFormatter

    axis = getattr(ax, f"{which}axis")
    axis.set_major_locator(MaxNLocator(bins))
    axis.set_major_formatter(ScalarFormatter())
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def t_band(samples, axis: int = 0, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""(mean, low, high): the two-sided ``confidence`` t interval of the mean along ``axis``,
    mean +- t_{(1+c)/2, n-1} s / sqrt(n). With one sample the band collapses to the mean."""
    x = np.asarray(samples, dtype=np.float64)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n < 2:
        return mean, mean, mean
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * x.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def t_band_label(n: int, over: str = "seeds", confidence: float = CONFIDENCE) -> str:
    return f"band: {confidence:.0%} t interval of the mean over {n} {over}"


def range_band_label(n: int, over: str = "seeds") -> str:
    return f"band: min-max over {n} {over}"


def band_handle(label: str, color: str = "0.5", alpha: float = 0.3) -> Patch:
    """A legend entry for the shaded bands of an axes (one entry says what every band is)."""
    return Patch(facecolor=color, alpha=alpha, edgecolor="none", label=label)


def mean_band(ax, x, samples, *, kind: str = "t", axis: int = 0, color=None, fmt: str = "-", label=None,
              alpha: float = 0.25, log: bool = False, **line_kw):
    """Plot the mean of ``samples`` along ``axis`` against ``x`` and shade its band: ``kind='t'`` the 99% t interval
    of the mean, ``kind='range'`` min-max. ``log=True`` takes the band of log(samples) (a geometric mean and a
    band that stays positive on a log axis). Returns the line (its colour is the band's)."""
    y = np.asarray(samples, dtype=np.float64)
    if log:
        y = np.log(y)
    if kind == "t":
        mean, lo, hi = t_band(y, axis=axis)
    elif kind == "range":
        mean, lo, hi = y.mean(axis=axis), y.min(axis=axis), y.max(axis=axis)
    else:
        raise ValueError(f"kind must be 't' or 'range' (got {kind!r})")
    if log:
        mean, lo, hi = np.exp(mean), np.exp(lo), np.exp(hi)
    if color is not None:
        line_kw["color"] = color
    (line,) = ax.plot(x, mean, fmt, label=label, **line_kw)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=alpha, lw=0)
    return line


def legend(ax, *extra, **kw):
    """``ax.legend`` with the axes' labelled artists plus ``extra`` handles (e.g. :func:`band_handle`)."""
    handles, labels = ax.get_legend_handles_labels()
    handles += list(extra)
    labels += [h.get_label() for h in extra]
    kw.setdefault("fontsize", 7)
    return ax.legend(handles, labels, **kw)
