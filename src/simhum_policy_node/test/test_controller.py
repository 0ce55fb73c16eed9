"""The control step without ROS: ensembling in effect, history, the watchdog, episode
resets, relative actions against training's encoding, the joint-position action space,
bounded steps from the last command, a non-finite output, warm-up, and the tool frame."""

from __future__ import annotations

import json

import numpy as np
import pytest
from toy_policy import (
    CHUNK,
    fail_on_lit_pixels,
    nan_velocity,
    write_joint_position_policy,
    write_relative_ee_policy,
)

from simhum_core.kinematics import IKSolver, start_configuration
from simhum_core.onnx_policy import OnnxPolicy, PolicyContractError
from simhum_core.pose_math import pose_to_vector, vector_to_pose
from simhum_policy_node.controller import PolicyController
from simhum_policy_node.safety import SafetyLimits, safe_command
from simhum_train.action_space import action_spaces
from simhum_train.keys import ROBOT

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


def test_a_policy_for_another_tool_frame_is_refused(tmp_path, robot) -> None:
    """Relative actions are poses of the tool frame the policy was trained with: on another
    tool frame every target would be off by the offset between the two, so it is refused."""
    q = start_configuration(robot)
    policy = joint_policy(tmp_path, robot, q, tool_frame="flange")
    with pytest.raises(
        PolicyContractError, match="trained with tool frame 'flange', this robot uses 'tcp'"
    ):
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


def rotation_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def test_relative_actions_land_on_the_pose_training_encoded(tmp_path, robot) -> None:
    """Training encodes a target as T_now^-1 T_target (the target in the current tool frame);
    the controller must compose it back on the current tool pose, T_now @ T_rel (not
    T_rel @ T_now, not the action read as a pose in the base frame), and command it."""
    ik = IKSolver(robot)
    q = start_configuration(robot)
    T_now = ik.forward(q)
    T_target = T_now.copy()
    T_target[:3, :3] = T_now[:3, :3] @ rotation_x(0.08)  # a tilt about the tool's x axis
    T_target[:3, 3] += [0.012, -0.008, 0.01]
    space = action_spaces("relative_ee", robot.dof)[ROBOT]
    now_row = np.concatenate([pose_to_vector(T_now), [robot.aperture(q)]])
    target_row = np.concatenate([pose_to_vector(T_target), [0.4]])  # and close the gripper
    action = space.actions(now_row[None], target_row[None, None])[0, 0].astype(np.float64)
    assert np.linalg.norm(action[:3]) < 0.03  # a small move, given in the tool frame
    policy = OnnxPolicy(
        write_relative_ee_policy(tmp_path, robot, action), providers=["CPUExecutionProvider"]
    )
    controller = PolicyController(policy, robot, SafetyLimits())

    absolute = controller.absolute(np.tile(action, (CHUNK, 1)), q)
    for row in absolute:
        np.testing.assert_allclose(vector_to_pose(row[:9]), T_target, atol=1e-6)
    assert absolute[0, 9] == action[9]  # the aperture is absolute already
    assert robot.aperture(controller.to_joints(absolute[0], q)) == pytest.approx(0.4, abs=1e-5)
    assert controller.ensembler.rot6d == slice(3, 9)  # averaged rotations made rotations

    result = controller.step(np.zeros((32, 32, 3), np.uint8), q, FRESH)
    assert result.command is not None, result.reason
    reached = ik.forward(result.command)  # within the step limits: reached in one step
    np.testing.assert_allclose(reached[:3, 3], T_target[:3, 3], atol=2e-4)
    np.testing.assert_allclose(reached[:3, :3], T_target[:3, :3], atol=2e-3)


def test_commands_walk_from_the_last_command_while_the_arm_lags(tmp_path, robot) -> None:
    """Within an episode each command is bounded from the previous command, not re-planned
    from the measured joints: with an arm that has not moved yet, the commands still walk to
    the target one bounded step at a time."""
    ready = start_configuration(robot)
    target = ready.copy()
    target[robot.indices(["shoulder_pan_joint", "wrist_roll_joint"])] += 0.35
    limits = SafetyLimits(max_step_rad=0.1)
    controller = PolicyController(joint_policy(tmp_path, robot, target), robot, limits)
    assert controller.ensembler.enabled and controller.ensembler.rot6d is None
    image = np.zeros((32, 32, 3), np.uint8)
    expected = ready
    for k in range(1, 6):
        result = controller.step(image, ready, FRESH)  # the arm still measured at ready
        assert result.command is not None and result.reason == "", result.reason
        assert 1e-3 < result.inference_ms < 60_000  # milliseconds of a real model call
        expected = safe_command(robot, target, expected, controller.period, limits)
        np.testing.assert_allclose(result.command, expected, atol=1e-4)
        assert controller.step_index == k
    np.testing.assert_allclose(expected, target, atol=1e-4)  # 0.35 rad: there in 4 steps


def test_a_non_finite_output_holds_and_keeps_the_last_command(tmp_path, robot) -> None:
    q = start_configuration(robot)
    path = nan_velocity(write_joint_position_policy(tmp_path, robot, q))
    policy = OnnxPolicy(path, providers=["CPUExecutionProvider"])
    controller = PolicyController(policy, robot, SafetyLimits())
    result = controller.step(np.zeros((32, 32, 3), np.uint8), q, FRESH)
    assert result.command is None and result.reason == "model output holds NaN or infinity"
    assert result.inference_ms > 1e-3  # the model ran
    np.testing.assert_array_equal(controller.last_command, q)
    assert controller.ensembler.size == 0 and controller.step_index == 0


def test_warm_up_runs_the_model_without_touching_the_episode(tmp_path, robot) -> None:
    """Warm-up calls the model on blank inputs and reports the time per call; it leaves the
    sampler's noise stream alone, so the commands that follow are those of a cold start."""
    q = start_configuration(robot)
    target = q.copy()
    target[robot.indices(["shoulder_pan_joint"])] += 0.05
    image = np.zeros((32, 32, 3), np.uint8)
    commands = []
    for warm in (0, 3):
        policy = joint_policy(tmp_path, robot, target)
        controller = PolicyController(policy, robot, SafetyLimits(), seed=5)
        if warm:
            assert 1e-3 < controller.warm_up(warm) < 60_000  # ms per model call
            assert controller.warm_up(0) > 1e-3  # at least one call
            assert controller.step_index == 0 and controller.last_command is None
        commands.append([controller.step(image, q, FRESH).command for _ in range(3)])
    np.testing.assert_array_equal(commands[0], commands[1])
