"""Evaluation variants: look and placement split, and the evaluation seeds."""

from __future__ import annotations

import numpy as np
import pytest

from simhum.cli import main
from simhum.evaluate import EVAL_SEED_OFFSET
from simhum.lockstep import episode_spec, evaluate_lockstep
from simhum.variants import VARIANTS, evaluation_seeds, get_variant
from simhum_sim_bridge.grid import PlacementGrid
from simhum_sim_bridge.rollout import sample_episode


def test_variants_are_looks_on_grid_splits() -> None:
    assert {name: (v.domain, v.split) for name, v in VARIANTS.items()} == {
        "real": ("real", "in"),
        "real_ood_background": ("real_ood_background", "in"),
        "real_ood_distractors": ("real_ood_distractors", "in"),
        "real_ood_lighting": ("real_ood_lighting", "in"),
        "outer_grid": ("real", "out"),
    }


def test_unknown_variant_names_it_and_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown variant 'sim_dark'") as err:
        get_variant("sim_dark")
    assert all(name in str(err.value) for name in VARIANTS)
    with pytest.raises(ValueError, match="unknown variant 'sim_dark'"):
        evaluate_lockstep("never_loaded.onnx", "pick_place", ["real", "sim_dark"], [0])
    with pytest.raises(SystemExit, match="error: unknown variant 'sim_dark'"):
        main(["lockstep", "--policy", "never_loaded.onnx", "--variants", "sim_dark"])


def test_validation_and_evaluation_seeds_are_disjoint() -> None:
    validation = set(evaluation_seeds(1000, "validation"))
    assert validation.isdisjoint(evaluation_seeds(1000)) and min(validation) == 200_000
    with pytest.raises(ValueError, match="unknown seed set 'test'"):
        evaluation_seeds(1, "test")


@pytest.mark.parametrize(("variant", "split"), [("real", "in"), ("outer_grid", "out")])
def test_objects_are_placed_on_the_variant_split(variant: str, split: str) -> None:
    grid = PlacementGrid()
    centres = grid.centres(split)
    for seed in evaluation_seeds(5):
        _, look, layout = sample_episode(episode_spec("pick_place", variant, seed))
        assert look.domain == "real"
        for pose in layout.values():
            gap = np.abs(centres - pose[:2]).max(axis=1).min()
            assert gap <= grid.jitter + 1e-12


def test_evaluation_seeds_start_at_the_offset() -> None:
    assert list(evaluation_seeds(3)) == [EVAL_SEED_OFFSET + k for k in range(3)]
