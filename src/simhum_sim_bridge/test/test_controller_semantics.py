"""The sim bridge executes trajectories as joint_trajectory_controller does on the robot, so
mode:=sim behaves like mode:=real: the bridge's simulation loop (real MuJoCo scene, measured
states from physics) and a reference written from the controller's documentation receive
the same message sequence and must command the same positions."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from jtc_reference import ReferenceController

from simhum_sim_bridge.rollout import EpisodeSpec, make_scene, ready_pose
from simhum_sim_bridge.runner import Rates, SimRunner
from simhum_sim_bridge.trajectory import TrajectoryError


class _Quiet:
    def joint_state(self, t, position, velocity) -> None: ...

    def image(self, t, rgb) -> None: ...

    def episode_end(self, t, success) -> None: ...


def _messages(robot, ready: np.ndarray) -> list[tuple]:
    """(arrival time, joint names, stamp, [(time_from_start, positions, velocities)]) for
    the arm's trajectory controller."""
    names = list(robot.arm_joint_names)
    arm = robot.indices(names)
    rng = np.random.default_rng(7)

    def near(scale: float = 0.15) -> np.ndarray:
        return robot.clamp(ready + rng.uniform(-scale, scale, robot.dof))[arm]

    stream = [(0.1 * (k + 1), near(), None) for k in range(4)]
    with_velocity = [(0.2, near(), rng.uniform(-0.5, 0.5, len(arm)) * robot.velocity[arm]),
                     (0.5, near(), np.zeros(len(arm)))]  # fmt: skip
    reversed_names = names[::-1]
    return [
        (0.20, names, 0.0, [(0.5, near(), None)]),  # start now, from the measured state
        (0.50, names, 0.45, stream),  # stamped slightly in the past (observation time)
        (0.80, names, 0.55, [(0.1, near(), None), (0.2, near(), None), (0.6, near(), None)]),
        (0.90, names[:-1], 0.0, [(0.3, near()[:-1], None)]),  # partial goal: rejected
        (1.00, names, 0.40, [(0.2, near(), None)]),  # ends in the past: rejected
        (1.10, names, 0.0, with_velocity),  # cubic
        (1.35, names, 0.0, [(0.3, np.full(len(arm), np.nan), None)]),  # NaN: rejected
        (1.40, reversed_names, 1.6, [(0.3, near()[::-1], None)]),  # future stamp, other order
        (2.10, names, 0.0, [(0.0, near(), None), (0.4, near(), None)]),  # first point now
    ]


def test_bridge_commands_what_the_controller_would(robot, camera) -> None:
    spec = EpisodeSpec("pick_place", "sim", 3)
    ready = ready_pose(robot)
    runner = SimRunner(robot, Rates(camera_hz=0.0), ready)
    runner.reset(make_scene(robot, camera, spec), spec.seed, timeout_s=60.0)
    arm = robot.indices(robot.arm_joint_names)
    reference = ReferenceController(list(robot.arm_joint_names), ready[arm])
    sink, dt = _Quiet(), 0.002
    accepted, worst, compared = [], 0.0, 0
    pending = _messages(robot, ready)
    t0 = runner.time
    while runner.time - t0 < 3.0:
        now = runner.time - t0
        while pending and pending[0][0] <= now + 1e-9:
            _, names, stamp, points = pending.pop(0)
            measured = runner.scene.joint_positions()
            measured_velocity = runner.scene.joint_velocities()
            velocities = None
            if all(v is not None for _, _, v in points):
                velocities = np.array([v for _, _, v in points])
            try:
                runner.send(
                    names,
                    [t for t, _, _ in points],
                    np.array([p for _, p, _ in points]),
                    velocities,
                    stamp=stamp + t0 if stamp else 0.0,
                )
                took = True
            except TrajectoryError:
                took = False
            shifted = stamp + t0 if stamp else 0.0
            assert took == reference.receive(
                runner.time, names, shifted, points, measured[arm], measured_velocity[arm]
            )
            accepted.append(took)
        bridge, expected = runner.target(runner.time)[arm], reference.command(runner.time)
        # (both as the hardware's command limits take them)
        limits = robot.lower[arm], robot.upper[arm]
        worst = max(worst, float(np.abs(bridge - np.clip(expected, *limits)).max()))
        compared += 1
        runner.advance(runner.time + dt, sink)
    runner.close()
    assert accepted == [True, True, True, False, False, True, False, True, True]
    assert compared > 1000
    assert worst < 1e-9, f"bridge and controller semantics differ by {worst} rad"


def test_measured_state_is_where_a_new_trajectory_starts(robot, camera) -> None:
    """The controller interpolates from the measured state, not from its last command."""
    spec = EpisodeSpec("pick_place", "sim", 3)
    ready = ready_pose(robot)
    runner = SimRunner(robot, Rates(camera_hz=0.0), ready)
    runner.reset(make_scene(robot, camera, spec), spec.seed, timeout_s=60.0)
    arm = robot.indices(robot.arm_joint_names)
    goal = ready[arm].copy()
    goal[0] += 0.5
    runner.send(robot.arm_joint_names, [0.2], goal[None])
    runner.advance(runner.time + 0.1, _Quiet())
    measured = runner.scene.joint_positions()
    runner.send(robot.arm_joint_names, [0.2], goal[None])
    assert runner.target(runner.time)[arm] == pytest.approx(robot.clamp(measured)[arm])
    runner.close()


def test_gripper_controller_forwards_its_command_and_the_mimic_finger_follows(
    robot, camera
) -> None:
    """The gripper's forward position controller applies a command at once and holds it
    through arm trajectories; the mimic finger follows in the scene (its URDF equality)."""
    spec = EpisodeSpec("pick_place", "sim", 3)
    ready = ready_pose(robot)
    runner = SimRunner(robot, Rates(camera_hz=0.0), ready)
    runner.reset(make_scene(robot, camera, spec), spec.seed, timeout_s=60.0)
    left, right = robot.indices(["left_finger_joint", "right_finger_joint"])
    arm = robot.indices(robot.arm_joint_names)
    model = runner.scene.model  # the URDF's mimic, imported by MuJoCo as a joint equality
    assert model.eq_type.tolist() == [mujoco.mjtEq.mjEQ_JOINT]
    names = [model.joint(int(i)).name for i in (model.eq_obj1id[0], model.eq_obj2id[0])]
    assert [n.split("/")[-1] for n in names] == ["right_finger_joint", "left_finger_joint"]
    assert runner.command_gripper([0.01]) == []
    assert runner.target(runner.time)[[left, right]] == pytest.approx([0.01, 0.01])
    runner.send(robot.arm_joint_names, [0.3], ready[arm][None])
    runner.advance(runner.time + 0.5, _Quiet())
    assert runner.target(runner.time)[[left, right]] == pytest.approx([0.01, 0.01])
    measured = runner.scene.joint_positions()
    assert measured[[left, right]] == pytest.approx([0.01, 0.01], abs=2e-3)
    assert runner.command_gripper([1.0]) == [
        "gripper targets beyond the URDF limits clamped for joints ['left_finger_joint']"
    ]
    for bad in ([0.01, 0.01], [np.nan]):
        with pytest.raises(TrajectoryError):
            runner.command_gripper(bad)
    assert runner.target(runner.time)[left] == pytest.approx(robot.upper[left])
    # a full joint target split as the controllers take it
    q = robot.with_aperture(ready, 0.5)
    runner.command([0.2], q[None])
    assert runner.target(runner.time)[[left, right]] == pytest.approx([0.02, 0.02])
    runner.close()
