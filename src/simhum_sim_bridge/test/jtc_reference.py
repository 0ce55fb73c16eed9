"""A reference of joint_trajectory_controller's topic semantics (ROS 2 Jazzy), written from its
documentation (user docs: parameters, "Trajectory Representation", "Trajectory Replacement")
for the configuration SimHum ships: position command interface, ``interpolation_method:
splines``, ``allow_partial_joints_goal: false``, ``interpolate_from_desired_state: false``.

Deliberately simple and separate from the bridge's executor, so that a test can compare them:
- a message is validated on arrival; an invalid one is ignored (the active trajectory goes on);
- a valid one becomes the active trajectory: start time = header stamp, or the arrival time
  when the stamp is zero; a stamped trajectory whose last point is before now is invalid;
- its first sample is taken from the state measured at arrival, interpolated to the first
  waypoint at start + time_from_start (no interpolation when that is not in the future);
- between waypoints: linear with positions only, cubic with velocities; after the last
  waypoint its position is held.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np


@dataclass
class Active:
    """An accepted trajectory, knots in absolute time, joints in the controller's order."""

    times: list[float]
    positions: list[np.ndarray]
    velocities: list[np.ndarray] | None


class ReferenceController:
    """Commands of a joint_trajectory_controller fed JointTrajectory messages."""

    def __init__(self, joints: list[str], initial: np.ndarray) -> None:
        self.joints = list(joints)
        self.active = Active([0.0], [np.asarray(initial, float)], None)

    def receive(self, now, names, stamp, points, measured, measured_velocity) -> bool:
        """A message arrives at ``now``: points are (time_from_start, positions, velocities
        or None). Returns whether it was accepted."""
        if sorted(names) != sorted(self.joints) or len(set(names)) != len(names) or not points:
            return False
        times = [p[0] for p in points]
        if any(b <= a for a, b in pairwise(times)) or times[0] < 0:
            return False
        if any(len(p[1]) != len(names) for p in points):
            return False
        if any(not np.all(np.isfinite(p[1])) for p in points):
            return False
        start = stamp if stamp != 0 else now
        if start + times[-1] < now:
            return False
        order = [names.index(j) for j in self.joints]
        has_velocity = all(p[2] is not None for p in points)
        knots_t = [start + t for t, _, _ in points]
        knots_p = [np.asarray(p, float)[order] for _, p, _ in points]
        knots_v = [np.asarray(v, float)[order] for _, _, v in points] if has_velocity else None
        if knots_t[0] > now:
            knots_t.insert(0, now)
            knots_p.insert(0, np.asarray(measured, float))
            if knots_v is not None:
                knots_v.insert(0, np.asarray(measured_velocity, float))
        self.active = Active(knots_t, knots_p, knots_v)
        return True

    def command(self, t: float) -> np.ndarray:
        """The position command at time ``t``."""
        a = self.active
        if t <= a.times[0]:
            return a.positions[0]
        for k in range(len(a.times) - 1):
            t0, t1 = a.times[k], a.times[k + 1]
            if t0 <= t < t1:
                u = (t - t0) / (t1 - t0)
                p0, p1 = a.positions[k], a.positions[k + 1]
                if a.velocities is None:
                    return (1 - u) * p0 + u * p1
                # cubic through both positions with both velocities (Hermite form)
                dt = t1 - t0
                v0, v1 = a.velocities[k] * dt, a.velocities[k + 1] * dt
                return (
                    (2 * u**3 - 3 * u**2 + 1) * p0
                    + (u**3 - 2 * u**2 + u) * v0
                    + (-2 * u**3 + 3 * u**2) * p1
                    + (u**3 - u**2) * v1
                )
        return a.positions[-1]
