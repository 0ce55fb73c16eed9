"""Temporal ensembling is in effect (and can be turned off); safety limits hold."""

from __future__ import annotations

import numpy as np
import pytest

from simhum_core.pose_math import matrix_from_rot6d, rot6d_from_matrix
from simhum_policy_node.ensembling import DEFAULT_DECAY, TemporalEnsembler
from simhum_policy_node.safety import SafetyLimits, UnsafeCommandError, check_fresh, safe_command


def test_ensembling_averages_overlapping_predictions() -> None:
    ensembler = TemporalEnsembler(chunk_length=4, decay=0.0)
    ensembler.add(0, np.full((4, 1), 0.0))
    ensembler.add(1, np.full((4, 1), 1.0))
    ensembler.add(2, np.full((4, 1), 2.0))
    assert ensembler.action(2)[0] == pytest.approx(1.0)  # mean of 0, 1, 2
    assert ensembler.action(4)[0] == pytest.approx(1.5)  # chunks 1 and 2 reach step 4
    assert ensembler.action(9) is None


def test_ensembling_weights_favour_the_newest() -> None:
    ensembler = TemporalEnsembler(chunk_length=3, decay=1.0)
    ensembler.add(0, np.zeros((3, 1)))
    ensembler.add(1, np.ones((3, 1)))
    expected = 1 / (1 + np.exp(-1.0))  # weights exp(-age): 1 for the newest, e^-1 for the other
    assert ensembler.action(1)[0] == pytest.approx(expected)
    assert ensembler.action(2)[0] == pytest.approx(expected)  # ages 1 and 2: the same ratio


def test_default_ensembling_follows_the_newest_chunk() -> None:
    """16-step chunks of a target moving one unit per step: the chunk predicted at step s
    says s; at step 15 sixteen predictions (0 to 15) overlap."""
    default, uniform = TemporalEnsembler(chunk_length=16), TemporalEnsembler(16, decay=0.0)
    for ensembler in (default, uniform):
        for step in range(16):
            ensembler.add(step, np.full((16, 1), float(step)))
    action = default.action(15)[0]
    assert abs(action - 15.0) < abs(action - 0.0)  # nearer the newest than the oldest
    assert 15.0 - action < 2.0  # lags the newest prediction by less than two steps
    assert uniform.action(15)[0] == pytest.approx(7.5)  # decay 0: the plain mean
    assert default.decay == DEFAULT_DECAY == 0.5


def test_disabled_ensembling_uses_the_latest_chunk() -> None:
    ensembler = TemporalEnsembler(chunk_length=3, enabled=False)
    ensembler.add(0, np.zeros((3, 1)))
    ensembler.add(1, np.ones((3, 1)))
    assert ensembler.action(1)[0] == 1.0 and ensembler.size == 1


def test_old_chunks_expire_and_rotations_stay_valid() -> None:
    ensembler = TemporalEnsembler(chunk_length=2, decay=0.0, rot6d=slice(0, 6))
    a = rot6d_from_matrix(np.eye(3))
    turn = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    b = rot6d_from_matrix(turn)
    ensembler.add(0, np.stack([a, a]))
    ensembler.add(1, np.stack([b, b]))
    R = matrix_from_rot6d(ensembler.action(1))
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-9)
    ensembler.add(5, np.stack([a, a]))
    assert ensembler.size == 1


def test_safe_command_limits(robot) -> None:
    previous = robot.home()
    period = 0.1
    target = previous + 10.0
    command = safe_command(robot, target, previous, period, SafetyLimits(max_step_rad=0.15))
    step = np.abs(command - previous)
    assert np.all(step <= np.minimum(robot.velocity * period, 0.15) + 1e-12)
    assert np.all(command <= robot.upper) and np.all(command >= robot.lower)
    with pytest.raises(UnsafeCommandError, match="non-finite"):
        safe_command(robot, np.full(robot.dof, np.nan), previous, period, SafetyLimits())


def test_watchdog_names_stale_streams() -> None:
    limits = SafetyLimits(stale_after_s=0.3)
    check_fresh({"camera": 0.1, "joint_states": 0.05}, limits)
    with pytest.raises(UnsafeCommandError, match=r"camera 0\.90 s old"):
        check_fresh({"camera": 0.9, "joint_states": 0.05}, limits)
    with pytest.raises(UnsafeCommandError, match="joint_states inf s old"):
        check_fresh({"camera": 0.0, "joint_states": float("inf")}, limits)


def rotation_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_averaged_rotations_come_back_as_a_rotation() -> None:
    """The mean of two 6D rotations is no rotation (its halves shrink to 0.71): the ensembler
    returns the rotation between them as a valid 6D rotation, and averages the rest as is."""
    ensembler = TemporalEnsembler(chunk_length=2, decay=0.0, rot6d=slice(3, 9))
    start = np.concatenate([[0.2, 0.0, 0.4], rot6d_from_matrix(np.eye(3)), [1.0]])
    turned = np.concatenate([[0.4, 0.2, 0.4], rot6d_from_matrix(rotation_z(np.pi / 2)), [0.0]])
    ensembler.add(0, np.stack([start, start]))
    ensembler.add(1, np.stack([turned, turned]))
    action = ensembler.action(1)
    first, second = action[3:6], action[6:9]
    assert np.linalg.norm(first) == pytest.approx(1.0)
    assert np.linalg.norm(second) == pytest.approx(1.0)
    assert first @ second == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(action[3:9], rot6d_from_matrix(rotation_z(np.pi / 4)), atol=1e-12)
    np.testing.assert_allclose(action[[0, 1, 2, 9]], [0.3, 0.1, 0.4, 0.5])  # plain means


def test_chunks_of_the_wrong_shape_and_negative_decay_are_refused() -> None:
    ensembler = TemporalEnsembler(chunk_length=3)
    for chunk in (np.zeros(3), np.zeros((2, 1)), np.zeros((3, 1, 1))):
        with pytest.raises(ValueError, match=r"expected a chunk of 3 actions, got \("):
            ensembler.add(0, chunk)
    with pytest.raises(ValueError, match=r"ensemble decay must be non-negative, got -0\.1"):
        TemporalEnsembler(chunk_length=3, decay=-0.1)


def test_a_chunk_expires_after_its_last_step() -> None:
    """A chunk predicted at step s covers s .. s + L - 1 and no more."""
    ensembler = TemporalEnsembler(chunk_length=2, decay=0.0)
    ensembler.add(0, np.zeros((2, 1)))
    ensembler.add(1, np.ones((2, 1)))
    assert ensembler.size == 2 and ensembler.action(1)[0] == pytest.approx(0.5)
    ensembler.add(2, np.full((2, 1), 2.0))  # step 2: the chunk of step 0 is over
    assert ensembler.size == 2 and ensembler.action(2)[0] == pytest.approx(1.5)


def test_limits_must_be_positive() -> None:
    for values in ({"max_step_rad": 0.0}, {"stale_after_s": 0.0}, {"max_step_rad": -1.0}):
        with pytest.raises(ValueError, match="max_step_rad and stale_after_s must be positive"):
            SafetyLimits(**values)


def test_an_observation_exactly_at_the_limit_is_fresh_and_all_stale_ones_are_named() -> None:
    limits = SafetyLimits(stale_after_s=0.25)
    check_fresh({"camera": 0.25, "joint_states": 0.0}, limits)
    with pytest.raises(UnsafeCommandError) as caught:
        check_fresh({"joint_states": 0.5, "camera": 0.75}, limits)
    assert str(caught.value) == (
        "stale observations (camera 0.75 s old, joint_states 0.50 s old; limit 0.25 s)"
    )
    with pytest.raises(UnsafeCommandError, match="camera nan s old"):
        check_fresh({"camera": float("nan")}, limits)  # an unknown age is not fresh


def test_safe_command_bounds_the_step_both_ways(robot) -> None:
    previous = robot.home()
    period = 0.1
    step = np.minimum(robot.velocity * period, 0.05)
    limits = SafetyLimits(max_step_rad=0.05)
    down = safe_command(robot, previous - 10.0, previous, period, limits)
    np.testing.assert_allclose(down, robot.clamp(previous - step))
    up = safe_command(robot, previous + 10.0, previous, period, limits)
    np.testing.assert_allclose(up, robot.clamp(previous + step))
    near = robot.clamp(previous + step / 2)
    np.testing.assert_allclose(safe_command(robot, near, previous, period, limits), near)
    with pytest.raises(UnsafeCommandError, match="misshapen"):
        safe_command(robot, previous[:-1], previous, period, limits)
