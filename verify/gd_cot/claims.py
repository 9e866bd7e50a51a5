"""Claims of Huang, Wang, Lee (ICLR 2025): statements, formulas and provenance (digest: shared/theory/gd_cot.md)."""

from verify.claims import Claim, Paper

PAPER = Paper(
    id="gd_cot",
    title="Transformers Learn to Implement Multi-step Gradient Descent with Chain of Thought",
    authors="Jianhao Huang, Zixuan Wang, Jason D. Lee",
    venue="ICLR 2025 (arXiv 2502.21212)",
    digest="shared/theory/gd_cot.md",
)

CLAIMS = [
    Claim(
        id="gd_cot.theorem3_2",
        title="Theorem 3.2 (CoT construction implements multi-step GD)",
        statement=("The sparse LSA with V31 = -eta I, W13 = I, W24 = -1, rolled out autoregressively on the "
                   "growing Z (whole last column appended, no mask), reproduces the GD iterates; "
                   "w_k - w* = -(I - eta S)^k w*."),
        provenance="derived",
        formula=("f_LSA(Z_i)[:, -1] = (0, 0, w_i + A S (B w_i - w*), 1);  A = -eta I, B = I  =>  "
                 "w_(i+1) = w_i - eta S (w_i - w*),  w_k - w* = -(I - eta S)^k w*"),
        formula_typst=("f_\"LSA\"(Z_i)_(:, -1) = (0, 0, hat(w)_i + A S (B hat(w)_i - w^*), 1), quad "
                       "hat(w)_(i+1) = hat(w)_i - eta S (hat(w)_i - w^*), quad "
                       "hat(w)_k - w^* = -(I - eta S)^k w^*"),
        notes=("Block pattern from the paper's Lemma C.2 as quoted by arXiv 2603.01293 [P-2603]; the nonzero values "
               "(-eta I, I, -1) are the ones that yield GD [D]. The paper's eta, k and n range are not known [?]: "
               "the check holds for every eta > 0 and is run over a range."),
        sources=("digest section 5", "2603.01293 eq. A.1"),
    ),
    Claim(
        id="gd_cot.theorem3_1",
        title="Theorem 3.1 (without CoT the optimum is one GD step)",
        statement=("Without CoT, the global minimiser of the one-layer LSA (dense V, W, one pass from Z_0, trained "
                   "on w*) outputs one GD step from 0 with eta* = n/(n+d+1); general Sigma: M* = Gamma^-1."),
        provenance="derived",
        formula=("w_hat = M S w* + (even in w*);  L(eta) = (1/2) E||(eta S - I) w*||^2 = (1/2)[d (1-eta)^2 + "
                 "eta^2 d (d+1)/n];  eta* = n/(n+d+1);  min L = d(d+1) / (2 (n+d+1));  "
                 "M* = Gamma^-1, Gamma = ((n+1)/n) Sigma + (tr Sigma / n) I"),
        formula_typst=("eta^* = n/(n+d+1), quad min_(V, W) 1/2 EE norm(hat(w) - w^*)^2 = (d(d+1))/(2(n+d+1)), "
                       "quad M^* = Gamma^(-1), quad Gamma = (n+1)/n Sigma + (tr Sigma)/n I"),
        notes=("The claim is from the reviews [P-rev]; its exact form is derived [D]. Loss convention: the reported "
               "loss carries the factor 1/2 (L = (1/2) E||w_hat - w*||^2, re-pinnable as LOSS_FACTOR); the "
               "unhalved squared error is d(d+1)/(n+d+1)."),
        sources=("digest section 6",),
    ),
    Claim(
        id="gd_cot.corollary3_1",
        title="Corollary 3.1 (no-CoT loss is Theta(d^2/n))",
        statement=("The no-CoT minimum squared error d(d+1)/(n+d+1) is Theta(d^2/n): d^2/(2n) <= d(d+1)/(n+d+1) "
                   "<= 2 d^2/n for n >= d+1; trained no-CoT models track it."),
        provenance="derived",
        formula="d^2/(2n) <= d(d+1)/(n+d+1) <= 2 d^2/n   for n >= d+1, d >= 1  (squared error, no 1/2)",
        formula_typst="(d^2)/(2n) <= (d(d+1))/(n+d+1) <= (2 d^2)/n, quad n >= d+1",
        notes=("Theta(d^2/n) is from third-party summaries [P-sum]; the exact value and the sandwich are derived [D]. "
               "The sandwich is stated on the unhalved squared error (twice the reported loss)."),
        sources=("digest section 6",),
    ),
    Claim(
        id="gd_cot.lemmaC_2",
        title="Lemma C.2 (CoT gradient flow keeps the sparse pattern)",
        statement=("At every point with V nonzero only in V31 and W only in W13 and W24, the population gradient of "
                   "the teacher-forced CoT loss is zero outside those blocks, so gradient flow started there stays there."),
        provenance="paper",
        formula=("V = V31 (w-rows, x-cols), W = W13 (x-rows, w-cols) + W24 (y-row, const-col)  =>  "
                 "E[dL/dV]_off = 0, E[dL/dW]_off = 0"),
        formula_typst=("EE [(partial L)/(partial V)]_\"off\" = 0, quad EE [(partial L)/(partial W)]_\"off\" = 0 "
                       "quad \"at\" V = V_(31), W = W_(13) + W_(24)"),
        notes=("Statement quoted from the paper's Lemma C.2 by arXiv 2603.01293 [P-2603], which says the proof uses "
               "only the symmetry w* -> -w* and that the w_i are odd in w*. The check is that argument, exactly: "
               "per task, every off-pattern gradient entry is either exactly 0 or odd in w*. Whether the paper "
               "trains W24 or fixes it is not known [?]; here it is trained (part of the pattern)."),
        sources=("digest section 7.1",),
    ),
]
