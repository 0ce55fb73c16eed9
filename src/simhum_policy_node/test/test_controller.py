"""The control step without ROS: ensembling in effect, history, and the watchdog."""

from __future__ import annotations

import numpy as np

from simhum_description.kinematics import start_configuration
from simhum_policy_node.controller import PolicyController
from simhum_policy_node.onnx_policy import OnnxPolicy
from simhum_policy_node.safety import SafetyLimits


def run(policy: OnnxPolicy, robot, ensemble: bool, steps: int = 6) -> np.ndarray:
    controller = PolicyController(policy, robot, SafetyLimits(), ensemble=ensemble, seed=3)
    q = start_configuration(robot)
    rng = np.random.default_rng(0)
    c = policy.contract
    commands = []
    for _ in range(steps):
        image = rng.integers(0, 255, (c.image_height, c.image_width, 3), dtype=np.uint8)
        result = controller.step(image, q, {"camera": 0.01, "joint_states": 0.01})
        assert result.command is not None, result.reason
        commands.append(result.command)
        q = result.command
    if ensemble:
        assert controller.ensembler.size == min(steps, c.chunk_length)
    return np.array(commands)


def test_temporal_ensembling_is_in_effect(tiny_policy, robot) -> None:
    policy = OnnxPolicy(tiny_policy, providers=["CPUExecutionProvider"])
    with_ensemble, without = run(policy, robot, True), run(policy, robot, False)
    np.testing.assert_allclose(with_ensemble[0], without[0])  # one chunk: the same
    assert np.abs(with_ensemble[1:] - without[1:]).max() > 1e-6  # then ensembling acts


def test_stale_observation_computes_no_command(tiny_policy, robot) -> None:
    policy = OnnxPolicy(tiny_policy, providers=["CPUExecutionProvider"])
    controller = PolicyController(policy, robot, SafetyLimits(stale_after_s=0.2))
    c = policy.contract
    image = np.zeros((c.image_height, c.image_width, 3), np.uint8)
    result = controller.step(
        image, start_configuration(robot), {"camera": 0.5, "joint_states": 0.0}
    )
    assert result.command is None and "camera 0.50 s old" in result.reason
    assert result.inference_ms == 0.0  # the model was not even run
