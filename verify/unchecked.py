"""Statements of the papers that the suite does NOT check, one ``(statement, reason)`` pair each, per paper id.

The claim registry (``verify/*/claims.py``) lists what is checked; this module lists the rest, so that a reader
of the report can see the gaps. Entries come from the provenance pages (``docs/provenance/<paper>.md``: the
claim tables, the "Suggested checks" sections and the items marked [?] / [NF]) compared with the existing claims.
A statement whose exact form is unknown but whose stand-in is checked is listed here only for the part that no
stand-in covers. Reasons are short: "not known" means the sources do not give the statement precisely enough to
test; "not built" means it could be checked but no check exists yet.

``tests/test_provenance.py`` checks that every paper id is in the registry and every entry is two non-empty
strings.
"""

from __future__ import annotations

UNCHECKED: dict[str, list[tuple[str, str]]] = {
    "gd_cot": [
        ("Theorem 4.1's quantitative regime and rate: with n and k tied to d (n 'bounded by d log^5 d'), the final "
         "evaluation loss is O(1/poly(d)), reached within a stated time",
         "not known: exponents, constants, direction of the n condition and the time bound are [?] "
         "(docs/provenance/gd_cot.md §7.4); the limit (-eta I, I) is checked, and a reconstructed regime (n = 4d, "
         "k = ceil(10 ln d), eta = 0.3: the limit's loss falls like d^-1.2) stands in for the paper's"),
        ("Assumption 4.1 as stated (the scale sigma, e.g. sigma < 1/2, and the shared-eigenvalue condition)",
         "not known (docs/provenance/gd_cot.md §7.3); a reconstructed initialisation is used instead"),
        ("The paper's own two-stage characterisation (which quantities move in which stage, stage durations) and "
         "its per-eigenvalue ODEs",
         "not known (docs/provenance/gd_cot.md §7.2); the suite checks its own reading, V31 before W13"),
        ("Theorem 4.2's spectrum interval for Sigma and its OOD bound",
         "not known (docs/provenance/gd_cot.md §7.5); one chosen interval, [1/2, 2], is checked"),
        ("Theorem 4.3 as stated: looped transformers 'significantly improve' over non-looped ones, with the paper's "
         "setup, loss and bound",
         "not known (docs/provenance/gd_cot.md §7.6); only a reconstruction (optimum of the looped LSA) is checked"),
        ("The paper's own softmax-attention experiments (architecture, sizes, numbers)",
         "not known (docs/provenance/gd_cot.md §8, [?]); the suite checks a reconstruction (gd_cot.softmax: a "
         "two-head softmax layer on the LSA's tokens), not the paper's runs"),
        ("The numeric loss values and training hyperparameters of Figures 2 and 3 (optimiser, learning rate, "
         "steps, batch, CoT step eta)",
         "not known (docs/provenance/gd_cot.md §8); the suite uses its own settings and closed-form targets"),
    ],
    "tree_paths": [
        ("The generalisation bounds of Theorems 4 and 6 as printed, and their stated dependence on the training-set "
         "size",
         "not known (bounds [NF], docs/provenance/tree_paths.md §6.1); tree_paths.train_size measures the trend of "
         "the error against the number of distinct training trees instead"),
        ("The paper's statement that models without CoT need depth (a lower bound or separation for no-CoT models)",
         "not known: abstract-level only [A] (docs/provenance/tree_paths.md §1); tree_paths.cot_vs_depth checks a "
         "reconstructed one-layer no-CoT baseline, not a lower bound, and no deeper no-CoT model is trained"),
        ("Theorems 1-2 as printed: the paper's token layout, matrices and scale parameter",
         "not known [NF] (docs/provenance/tree_paths.md §4.1, §5.1); only the [R] constructions are checked"),
        ("The rates, step-size conditions and iteration counts of Theorems 3 and 5",
         "not known [NF] (docs/provenance/tree_paths.md §6.1); convergence and phases are measured, not compared"),
        ("The phase order and phase boundaries of the forward training dynamics (Theorem 5)",
         "not known [NF] (docs/provenance/tree_paths.md §6.2); phases are reported, not checked against the paper"),
        ("Test-time generation feeding back the raw output vector instead of the decoded node",
         "not known which the paper uses [NF] (docs/provenance/tree_paths.md §2.1, §7); the suite decodes by argmax"),
        ("The Appendix A curves: training and test losses, H_{1,1}, H_{1,2} and U_l, V_l trajectories, iteration "
         "counts",
         "values not known [NF] (docs/provenance/tree_paths.md §7)"),
        ("Differences between arXiv v1 and v2 (the NeurIPS camera-ready)",
         "not known (docs/provenance/tree_paths.md §8); no version is available to compare"),
    ],
    "pattern_cot": [
        ("Theorem 2's 'error 0' for test patterns only partly in span{TRR} at large l_ts, and the number of "
         "examples needed as a function of the in-span fraction",
         "pattern_cot.theorem2_span checks the in-span case against the oracle and that the error falls in l_ts for "
         "partial fractions at l_ts <= 100 only; larger l_ts and an l*(fraction) law are not measured"),
        ("Theorem 2's noise magnitude as the paper bounds it",
         "not known [NF]; pattern_cot.theorem2_noise sweeps norms 0-0.7 of uniform-direction noise [I]"),
        ("Theorem 1 with unbalanced patterns: the iterations the rare class needs as a function of its weight",
         "pattern_cot.theorem1_balance measures two iteration counts (400 and 1000), not T(r)"),
        ("Theorem 1's batch-size condition at its constant (the B needed for a given eps) and jointly with T",
         "pattern_cot.theorem1_batch checks the trend of the batch part of the loss at fixed T; the constant is [NF] "
         "and the joint (B, T) scaling is not measured"),
        ("Theorem 1's iteration growth in M and 1/eps (the MK(1/alpha + 1/eps) term) on trained models",
         "not built: iterations are measured against 1/alpha and K only; the M and eps directions are too costly"),
        ("Theorem 1's condition l_tr >= Omega(1/alpha) as a requirement: training with fewer context examples fails",
         "not built: training runs use l_tr proportional to 1/alpha"),
        ("The quantitative attention bound of the Proposition",
         "not known [NF] (docs/provenance/pattern_cot.md §5, Proposition); dominance is checked against 1/2"),
        ("The formal multi-layer extension",
         "not known [NF] (docs/provenance/pattern_cot.md §5, Multi-layer extension); only the 3-layer figure's "
         "pattern is checked"),
        ("The values of the six sweep panels (CoT: alpha', tau, rho; ICL: alpha', tau_o, rho_o) read off the figures",
         "readings are +-30 % [F] and the tasks behind them are [NF] (docs/provenance/pattern_cot.md §7); only "
         "orderings and trends are checked"),
        ("The exact theorem constants, log factors and the step size eta",
         "not known [NF] (docs/provenance/pattern_cot.md Provenance); checks test scaling and monotonicity only"),
    ],
}
