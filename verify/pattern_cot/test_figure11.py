"""pattern_cot.figure11: in a 3-layer model every layer has a head that concentrates like the one-layer model."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from constructions.pattern_cot.model import CATEGORIES
from verify.evidence import known_failure
from verify.pattern_cot.helpers import THREE, trained_three_layer

pytestmark = pytest.mark.claim("pattern_cot.figure11")

DOMINANT = 0.5  # derived in proposition1: above it the head's read-out is correct whatever the rest does
FIGURE_FINAL = (0.8, 0.8, 0.7)  # 'same TSR, same step' of Head 2 in layers 1, 2, 3, read by eye [F]


@known_failure("does not hold in this reconstruction: after training only layer 1 has a "
               "concentrating head; layers 2 and 3 stay near uniform (see the record's measured values)")
def test_every_layer_has_a_concentrating_head(evidence, profile):
    model, geom, log = trained_three_layer(profile)
    m = np.array(log.masses)  # (records, layers, heads, 4)
    best = m[-1, :, :, 0].max(axis=1)
    evidence.describe(f"3-layer, 2-head attention-only model ({THREE}), SGD: in every layer the best head's final "
                      "mass on same-pattern, same-step columns exceeds 1/2 (the authors' figure: about 0.8 / 0.8 / 0.7)",
                      final_best_head=best.tolist(), figure=FIGURE_FINAL,
                      final_masses=m[-1].tolist(), seconds_per_step=log.seconds_per_step)
    fig, axes = plt.subplots(1, THREE["layers"], figsize=(12, 3.4), sharey=True)
    for ell, ax in enumerate(axes):
        h = int(m[-1, ell, :, 0].argmax())
        for j, name in enumerate(CATEGORIES):
            ax.plot(log.record_steps, m[:, ell, h, j], label=name)
        ax.axhline(DOMINANT, ls=":", color="gray")
        ax.set_title(f"layer {ell + 1}, head {h + 1} (best)")
        ax.set_xlabel("SGD iteration")
    axes[0].set_ylabel("attention mass of the query")
    axes[0].legend(fontsize=7)
    fig.suptitle("Figure 11 (reproduced): 3-layer model, best head per layer")
    evidence.save_figure(fig, "pattern_cot_figure11_three_layer")
    for ell, b in enumerate(best):
        evidence.check_ge(float(b), DOMINANT, reason="dominance threshold 1/2 (derived in proposition1)",
                          what=f"best head of layer {ell + 1}")


def test_untrained_model_has_no_concentrating_head(evidence, profile):
    _, _, log = trained_three_layer(profile)
    init = np.array(log.masses[0])[:, :, 0]
    evidence.describe("negative control (recorded as a probe so that it cannot turn this claim's verdict into a pass "
                      "while the main check fails): at initialisation no head of any layer exceeds 1/2",
                      role="probe", initial=init.tolist())
    evidence.check_le(float(init.max()), DOMINANT, reason="must not exceed 1/2", what="max head mass at init")
