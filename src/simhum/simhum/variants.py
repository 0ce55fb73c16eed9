"""The evaluation variants in one place: each is a scene look (a domain of sample_look and
EpisodeSpec.domain) on a split of the placement grid; evaluation seeds are
EVAL_SEED_OFFSET + k, disjoint from every demonstration seed.

- ``real``: the proxy-real lab look on the in-distribution (inner) grid;
- ``real_ood_background``, ``real_ood_distractors``, ``real_ood_lighting``: unseen looks,
  in-distribution grid;
- ``outer_grid``: the proxy-real look on the held-out outer ring of the grid (split ``out``).
"""

from __future__ import annotations

from dataclasses import dataclass

from simhum.evaluate import EVAL_SEED_OFFSET


@dataclass(frozen=True)
class Variant:
    """Where an evaluation episode happens: the look's domain and the placement split."""

    domain: str
    split: str


VARIANTS: dict[str, Variant] = {
    "real": Variant("real", "in"),
    "real_ood_background": Variant("real_ood_background", "in"),
    "real_ood_distractors": Variant("real_ood_distractors", "in"),
    "real_ood_lighting": Variant("real_ood_lighting", "in"),
    "outer_grid": Variant("real", "out"),
}


def get_variant(name: str) -> Variant:
    """The variant called ``name``; an unknown name is a ValueError listing the known ones."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant '{name}'; known variants: {list(VARIANTS)}")
    return VARIANTS[name]


VALIDATION_SEED_OFFSET = 200_000  # closed-loop rollouts that settings may be chosen on
SEED_SETS = {"evaluation": EVAL_SEED_OFFSET, "validation": VALIDATION_SEED_OFFSET}


def evaluation_seeds(episodes: int, seed_set: str = "evaluation") -> range:
    """The seeds of ``episodes`` episodes of a seed set: its offset + k. Evaluation seeds
    report results; validation seeds are the only ones settings may be tuned on."""
    if seed_set not in SEED_SETS:
        raise ValueError(f"unknown seed set '{seed_set}'; use one of {list(SEED_SETS)}")
    return range(SEED_SETS[seed_set], SEED_SETS[seed_set] + episodes)
