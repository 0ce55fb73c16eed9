"""Safety of joint commands: URDF limits, a bounded step per control cycle, non-finite
values, and observations too old to act on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simhum_core.robot import RobotDescription


class UnsafeCommandError(ValueError):
    """A command that must not be sent; the reason says why (the arm holds)."""


@dataclass(frozen=True)
class SafetyLimits:
    """Per-cycle limits on top of the URDF's."""

    max_step_rad: float = 0.15  # largest change of any joint target per control cycle
    stale_after_s: float = 0.3  # observations older than this are not acted on

    def __post_init__(self) -> None:
        if self.max_step_rad <= 0 or self.stale_after_s <= 0:
            raise ValueError("max_step_rad and stale_after_s must be positive")


def check_fresh(ages: dict[str, float], limits: SafetyLimits) -> None:
    """Raise UnsafeCommandError naming every observation older than the watchdog limit."""
    stale = {name: age for name, age in ages.items() if not age <= limits.stale_after_s}
    if stale:
        detail = ", ".join(f"{name} {age:.2f} s old" for name, age in sorted(stale.items()))
        limit = limits.stale_after_s
        raise UnsafeCommandError(f"stale observations ({detail}; limit {limit:.2f} s)")


def safe_command(
    robot: RobotDescription,
    target: np.ndarray,
    previous: np.ndarray,
    period_s: float,
    limits: SafetyLimits,
) -> np.ndarray:
    """``target`` made safe to send after ``previous``: clamped to the URDF position limits,
    each joint's change bounded by its URDF velocity limit over one period and by
    ``max_step_rad``. Non-finite targets raise UnsafeCommandError."""
    target = np.asarray(target, dtype=np.float64)
    if target.shape != previous.shape or not np.all(np.isfinite(target)):
        raise UnsafeCommandError(f"non-finite or misshapen joint target {target}")
    step = np.minimum(robot.velocity * period_s, limits.max_step_rad)
    return robot.clamp(previous + np.clip(robot.clamp(target) - previous, -step, step))
