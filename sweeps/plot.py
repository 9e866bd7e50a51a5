"""The map figure (cells coloured by their verdict over seeds, the paper's assumption region outlined) and the
boundary table (per row, the largest x at which the criterion holds on every seed)."""

from __future__ import annotations

import numpy as np

from sweeps.engine import MapRun
from sweeps.maps import get

COLOURS = {"holds": "#2da44e", "mixed": "#d4a72c", "fails": "#cf222e"}


def boundary_lines(run: MapRun) -> list[str]:
    """One line per y: 'k = 5: holds on every seed up to sigma = 0.3 (fails from 1)'."""
    m = get(run.map)
    lines = []
    for y in run.ys:
        row = [run.cell(x, y) for x in run.xs]
        holds = [c["x"] for c in row if c["verdict"] == "holds"]
        broken = [c["x"] for c in row if c["verdict"] != "holds"]
        if not broken:
            text = f"holds on every seed at every {m.x.name} tried ({_fmt(run.xs[0])} to {_fmt(run.xs[-1])})"
        elif not holds:
            text = f"fails at every {m.x.name} tried"
        else:
            below = [x for x in holds if x < min(broken)]
            text = (f"holds on every seed up to {m.x.name} = {_fmt(max(below))}" if below else
                    f"does not hold at the smallest {m.x.name}") + f"; first failure at {m.x.name} = {_fmt(min(broken))}"
        lines.append(f"{m.y.name} = {_fmt(y)}: {text}")
    return lines


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _plain(x: float) -> str:
    """Two significant digits without an exponent between 1e-3 and 1e4 (140, not 1.4e+02)."""
    if x == 0 or not 1e-3 <= abs(x) < 1e4:
        return f"{x:.2g}"
    return f"{float(f'{x:.2g}'):g}"


def figure(run: MapRun):
    """matplotlib figure of the map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    m = get(run.map)
    fig, ax = plt.subplots(figsize=(max(5.5, 1.5 + 1.1 * len(run.xs)), 2.6 + 0.7 * len(run.ys)))
    for j, y in enumerate(run.ys):
        for i, x in enumerate(run.xs):
            c = run.cell(x, y)
            ax.add_patch(plt.Rectangle((i - 0.5, j - 0.5), 1, 1, color=COLOURS[c["verdict"]], alpha=0.85))
            ax.text(i, j, f"{sum(c['passed'])}/{len(c['passed'])}\n×{_plain(c['margin_min'])}", ha="center",
                    va="center", fontsize=8)
            if c["in_region"]:  # outline the paper's region cell by cell, on its outer edges only
                for di, dj, (x0, y0, x1, y1) in ((-1, 0, (i - .5, j - .5, i - .5, j + .5)),
                                                 (1, 0, (i + .5, j - .5, i + .5, j + .5)),
                                                 (0, -1, (i - .5, j - .5, i + .5, j - .5)),
                                                 (0, 1, (i - .5, j + .5, i + .5, j + .5))):
                    ii, jj = i + di, j + dj
                    inside = 0 <= ii < len(run.xs) and 0 <= jj < len(run.ys) and run.cell(run.xs[ii], run.ys[jj])["in_region"]
                    if not inside:
                        ax.plot([x0, x1], [y0, y1], color="k", lw=2)
    ax.set_xticks(range(len(run.xs)), [_fmt(x) for x in run.xs])
    ax.set_yticks(range(len(run.ys)), [_fmt(y) for y in run.ys])
    ax.set_xlim(-0.5, len(run.xs) - 0.5), ax.set_ylim(-0.5, len(run.ys) - 0.5)
    ax.set_xlabel(m.x.label), ax.set_ylabel(m.y.label)
    ax.set_title(f"{m.title}\n{len(run.seeds)} seeds per cell ({run.profile}); text: seeds passing, min margin",
                 fontsize=8)
    handles = [Patch(color=COLOURS[v], label=f"{v} (over seeds)") for v in COLOURS]
    handles.append(plt.Line2D([], [], color="k", lw=2, label=f"paper's region: {m.region_text}"))
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
