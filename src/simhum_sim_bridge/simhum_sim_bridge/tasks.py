"""Manipulation tasks: object layouts sampled on the placement grid, MuJoCo bodies, success.

Poses are (x, y, yaw) on the table top (z = 0 in the robot base frame).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Protocol

import mujoco
import numpy as np

from simhum_sim_bridge.grid import PlacementGrid

OBJECT_DENSITY = 800.0  # kg/m^3: painted wood
OBJECT_FRICTION = (1.0, 0.01, 0.001)


class SceneState(Protocol):
    """What a success check reads from a running scene."""

    def object_position(self, name: str) -> np.ndarray: ...

    def touching_robot(self, name: str) -> bool: ...


@dataclass(frozen=True)
class Task(ABC):
    """A task: which objects, where they go, and when it is done."""

    name: ClassVar[str]
    duration_s: ClassVar[float]  # episode time-out
    moved_object: ClassVar[str]  # the body the robot must move (a layout key)
    goal: ClassVar[str]  # where it must go: the layout key of the bin, target or base

    @abstractmethod
    def sample_layout(
        self, rng: np.random.Generator, grid: PlacementGrid, split: str
    ) -> dict[str, np.ndarray]:
        """Object poses (x, y, yaw) for one episode."""

    @abstractmethod
    def add_objects(self, world: mujoco.MjsBody, layout: dict[str, np.ndarray], rgba) -> None:
        """Add the task's bodies to the scene's world body."""

    @abstractmethod
    def success(self, state: SceneState, layout: dict[str, np.ndarray]) -> bool:
        """Whether the task is achieved in the current state."""


def add_box(
    world: mujoco.MjsBody,
    name: str,
    pose: np.ndarray,
    half: tuple[float, float, float],
    rgba,
    free: bool,
    z: float | None = None,
) -> mujoco.MjsBody:
    """A box resting on the table (or at height ``z``), free-floating or fixed."""
    height = half[2] if z is None else z
    body = world.add_body(name=name, pos=[pose[0], pose[1], height], quat=yaw_quat(pose[2]))
    if free:
        body.add_freejoint(name=f"{name}_joint")
    body.add_geom(
        name=f"{name}_geom",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=list(half),
        rgba=list(rgba),
        density=OBJECT_DENSITY,
        friction=list(OBJECT_FRICTION),
        condim=4,
    )
    return body


def yaw_quat(yaw: float) -> list[float]:
    """Quaternion (w, x, y, z) of a rotation by ``yaw`` about the vertical."""
    return [float(np.cos(yaw / 2)), 0.0, 0.0, float(np.sin(yaw / 2))]


@dataclass(frozen=True)
class PickPlace(Task):
    """Pick a cube and place it in an open bin."""

    name: ClassVar[str] = "pick_place"
    duration_s: ClassVar[float] = 12.0
    moved_object: ClassVar[str] = "cube"
    goal: ClassVar[str] = "bin"
    cube_half: float = 0.02
    bin_half: float = 0.07  # outer half-width
    wall: float = 0.008
    wall_height: float = 0.05

    def sample_layout(self, rng, grid, split):
        cube, bin_ = grid.sample(rng, 2, split, min_distance=0.16)
        return {
            "cube": np.array([*cube, rng.uniform(-np.pi / 4, np.pi / 4)]),
            "bin": np.array([*bin_, 0.0]),
        }

    def add_objects(self, world, layout, rgba):
        add_box(world, "cube", layout["cube"], (self.cube_half,) * 3, rgba["cube"], free=True)
        x, y, _ = layout["bin"]
        body = world.add_body(name="bin", pos=[x, y, 0.0])
        h, w, t = self.wall_height / 2, self.bin_half, self.wall / 2
        parts = {
            "floor": ([0, 0, t], [w, w, t]),
            "wall_px": ([w - t, 0, h], [t, w, h]),
            "wall_nx": ([-w + t, 0, h], [t, w, h]),
            "wall_py": ([0, w - t, h], [w, t, h]),
            "wall_ny": ([0, -w + t, h], [w, t, h]),
        }
        for part, (pos, size) in parts.items():
            body.add_geom(
                name=f"bin_{part}",
                type=mujoco.mjtGeom.mjGEOM_BOX,
                pos=pos,
                size=size,
                rgba=list(rgba["bin"]),
            )

    def success(self, state, layout):
        cube = state.object_position("cube")
        inside = np.all(np.abs(cube[:2] - layout["bin"][:2]) < self.bin_half - self.wall)
        return bool(inside and cube[2] < self.wall_height and not state.touching_robot("cube"))


@dataclass(frozen=True)
class Push(Task):
    """Push a block into a marked target region."""

    name: ClassVar[str] = "push"
    duration_s: ClassVar[float] = 12.0
    moved_object: ClassVar[str] = "block"
    goal: ClassVar[str] = "target"
    block_half: float = 0.025
    target_radius: float = 0.04
    distance: float = 0.12  # from the block to the target centre

    def sample_layout(self, rng, grid, split):
        for _ in range(100):
            (block,) = grid.sample(rng, 1, split, min_distance=0.0)
            angle = rng.uniform(-np.pi, np.pi)
            target = block + self.distance * np.array([np.cos(angle), np.sin(angle)])
            lo, hi = np.array([grid.x_min, grid.y_min]), np.array([grid.x_max, grid.y_max])
            if np.all((target >= lo) & (target <= hi)):
                return {
                    "block": np.array([*block, angle]),  # faces the push direction
                    "target": np.array([*target, 0.0]),
                }
        raise ValueError("no push target inside the grid")

    def add_objects(self, world, layout, rgba):
        add_box(world, "block", layout["block"], (self.block_half,) * 3, rgba["block"], True)
        x, y, _ = layout["target"]
        world.add_geom(
            name="target_marker",
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            pos=[x, y, 0.0005],
            size=[self.target_radius, 0.0005, 0],
            rgba=list(rgba["target"]),
            contype=0,
            conaffinity=0,
        )

    def success(self, state, layout):
        block = state.object_position("block")
        return bool(np.linalg.norm(block[:2] - layout["target"][:2]) < self.target_radius * 0.9)


@dataclass(frozen=True)
class Stack(Task):
    """Stack a small cube on a larger block."""

    name: ClassVar[str] = "stack"
    duration_s: ClassVar[float] = 12.0
    moved_object: ClassVar[str] = "top"
    goal: ClassVar[str] = "base"
    top_half: float = 0.02
    base_half: float = 0.03

    def sample_layout(self, rng, grid, split):
        top, base = grid.sample(rng, 2, split, min_distance=0.12)
        return {
            "top": np.array([*top, rng.uniform(-np.pi / 4, np.pi / 4)]),
            "base": np.array([*base, rng.uniform(-np.pi / 4, np.pi / 4)]),
        }

    def add_objects(self, world, layout, rgba):
        add_box(world, "top", layout["top"], (self.top_half,) * 3, rgba["cube"], free=True)
        add_box(world, "base", layout["base"], (self.base_half,) * 3, rgba["block"], free=True)

    def success(self, state, layout):
        top, base = state.object_position("top"), state.object_position("base")
        on_top = abs(top[2] - (base[2] + self.base_half + self.top_half)) < 0.01
        centred = np.linalg.norm(top[:2] - base[:2]) < self.base_half
        return bool(on_top and centred and not state.touching_robot("top"))


TASKS: dict[str, Task] = {task.name: task for task in (PickPlace(), Push(), Stack())}


def get_task(name: str) -> Task:
    """The task called ``name``; a clear error listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task '{name}'; known tasks: {sorted(TASKS)}")
    return TASKS[name]
