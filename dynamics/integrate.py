"""python -m dynamics.integrate: integrate the reduced gradient-flow ODE of the CoT objective (Section 4).

Default: ``--eigenspace`` at d=10, n=20, k=10, eta=0.1, init scale 0.1, t_max 1000 (a small eta keeps
E||w_k - w*||^2 away from the fixed-eta divergence, docs/provenance/gd_cot.md §5). Prints a table of time,
per-eigendirection
(a_j, b_j) = (V31, W13) and loss, then the limit against the predicted fixed point (-eta I, I).
``--json PATH`` writes the trajectory, ``--plot PATH`` a PNG with the two stages marked.

Exit status: 0 the flow reached (-eta I, I); 1 it did not (within --t-max); 2 bad input (checked before the
integration starts, output paths included); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from constructions.errors import ProofCheckError, positive_int, writable_output

DEFAULTS = dict(d=10, n=20, k=10, eta=0.1, init_scale=0.1, t_max=1000.0, seed=0)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dynamics.integrate", description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--eigenspace", dest="mode", action="store_const", const="eigenspace",
                      help="A, B diagonal in one eigenbasis, one (a_j, b_j) per direction, coupled through tr B "
                           "and tr B^2 (default; coefficients from a fixed Wishart sample, SE reported)")
    mode.add_argument("--scalar", dest="mode", action="store_const", const="scalar",
                      help="isotropic model A = aI, B = bI (exact Wishart moments)")
    p.set_defaults(mode="eigenspace")
    p.add_argument("--d", type=int, default=DEFAULTS["d"], help="input dimension (default 10)")
    p.add_argument("--n", type=int, default=DEFAULTS["n"], help="in-context examples (default 20)")
    p.add_argument("--k", type=int, default=DEFAULTS["k"], help="CoT steps (default 10)")
    p.add_argument("--eta", type=float, default=DEFAULTS["eta"], help="GD step size of the targets (default 0.1)")
    p.add_argument("--init-scale", type=float, default=DEFAULTS["init_scale"],
                   help="sigma of the reconstructed Assumption 4.1 init, a_j(0) = b_j(0) = sigma u_j (default 0.1)")
    p.add_argument("--t-max", type=float, default=DEFAULTS["t_max"], help="integration time (default 1000)")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="seed of the init and the Wishart sample")
    p.add_argument("--samples", type=int, default=None, help="size of the eigenspace model's Wishart sample")
    p.add_argument("--rows", type=int, default=12, help="rows of the printed table (default 12)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the trajectory as JSON")
    p.add_argument("--plot", type=Path, default=None, metavar="PATH", help="write a PNG of the trajectories")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    return p


def _shown_directions(dim: int, a0: np.ndarray, most: int = 4) -> list[int]:
    """The directions to print: smallest and largest initial eigenvalue and evenly spaced ones between."""
    order = np.argsort(a0)
    return sorted({int(order[i]) for i in np.linspace(0, dim - 1, min(dim, most)).round().astype(int)})


def _table(traj, rows: int) -> str:
    shown = _shown_directions(traj.a.shape[1], traj.a[0])
    idx = np.unique(np.linspace(0, len(traj.t) - 1, rows).round().astype(int))
    head = f"{'t':>10}  " + "  ".join(f"{'a_' + str(j):>8} {'b_' + str(j):>8}" for j in shown) + f"  {'loss':>10}"
    lines = [head, "-" * len(head)]
    for i in idx:
        pairs = "  ".join(f"{traj.a[i, j]:8.4f} {traj.b[i, j]:8.4f}" for j in shown)
        lines.append(f"{traj.t[i]:10.4g}  {pairs}  {traj.loss[i]:10.3e}")
    if traj.a.shape[1] > len(shown):
        lines.append(f"(showing {len(shown)} of {traj.a.shape[1]} eigen-directions; --json has all)")
    return "\n".join(lines)


def summarize(flow, traj) -> dict:
    """Limit, distance to (-eta I, I), stage times and the stage boundary of a trajectory."""
    from dynamics.gd_cot import stage_boundary, stage_times

    y_end = np.concatenate([traj.a[-1], traj.b[-1]])
    t_a, t_b = stage_times(traj, -flow.eta, 1.0)
    return {
        "a_limit": traj.a[-1].tolist(), "b_limit": traj.b[-1].tolist(),
        "max_abs_a_plus_eta": float(np.abs(traj.a[-1] + flow.eta).max()),
        "max_abs_b_minus_1": float(np.abs(traj.b[-1] - 1.0).max()),
        "distance_to_fixed_point": float(np.linalg.norm(y_end - flow.fixed_point())),
        "final_loss": float(traj.loss[-1]),
        "t_a_half": t_a, "t_b_half": t_b, "stage_boundary": stage_boundary(flow, traj),
    }


def figure(flow, traj, summary: dict):
    """Trajectories a_j(t), b_j(t) and the loss on log time axes, the two stages shaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.maximum(traj.t, traj.t[1] / 10)  # show t = 0 on the log axis
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(t, traj.a, color="tab:blue", lw=1)
    ax1.plot(t, traj.b, color="tab:orange", lw=1)
    ax1.axhline(-flow.eta, color="tab:blue", ls=":", lw=1, label=r"target $-\eta$ of $a_j$")
    ax1.axhline(1.0, color="tab:orange", ls=":", lw=1, label=r"target 1 of $b_j$")
    ax1.plot([], [], color="tab:blue", label=r"$a_j$ = eigenvalues of $V_{31}$")
    ax1.plot([], [], color="tab:orange", label=r"$b_j$ = eigenvalues of $W_{13}$")
    ax1.set_ylabel("eigenvalue")
    ax2.set_ylabel("population CoT loss")
    ax2.loglog(t, np.maximum(traj.loss, 1e-18), color="k")
    boundary = summary["stage_boundary"]
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("gradient-flow time $t$")
        if np.isfinite(boundary):
            ax.axvspan(t[0], boundary, color="tab:blue", alpha=0.07, label=r"stage 1: $V_{31}$ moves")
            ax.axvspan(boundary, t[-1], color="tab:orange", alpha=0.07, label=r"stage 2: $W_{13}$ moves")
    ax1.set_title(f"{flow.mode} flow, $d$ = {flow.d}, $n$ = {flow.n}, $k$ = {flow.k}, $\\eta$ = {flow.eta}")
    ax1.legend(fontsize=8, loc="center left")
    ax2.set_title("population CoT loss")
    fig.tight_layout()
    return fig


def plot(flow, traj, summary: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = figure(flow, traj, summary)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def check_args(args: argparse.Namespace) -> None:
    """Every option that the integration itself does not check, before any work: table rows, seed, sample
    size and the output paths (their folder must exist; nothing is created)."""
    positive_int(args.rows, "rows", "rows of the printed table")
    if isinstance(args.seed, bool) or not isinstance(args.seed, int) or args.seed < 0:
        raise ProofCheckError(f"seed must be a non-negative integer (got seed={args.seed!r})")
    if args.samples is not None and (args.samples < 2):
        raise ProofCheckError(f"samples (the size of the Wishart sample) must be at least 2, for a standard error "
                              f"(got samples={args.samples!r})")
    if args.json is not None and args.plot is not None and args.json.resolve() == args.plot.resolve():
        raise ProofCheckError(f"--json and --plot name the same file ({args.json})")
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None:
            writable_output(path, flag)


def run(args: argparse.Namespace, out=None, err=None) -> dict:
    out, err = out or sys.stdout, err or sys.stderr
    from tqdm import tqdm

    from dynamics.gd_cot import DEFAULT_SAMPLES, assumption41_init, integrate_flow, reduced_flow, time_grid
    from verify.evidence import to_jsonable

    check_args(args)
    started = time.perf_counter()
    flow = reduced_flow(args.d, args.n, args.k, args.eta, mode=args.mode,
                        n_samples=args.samples or DEFAULT_SAMPLES, seed=args.seed)
    y0 = assumption41_init(flow, args.init_scale, args.seed)
    # a progress bar on stderr for integrations longer than 2 s (tqdm's delay); gone when done
    with tqdm(total=float(args.t_max), file=err, delay=2.0, leave=False, desc="integrating",
              bar_format="{desc}: t = {n:.4g} / {total:g} {bar} {elapsed}") as bar:
        def progress(t):
            bar.update(max(0.0, min(float(t), bar.total) - bar.n))

        traj = integrate_flow(flow, y0, args.t_max, t_eval=time_grid(args.t_max, 81), progress=progress)
    summary = summarize(flow, traj)
    seconds = time.perf_counter() - started
    params = dict(d=flow.d, n=flow.n, k=flow.k, eta=flow.eta, init_scale=args.init_scale, t_max=args.t_max,
                  seed=args.seed, mode=flow.mode, n_samples=flow.n_samples,
                  loss_coefficient_max_rel_se=float(np.max(np.abs(np.array(flow.coeff_se))
                                                           / np.maximum(np.abs(np.array(flow.coeffs)), 1e-300))),
                  rtol=1e-9, atol=1e-12, method="LSODA")
    if not args.quiet:
        print(f"reduced CoT gradient flow ({flow.mode}): d={flow.d} n={flow.n} k={flow.k} eta={flow.eta} "
              f"init_scale={args.init_scale} t_max={args.t_max:g}", file=out)
        print(_table(traj, args.rows), file=out)
    converged = summary["distance_to_fixed_point"] < 1e-6
    print(f"limit: max|a_j + eta| = {summary['max_abs_a_plus_eta']:.2e}, max|b_j - 1| = "
          f"{summary['max_abs_b_minus_1']:.2e}, loss = {summary['final_loss']:.2e}  ->  "
          + ("reached (V31, W13) = (-eta I, I)" if converged else "NOT at (-eta I, I) (longer --t-max?)"), file=out)
    print(f"stages: V31 half-way at t = {summary['t_a_half']:.3g}, W13 half-way at t = {summary['t_b_half']:.3g}, "
          f"boundary (W13 speed overtakes V31) at t = {summary['stage_boundary']:.3g}; "
          f"{seconds:.2f} s ({traj.n_rhs} RHS evaluations)", file=out)
    result = {"params": params, "t": traj.t.tolist(), "a": _values(traj.a, flow.mode),
              "b": _values(traj.b, flow.mode), "loss": traj.loss.tolist(), "summary": summary,
              "converged": converged, "seconds": seconds}
    if args.json:  # non-finite values as {"nonfinite": ...}, never bare NaN (results.json's convention)
        args.json.write_text(json.dumps(to_jsonable(result), indent=1, allow_nan=False))
    if args.plot:
        plot(flow, traj, summary, args.plot)
    return result


def _values(x: np.ndarray, mode: str) -> list:
    return x[:, 0].tolist() if mode == "scalar" else x.tolist()


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        result = run(args)
    except ProofCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0 if result["converged"] else 1


if __name__ == "__main__":
    sys.exit(main())
