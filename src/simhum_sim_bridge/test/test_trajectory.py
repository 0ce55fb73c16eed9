"""The trajectory executor behaves like ros2_control's joint_trajectory_controller (the
message-sequence comparison with a reference is in test_controller_semantics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from simhum_sim_bridge.trajectory import TrajectoryError, TrajectoryExecutor


@pytest.fixture
def executor(robot):
    return TrajectoryExecutor(robot, robot.home())


def test_linear_interpolation_by_time_from_start(robot, executor) -> None:
    goal = robot.home()
    goal[0] = 1.0
    warnings = executor.replace(robot.joint_names, [2.0], goal[None], None, 0.0, 0.0, robot.home())
    assert warnings == []
    assert executor.sample(1.0)[0] == pytest.approx(0.5)
    assert executor.sample(2.0)[0] == pytest.approx(1.0)
    assert executor.sample(5.0)[0] == pytest.approx(1.0)  # holds the last point


def test_joint_order_follows_the_message(robot, executor) -> None:
    names = list(reversed(robot.joint_names))
    goal = np.linspace(0.0, 0.03, robot.dof)
    executor.replace(names, [1.0], goal[None], None, 0.0, 0.0, robot.home())
    np.testing.assert_allclose(executor.sample(1.0), robot.clamp(goal[::-1]))


def test_new_trajectory_replaces_the_rest(robot, executor) -> None:
    first, second = robot.home(), robot.home()
    first[0], second[0] = 1.0, -1.0
    executor.replace(robot.joint_names, [2.0], first[None], None, 0.0, 0.0, robot.home())
    measured = executor.sample(1.0) - 0.1  # the arm lags its command
    executor.replace(robot.joint_names, [1.0], second[None], None, 0.0, 1.0, measured)
    assert executor.sample(1.0)[0] == pytest.approx(measured[0])  # from the measured state
    assert executor.sample(1.5)[0] == pytest.approx((measured[0] - 1.0) / 2)
    assert executor.sample(3.0)[0] == pytest.approx(-1.0)


def test_cubic_with_velocities(robot, executor) -> None:
    points = np.tile(robot.home(), (2, 1))
    points[:, 0] = [0.5, 1.0]
    velocities = np.zeros_like(points)
    velocities[0, 0] = 0.5
    executor.replace(robot.joint_names, [1.0, 2.0], points, velocities, 0.0, 0.0, robot.home())
    assert executor.sample(1.0)[0] == pytest.approx(0.5)
    assert 0.5 < executor.sample(1.5)[0] < 1.0


@pytest.mark.parametrize(
    ("names", "positions", "message"),
    [
        (["shoulder_pan_joint", "bogus_joint"], None, "unknown joint names"),
        (None, "nan", "NaN or infinity"),
        (["shoulder_pan_joint"], None, "lacks joints"),
    ],
)
def test_rejected_trajectories_leave_the_current_one_executing(
    robot, executor, names, positions, message
):
    goal = robot.home()
    goal[0] = 1.0
    executor.replace(robot.joint_names, [2.0], goal[None], None, 0.0, 0.0, robot.home())
    names = names or list(robot.joint_names)
    pos = np.zeros((1, len(names)))
    if positions == "nan":
        pos[0, 0] = np.nan
    with pytest.raises(TrajectoryError, match=message):
        executor.replace(names, [1.0], pos, None, 0.0, 1.0, robot.home())
    assert executor.sample(1.5)[0] == pytest.approx(0.75)
    np.testing.assert_allclose(executor.sample(10.0), goal)


def test_stamped_trajectory_that_ended_is_rejected(robot, executor) -> None:
    with pytest.raises(TrajectoryError, match="in the past"):
        executor.replace(
            robot.joint_names, [0.5], robot.home()[None], None, 1.0, 2.0, robot.home()
        )


def test_targets_beyond_limits_are_clamped_with_a_warning(robot, executor) -> None:
    goal = robot.home()
    goal[1] = 10.0
    warnings = executor.replace(robot.joint_names, [1.0], goal[None], None, 0.0, 0.0, robot.home())
    assert warnings and "shoulder_lift_joint" in warnings[0]
    assert executor.sample(1.0)[1] == pytest.approx(robot.upper[1])


def test_waypoint_velocities_beyond_the_urdf_limits_are_rejected(robot, executor) -> None:
    points = np.tile(robot.home(), (2, 1))
    velocities = np.zeros_like(points)
    velocities[1, 2] = 1e308  # overflowed the interpolation into NaN commands
    with pytest.raises(TrajectoryError, match="elbow_joint"):
        executor.replace(robot.joint_names, [0.5, 1.0], points, velocities, 0.0, 0.0, robot.home())
    assert np.all(np.isfinite(executor.sample(0.75)))
