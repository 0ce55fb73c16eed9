"""Execute joint trajectories the way ros2_control's joint_trajectory_controller does.

A trajectory is checked (known joints, finite numbers), its positions clamped to the URDF
limits, and sampled over time: linear between positions, cubic Hermite where velocities are
given, holding the last point at the end. A new trajectory replaces the rest of the current
one, starting from the command in effect at its arrival.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simhum_description.robot import RobotDescription


class TrajectoryError(ValueError):
    """A trajectory that cannot be executed (the arm holds)."""


@dataclass(frozen=True)
class _Segment:
    times: np.ndarray  # (K,) absolute seconds, increasing
    positions: np.ndarray  # (K, J) full joint vectors
    velocities: np.ndarray | None  # (K, J) or None


class TrajectoryExecutor:
    """The commanded joint positions over time for one robot."""

    def __init__(self, robot: RobotDescription, initial: np.ndarray, time: float = 0.0) -> None:
        self.robot = robot
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
        start: float,
        now: float,
    ) -> list[str]:
        """Start a new trajectory at ``start`` (``now`` if earlier); returns warnings
        (clamped targets). Raises TrajectoryError, leaving the current plan, when the
        trajectory names unknown joints, misses joints, or holds NaN or infinity."""
        names = list(joint_names)
        unknown = sorted(set(names) - set(self.robot.joint_names))
        if unknown:
            raise TrajectoryError(
                f"unknown joint names {unknown}; this robot has {list(self.robot.joint_names)}"
            )
        missing = sorted(set(self.robot.joint_names) - set(names))
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
        if np.any(np.diff(tfs) <= 0) or tfs[0] < 0:
            raise TrajectoryError("time_from_start must be non-negative and increasing")

        order = self.robot.indices(names)
        full = np.empty_like(pos)
        full[:, order] = pos
        clamped = self.robot.clamp(full)
        warnings = []
        beyond = np.any(np.abs(clamped - full) > 1e-9, axis=0)
        if np.any(beyond):
            bad = [self.robot.joint_names[i] for i in np.nonzero(beyond)[0]]
            warnings.append(f"targets beyond the URDF limits clamped for joints {bad}")
        full_vel = None
        if vel is not None:
            full_vel = np.empty_like(vel)
            full_vel[:, order] = vel

        start = max(start, now)
        current = self.sample(now)
        times = np.concatenate([[now], start + tfs])
        keep = times > now
        keep[0] = True
        points = np.vstack([current[None], clamped])[keep]
        if full_vel is not None:
            full_vel = np.vstack([np.zeros((1, full_vel.shape[1])), full_vel])[keep]
        self._plan = _Segment(times[keep], points, full_vel)
        return warnings

    def sample(self, time: float) -> np.ndarray:
        """Commanded joint positions at ``time``."""
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
        return self.robot.clamp(h00 * p0 + h10 * v0 + h01 * p1 + h11 * v1)

    @property
    def end_time(self) -> float:
        """When the current plan reaches its last point."""
        return float(self._plan.times[-1])
