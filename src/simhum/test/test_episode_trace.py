"""Episode traces: the lock-step evaluator keeps the moved object's position at every control
tick, and each episode is told apart as a success, an object never touched or an object
moved to the wrong place."""

from __future__ import annotations

import numpy as np
import pytest
from expert_oracle import ExpertOracleSource

from simhum.episode_trace import MOVED_M, add_traces, describe, tool_path, trace_episode
from simhum.lockstep import LockstepSettings, evaluate_lockstep
from simhum.variants import evaluation_seeds
from simhum_core.kinematics import IKSolver
from simhum_core.paths import default_urdf
from simhum_core.robot import load_robot
from simhum_sim_bridge.rollout import ready_pose
from simhum_sim_bridge.tasks import get_task


@pytest.fixture(scope="module")
def ik() -> IKSolver:
    return IKSolver(load_robot(str(default_urdf()), tool_frame="tcp"))


@pytest.mark.parametrize("name", ["pick_place", "push"])
def test_an_oracle_episode_traces_the_object_it_moves(name: str, ik: IKSolver) -> None:
    task = get_task(name)
    (real,) = evaluate_lockstep(
        ExpertOracleSource(),
        name,
        ["real"],
        list(evaluation_seeds(1)),
        settings=LockstepSettings(render=False),
        progress=False,
    )
    (outcome,) = real["outcomes"]
    assert outcome["success"]
    obj = np.asarray(outcome["object_path"])
    assert obj.shape == (len(outcome["path"]), 3)
    start = np.asarray(outcome["layout"][task.moved_object][:2])
    assert np.linalg.norm(obj[0, :2] - start) < 0.005  # it starts where the layout put it
    # tracked at every tick: it moves over many ticks, and never further between two than the
    # cube's drop into the bin (5.5 cm); the goal is 12 cm or more from its start
    assert np.sum(np.linalg.norm(obj - obj[0], axis=1) > 0.01) > 5
    assert np.linalg.norm(np.diff(obj, axis=0), axis=1).max() < 0.08
    ((traced,),) = (v["outcomes"] for v in add_traces([real], task, ik))
    assert traced["kind"] == "success"
    assert traced["object_moved_m"] > 0.05
    assert traced["tool_closest_m"] < 0.05  # the tool reached it
    assert traced["goal_distance_m"] < 0.05  # it ended at the goal


def test_failures_are_told_apart_by_what_happened_to_the_object(ik: IKSolver) -> None:
    task = get_task("push")
    q = ready_pose(ik.robot)
    tool = tool_path(ik, [q])[0]
    block = tool + np.array([0.10, 0.0, 0.0])  # 10 cm from the tool, which stays put
    layout = {"block": (*block[:2], 0.0), "target": (block[0] + 0.12, block[1], 0.0)}
    still = {"seed": 1, "success": False, "path": [q] * 3, "object_path": [block] * 3}
    x = np.array([1.0, 0.0, 0.0])
    pushed = [block, block + 0.03 * x, block + 0.06 * x]
    episodes = [
        {**still, "layout": layout},
        {**still, "layout": layout, "object_path": pushed},
        {**still, "layout": layout, "object_path": pushed, "success": True},
        # nudged 4 mm toward the tool: under MOVED_M, still untouched
        {**still, "layout": layout, "object_path": [block, block, block - 0.004 * x]},
    ]
    assert 0.004 < MOVED_M
    traces = [trace_episode(e, task, ik) for e in episodes]
    assert [t.kind for t in traces] == ["untouched", "missed", "success", "untouched"]
    assert traces[0].tool_closest_m == pytest.approx(0.10, abs=1e-9)
    assert traces[1].object_moved_m == pytest.approx(0.06)
    assert traces[1].goal_distance_m == pytest.approx(0.06)
    (variant,) = add_traces([{"variant": "real", "outcomes": episodes}], task, ik)
    assert variant["failures"] == {
        "success": 1,
        "untouched": 2,
        "missed": 1,
        "untouched_tool_closest_m": pytest.approx(0.098, abs=1e-9),  # 10 and 9.6 cm
        "missed_goal_distance_m": pytest.approx(0.06),
    }
    assert describe(variant["failures"]) == (
        "success 1, untouched 2 (tool closest median 9.8 cm), missed 1 (to goal median 6.0 cm)"
    )
    with pytest.raises(ValueError, match="2 object positions for 3 joint states"):
        trace_episode({**episodes[0], "object_path": [block] * 2}, task, ik)
