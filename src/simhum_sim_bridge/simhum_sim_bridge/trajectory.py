"""Execute joint trajectories the way ros2_control's joint_trajectory_controller (Jazzy)
does with this project's configuration (position commands, spline interpolation, no partial
goals, interpolate_from_desired_state off):

- a trajectory that cannot run is rejected and the current one keeps executing: unknown,
  missing or duplicate joints, no points, sizes that differ, times that do not increase, or
  a stamped trajectory that ends before now (also NaN or infinity, and waypoint velocities
  beyond the URDF's limits, which the controller would pass to the hardware);
- an accepted one replaces the current one: it starts at its header stamp (zero: now), from
  the MEASURED state at its arrival, reaching its first point at stamp + time_from_start;
  waypoints already in the past are sampled into (no catching up);
- sampling is linear between positions, cubic Hermite where velocities are given, and holds
  the last point after the end.

Positions beyond the URDF limits are clamped, as the hardware's command limits would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simhum_core.robot import RobotDescription


class TrajectoryError(ValueError):
    """A trajectory that cannot be executed (the arm holds)."""


@dataclass(frozen=True)
class _Segment:
    times: np.ndarray  # (K,) absolute seconds, increasing
    positions: np.ndarray  # (K, J) full joint vectors
    velocities: np.ndarray | None  # (K, J) or None


class TrajectoryExecutor:
    """The commanded positions over time of the joints one trajectory controller drives
    (``joints``, default every joint); plans hold full joint vectors, whose other joints
    keep the measured state a trajectory started from (another controller commands them)."""

    def __init__(
        self,
        robot: RobotDescription,
        initial: np.ndarray,
        time: float = 0.0,
        joints: tuple[str, ...] | None = None,
    ) -> None:
        self.robot = robot
        self.joints = robot.joint_names if joints is None else tuple(joints)
        self._plan = _Segment(
            np.array([time]), np.asarray(initial, dtype=np.float64)[None].copy(), None
        )

    def hold(self, q: np.ndarray, time: float) -> None:
        """Hold ``q`` from ``time`` on, dropping any trajectory."""
        self._plan = _Segment(np.array([time]), np.asarray(q, dtype=np.float64)[None].copy(), None)

    def replace(
        self,
        joint_names: list[str] | tuple[str, ...],
        time_from_start: np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray | None,
        stamp: float,
        now: float,
        measured: np.ndarray,
        measured_velocity: np.ndarray | None = None,
    ) -> list[str]:
        """Start a new trajectory stamped ``stamp`` (0: now) from the ``measured`` joint
        state at ``now``; returns warnings (clamped targets). Raises TrajectoryError, leaving
        the current trajectory executing, for a trajectory the controller would reject."""
        names = list(joint_names)
        unknown = sorted(set(names) - set(self.joints))
        if unknown:
            raise TrajectoryError(
                f"unknown joint names {unknown}; this controller has {list(self.joints)}"
            )
        missing = sorted(set(self.joints) - set(names))
        if missing:
            raise TrajectoryError(f"trajectory lacks joints {missing} (partial goals are off)")
        if len(set(names)) != len(names):
            raise TrajectoryError(f"duplicate joint names in {names}")
        tfs = np.asarray(time_from_start, dtype=np.float64)
        pos = np.asarray(positions, dtype=np.float64)
        if pos.ndim != 2 or pos.shape != (len(tfs), len(names)) or len(tfs) == 0:
            raise TrajectoryError(
                f"expected {len(names)} positions per point and at least one point, "
                f"got shape {pos.shape}"
            )
        vel = None if velocities is None else np.asarray(velocities, dtype=np.float64)
        if vel is not None and vel.shape != pos.shape:
            raise TrajectoryError(f"velocities shape {vel.shape} differs from {pos.shape}")
        for label, values in (("time_from_start", tfs), ("positions", pos), ("velocities", vel)):
            if values is not None and not np.all(np.isfinite(values)):
                raise TrajectoryError(f"{label} contain NaN or infinity")
        if vel is not None:
            # the interpolation would overshoot to the joint limits, or overflow
            beyond = np.abs(vel) > self.robot.velocity[self.robot.indices(names)]
            if np.any(beyond):
                bad = [name for name, b in zip(names, beyond.any(axis=0), strict=True) if b]
                raise TrajectoryError(f"velocities beyond the URDF limits for joints {bad}")
        if np.any(np.diff(tfs) <= 0) or tfs[0] < 0:
            raise TrajectoryError("time_from_start must be non-negative and increasing")
        start = stamp if stamp > 0 else now
        if start + tfs[-1] < now:
            raise TrajectoryError(
                f"trajectory ends {now - start - tfs[-1]:.3f} s in the past (stamp {stamp:.3f})"
            )

        order = self.robot.indices(names)
        full = np.tile(np.asarray(measured, dtype=np.float64), (len(pos), 1))
        full[:, order] = pos
        clamped = self.robot.clamp(full)
        warnings = []
        beyond = np.any(np.abs(clamped - full)[:, order] > 1e-9, axis=0)
        if np.any(beyond):
            bad = [name for name, b in zip(names, beyond, strict=True) if b]
            warnings.append(f"targets beyond the URDF limits clamped for joints {bad}")
        full_vel = None
        if vel is not None:
            full_vel = np.zeros_like(full)
            full_vel[:, order] = vel
            before = np.zeros(self.robot.dof) if measured_velocity is None else measured_velocity
            full_vel = np.vstack([np.asarray(before, dtype=np.float64)[None], full_vel])

        times = start + tfs
        if times[0] > now:  # from the measured state to the first point
            times = np.concatenate([[now], times])
            points = np.vstack([np.asarray(measured, dtype=np.float64)[None], clamped])
        else:  # sampled into: the controller's first command is the trajectory at now
            points = clamped
            full_vel = None if full_vel is None else full_vel[1:]
        self._plan = _Segment(times, points, full_vel)
        return warnings

    def sample(self, time: float) -> np.ndarray:
        """Commanded joint positions at ``time``, within the URDF limits (as the hardware's
        command limits take them: the measured state a trajectory starts from may lie just
        beyond them)."""
        return self.robot.clamp(self._sample(time))

    def _sample(self, time: float) -> np.ndarray:
        plan = self._plan
        if time <= plan.times[0]:
            return plan.positions[0].copy()
        if time >= plan.times[-1]:
            return plan.positions[-1].copy()
        k = int(np.searchsorted(plan.times, time)) - 1
        t0, t1 = plan.times[k], plan.times[k + 1]
        s = (time - t0) / (t1 - t0)
        p0, p1 = plan.positions[k], plan.positions[k + 1]
        if plan.velocities is None:
            return p0 + s * (p1 - p0)
        h = t1 - t0
        v0, v1 = plan.velocities[k] * h, plan.velocities[k + 1] * h
        h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
        h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
        return h00 * p0 + h10 * v0 + h01 * p1 + h11 * v1

    @property
    def end_time(self) -> float:
        """When the current plan reaches its last point."""
        return float(self._plan.times[-1])
