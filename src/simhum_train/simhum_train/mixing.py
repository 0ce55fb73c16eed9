"""The co-training analysis's mixing-ratio guide: from N real and M simulated demonstrations,
the recommended share of real data in a co-training batch.

    lower = N / (N + M)          (the share the data itself has)
    upper = sqrt(N / M)          when M / N > 5, capped at 0.5; otherwise 0.5
    (never below the lower bound; raise both when the domain gap is large)

A stage may ask for it with ``mixing: auto``: it co-trains real and sim with the middle of
the range as the real share, counted from the store's demonstrations it trains on.
"""

from __future__ import annotations

import math

from simhum_train.keys import REAL, SIM

AUTO = "auto"
CAP = 0.5


def mixing_range(real: int, sim: int) -> tuple[float, float]:
    """(lower, upper) bounds of the real data's share for ``real`` and ``sim`` demos."""
    if real < 1 or sim < 1:
        raise ValueError(f"the mixing guide needs real and sim demonstrations, got {real}, {sim}")
    lower = real / (real + sim)
    upper = min(CAP, math.sqrt(real / sim)) if sim / real > 5 else CAP
    return lower, max(lower, upper)


def auto_mixing(real: int, sim: int) -> dict[str, float]:
    """The stage mixing that ``mixing: auto`` stands for: the range's middle for real."""
    lower, upper = mixing_range(real, sim)
    share = (lower + upper) / 2
    return {REAL: share, SIM: 1.0 - share}


def guide_line(mixing: dict[str, float], real: int, sim: int) -> str:
    """What the training command prints for a stage that mixes real and sim data."""
    lower, upper = mixing_range(real, sim)
    share = mixing[REAL] / (mixing[REAL] + mixing[SIM])
    verdict = "within" if lower - 1e-9 <= share <= upper + 1e-9 else "OUTSIDE"
    return (
        f"mixing guide: {real} real and {sim} sim demonstrations -> real share "
        f"{lower:.3f}..{upper:.3f}; this stage's real share {share:.3f} is {verdict} it"
    )
