"""Scripted experts: Cartesian waypoints for each task, IK (pinocchio, shared URDF) at the
control rate, and the gripper opened or closed through the URDF's gripper joints."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simhum_core.kinematics import READY_POSITION, IKSolver, tool_pose
from simhum_core.robot import RobotDescription
from simhum_sim_bridge.tasks import PickPlace, Push, Stack, Task

TRAVEL_SPEED = 0.25  # m/s
APPROACH_SPEED = 0.08  # m/s, near objects
YAW_SPEED = 1.5  # rad/s
GRIP_TIME = 0.6  # s to close or open the gripper
CLEARANCE = 0.10  # m above an object before descending


def grasp_yaw(object_yaw: float) -> float:
    """The yaw, among the four that close the fingers on a box's faces, nearest to zero."""
    return float((object_yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)


@dataclass(frozen=True)
class Waypoint:
    """Where the tool goes next, with which gripper opening, and how fast."""

    position: np.ndarray
    yaw: float
    aperture: float
    speed: float = TRAVEL_SPEED
    min_duration: float = 0.3


class WaypointPlan:
    """Piecewise-linear tool motion through waypoints, timed by distance and speed."""

    def __init__(self, start: Waypoint, waypoints: list[Waypoint]) -> None:
        self.points = [start, *waypoints]
        times = [0.0]
        for a, b in zip(self.points, self.points[1:], strict=False):
            travel = np.linalg.norm(b.position - a.position) / b.speed
            turn = abs(b.yaw - a.yaw) / YAW_SPEED
            grip = GRIP_TIME if abs(b.aperture - a.aperture) > 1e-6 else 0.0
            times.append(times[-1] + max(travel, turn, grip, b.min_duration))
        self.times = np.array(times)

    @property
    def duration(self) -> float:
        """Time to the last waypoint."""
        return float(self.times[-1])

    def at(self, t: float) -> tuple[np.ndarray, float, float]:
        """Tool position, yaw and gripper aperture at time ``t``."""
        if t >= self.times[-1]:
            last = self.points[-1]
            return last.position, last.yaw, last.aperture
        k = int(np.searchsorted(self.times, t, side="right")) - 1
        a, b = self.points[k], self.points[k + 1]
        s = (t - self.times[k]) / (self.times[k + 1] - self.times[k])
        s = s * s * (3 - 2 * s)  # smooth start and stop of each segment
        return (
            a.position + s * (b.position - a.position),
            a.yaw + s * (b.yaw - a.yaw),
            a.aperture + s * (b.aperture - a.aperture),
        )


def plan_for(task: Task, layout: dict[str, np.ndarray]) -> WaypointPlan:
    """The scripted plan of ``task`` for one object layout."""
    start = Waypoint(READY_POSITION, 0.0, 1.0)
    if isinstance(task, PickPlace):
        place = np.array([*layout["bin"][:2], task.wall_height + task.cube_half + 0.02])
        return WaypointPlan(start, _pick(layout["cube"], task.cube_half, place))
    if isinstance(task, Stack):
        base = layout["base"]
        place = np.array([*base[:2], 2 * task.base_half + task.top_half + 0.004])
        return WaypointPlan(start, _pick(layout["top"], task.top_half, place))
    if isinstance(task, Push):
        return WaypointPlan(start, _push(layout["block"], layout["target"], task.block_half))
    raise ValueError(f"no scripted expert for task '{task.name}'")


def _pick(obj: np.ndarray, half: float, place: np.ndarray) -> list[Waypoint]:
    x, y, yaw = obj
    g = grasp_yaw(yaw)
    above = np.array([x, y, 2 * half + CLEARANCE])
    grasp = np.array([x, y, half])
    lift = np.array([x, y, 0.18])
    over = np.array([place[0], place[1], 0.18])
    return [
        Waypoint(above, g, 1.0),
        Waypoint(grasp, g, 1.0, APPROACH_SPEED),
        Waypoint(grasp, g, 0.0),
        Waypoint(lift, g, 0.0, APPROACH_SPEED * 2),
        Waypoint(over, g, 0.0),
        Waypoint(place, g, 0.0, APPROACH_SPEED),
        Waypoint(place, g, 1.0),
        Waypoint(place + np.array([0.0, 0.0, CLEARANCE]), g, 1.0, APPROACH_SPEED * 2),
    ]


PADDLE_HALF = 0.01  # half the closed fingers' thickness along the push
PUSH_HEIGHT = 0.02  # tool height while pushing (fingertips just above the table)


def push_yaw(block: np.ndarray, target: np.ndarray) -> float:
    """The tool yaw that faces the closed fingers' wide side to a push of ``block`` toward
    ``target``, tool x along the push: the hand's; the gripper's symmetric fingers take it
    folded into [-pi/2, pi/2)."""
    direction = target[:2] - block[:2]
    return float(np.arctan2(direction[1], direction[0]) + np.pi)


def _push(block: np.ndarray, target: np.ndarray, half: float) -> list[Waypoint]:
    direction = target[:2] - block[:2]
    direction /= np.linalg.norm(direction)
    yaw = (push_yaw(block, target) + np.pi / 2) % np.pi - np.pi / 2
    behind = block[:2] - direction * (half + PADDLE_HALF + 0.03)
    end = target[:2] - direction * (half + PADDLE_HALF - 0.005)
    back = end - direction * 0.04
    return [
        Waypoint(np.array([*behind, PUSH_HEIGHT + CLEARANCE]), yaw, 0.0),
        Waypoint(np.array([*behind, PUSH_HEIGHT]), yaw, 0.0, APPROACH_SPEED),
        Waypoint(np.array([*end, PUSH_HEIGHT]), yaw, 0.0, APPROACH_SPEED),
        Waypoint(np.array([*back, PUSH_HEIGHT]), yaw, 0.0, APPROACH_SPEED),
        Waypoint(np.array([*back, PUSH_HEIGHT + CLEARANCE]), yaw, 0.0, APPROACH_SPEED * 2),
    ]


class ScriptedExpert:
    """Joint targets at the control rate that follow a task's waypoint plan."""

    def __init__(self, robot: RobotDescription, ik: IKSolver, plan: WaypointPlan) -> None:
        self.robot, self.ik, self.plan = robot, ik, plan

    def act(
        self, t: float, q_previous: np.ndarray, offset: np.ndarray | None = None
    ) -> np.ndarray:
        """Joint targets for time ``t``, IK warm-started from the previous targets; the tool
        is shifted by ``offset`` (metres, base frame) when given."""
        position, yaw, aperture = self.plan.at(t)
        if offset is not None:
            position = position + offset
        result = self.ik.solve(tool_pose(position, yaw), q_previous)
        return self.robot.with_aperture(result.q, aperture)

    def done(self, t: float) -> bool:
        """Whether the plan is finished."""
        return t >= self.plan.duration
