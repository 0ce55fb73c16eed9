"""The scripted expert's own action chunks, fed through the deployment path (the lock-step
evaluator with the policy node's PolicyController: temporal ensembling, IK, safety limits,
then the bridge's trajectory executor), succeed on every task: what a perfect relative_ee
policy would achieve, so a failure here is the deployment path's."""

from __future__ import annotations

import numpy as np
import pytest
from expert_oracle import ExpertOracleSource

from simhum.evaluate import VariantResult
from simhum.lockstep import LockstepSettings, evaluate_lockstep
from simhum.variants import evaluation_seeds
from simhum_sim_bridge.tasks import TASKS


@pytest.mark.parametrize("task", sorted(TASKS))
def test_expert_oracle_succeeds_through_the_deployment_path(task: str) -> None:
    seeds = list(evaluation_seeds(20))
    (real,) = evaluate_lockstep(
        ExpertOracleSource(),
        task,
        ["real"],
        seeds,
        workers=2,
        settings=LockstepSettings(render=False),  # the oracle does not look
        progress=False,
    )
    assert set(real) == {*VariantResult("real").summary(), "outcomes"}
    assert [o["seed"] for o in real["outcomes"]] == seeds
    assert all(o["latencies_ms"] for o in real["outcomes"])  # it commanded through the node code
    failed = [o["seed"] for o in real["outcomes"] if not o["success"]]
    assert real["success_rate"] >= 0.95, f"{task}: the oracle failed seeds {failed}"


def test_lockstep_commands_reach_the_arm_after_the_latency() -> None:
    """The first command acts ``command_latency_s`` after its observation: by the second
    control tick the arm has moved less, and the oracle still succeeds."""
    seeds = list(evaluation_seeds(1))
    runs = {
        latency: evaluate_lockstep(
            ExpertOracleSource(),
            "pick_place",
            ["real"],
            seeds,
            settings=LockstepSettings(render=False, command_latency_s=latency),
            progress=False,
        )[0]["outcomes"][0]
        for latency in (0.0, 0.06)
    }
    moved = {k: np.abs(np.subtract(o["path"][1], o["path"][0])).max() for k, o in runs.items()}
    assert moved[0.06] < 0.7 * moved[0.0], moved
    assert runs[0.06]["success"]
    with pytest.raises(ValueError, match="command_latency_s"):
        LockstepSettings(command_latency_s=-0.01)
