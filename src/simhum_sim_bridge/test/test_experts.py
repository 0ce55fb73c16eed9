"""Each scripted expert succeeds in at least 90% of 20 seeds, in `sim` and in `real`."""

from __future__ import annotations

import pytest

from simhum_sim_bridge.rollout import EpisodeSpec, run_episode
from simhum_sim_bridge.tasks import TASKS

SEEDS = range(20)


@pytest.mark.parametrize("domain", ["sim", "real"])
@pytest.mark.parametrize("task", sorted(TASKS))
def test_expert_success_rate(robot, camera, task: str, domain: str) -> None:
    results = [
        run_episode(robot, camera, EpisodeSpec(task, domain, seed), render=False).success
        for seed in SEEDS
    ]
    assert sum(results) >= 0.9 * len(SEEDS), f"{task}/{domain}: {results}"


def test_expert_also_works_on_held_out_positions(robot, camera) -> None:
    results = [
        run_episode(
            robot, camera, EpisodeSpec("pick_place", "sim", s, "out"), render=False
        ).success
        for s in range(10)
    ]
    assert sum(results) >= 8, results


def test_doing_nothing_fails(robot, camera) -> None:
    """The success checks are not trivially true: an idle arm never succeeds."""
    from simhum_sim_bridge.rollout import make_scene, ready_pose

    for task in TASKS:
        scene = make_scene(robot, camera, EpisodeSpec(task, "sim", 0))
        q = ready_pose(robot)
        scene.set_robot(q)
        for _ in range(500):
            scene.step(q)
        assert not scene.success(), task
