"""The control step without ROS: ensembling in effect, history, the watchdog, episode
resets, and the joint-position action space."""

from __future__ import annotations

import json

import numpy as np
import pytest
from toy_policy import fail_on_lit_pixels, write_joint_position_policy

from simhum_description.kinematics import start_configuration
from simhum_policy_node.controller import PolicyController
from simhum_policy_node.onnx_policy import OnnxPolicy, PolicyContractError
from simhum_policy_node.safety import SafetyLimits, safe_command

FRESH = {"camera": 0.01, "joint_states": 0.01}


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


def joint_policy(folder, robot, target: np.ndarray, **overrides: str) -> OnnxPolicy:
    path = write_joint_position_policy(folder, robot, target, **overrides)
    return OnnxPolicy(path, providers=["CPUExecutionProvider"])


def test_joint_position_policy_commands_its_joint_targets(tmp_path, robot) -> None:
    q = start_configuration(robot)
    target = q.copy()
    target[robot.indices(robot.arm_joint_names)] += 0.05  # within one step's limits
    controller = PolicyController(joint_policy(tmp_path, robot, target), robot, SafetyLimits())
    image = np.zeros((32, 32, 3), np.uint8)
    for _ in range(3):
        result = controller.step(image, q, FRESH)
        assert result.command is not None, result.reason
        np.testing.assert_allclose(result.command, target, atol=1e-4)


def test_joint_position_layout_must_name_its_slice(tmp_path, robot) -> None:
    q = start_configuration(robot)
    layout = json.dumps([["joints", 0, robot.dof]])
    policy = joint_policy(tmp_path, robot, q, action_layout=layout)
    with pytest.raises(PolicyContractError, match=r"lacks \['joint_positions'\]"):
        PolicyController(policy, robot, SafetyLimits())


def test_reset_starts_from_the_first_joint_state_of_the_episode(tmp_path, robot) -> None:
    """After reset(), history, ensembling and the last command start from the next step's
    joint positions, not from where the previous episode left the arm."""
    ready = start_configuration(robot)
    arm = robot.indices(robot.arm_joint_names)
    target = ready.copy()
    target[arm] += 0.6
    policy = joint_policy(tmp_path, robot, target)
    controller = PolicyController(policy, robot, SafetyLimits(max_step_rad=0.15))
    image = np.zeros((32, 32, 3), np.uint8)
    q = ready
    for _ in range(6):  # the previous episode: the arm walks to the target
        q = controller.step(image, q, FRESH).command
    assert np.abs(q - ready).max() > 0.5
    controller.reset()
    assert controller.last_command is None and controller.ensembler.size == 0
    result = controller.step(image, ready, FRESH)  # the scene put the arm back at ready
    assert result.command is not None, result.reason
    assert np.abs(result.command - ready).max() <= 0.15 + 1e-9  # one step from ready
    assert controller.ensembler.size == 1 and controller.step_index == 1
    proprio = controller.proprio_vector(ready)
    assert all(np.allclose(s, proprio) for s in controller.states)  # no previous history


def test_an_inference_failure_holds_the_arm_and_says_why(tmp_path, robot) -> None:
    q = start_configuration(robot)
    model = fail_on_lit_pixels(write_joint_position_policy(tmp_path, robot, q))
    controller = PolicyController(
        OnnxPolicy(model, providers=["CPUExecutionProvider"]), robot, SafetyLimits()
    )
    assert controller.step(np.zeros((32, 32, 3), np.uint8), q, FRESH).command is not None
    result = controller.step(np.full((32, 32, 3), 200, np.uint8), q, FRESH)
    assert result.command is None
    assert f"{model}: inference failed (InvalidArgument" in result.reason


def test_streams_the_ensembled_future_within_the_step_limits(tiny_policy, robot) -> None:
    """Each command carries the coming points of the ensembled chunks (IK per point), every
    point within one control step's limits of the point before it."""
    policy = OnnxPolicy(tiny_policy, providers=["CPUExecutionProvider"])
    limits = SafetyLimits()
    controller = PolicyController(policy, robot, limits, stream_points=4, seed=1)
    c = policy.contract
    q = start_configuration(robot)
    image = np.random.default_rng(2).integers(0, 255, (c.image_height, c.image_width, 3))
    for _ in range(3):
        result = controller.step(image.astype(np.uint8), q, FRESH)
        assert result.trajectory is not None and result.trajectory.shape == (4, robot.dof)
        steps = np.abs(np.diff(np.vstack([q, result.trajectory]), axis=0))
        assert np.all(
            steps <= np.minimum(robot.velocity / c.control_hz, limits.max_step_rad) + 1e-9
        )
        np.testing.assert_allclose(result.command, result.trajectory[0])
        # the second point is the ensembler's action for the next step, through IK and limits
        action = controller.ensembler.action(controller.step_index)
        ik = controller.to_joints(action, result.command)
        expected = safe_command(robot, ik, result.command, 1 / c.control_hz, limits)
        np.testing.assert_allclose(result.trajectory[1], expected, atol=1e-9)
        q = result.command
    with pytest.raises(ValueError, match="stream_points"):
        PolicyController(policy, robot, limits, stream_points=c.chunk_length + 1)
