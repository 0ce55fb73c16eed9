"""Offscreen rendering of the calibrated camera, with settings chosen for CPU speed."""

from __future__ import annotations

import mujoco
import numpy as np

from simhum_sim_bridge.domains import Look

FAST_FLAGS_OFF = (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION)


class CameraRenderer:
    """Renders one named camera of a model at a fixed size; close() it when done."""

    def __init__(self, model: mujoco.MjModel, camera: str, width: int, height: int) -> None:
        self.camera = camera
        self._renderer = mujoco.Renderer(model, height=height, width=width)
        for flag in FAST_FLAGS_OFF:  # shadows and reflections cost most of a CPU frame
            self._renderer.scene.flags[flag] = 0

    def render(self, data: mujoco.MjData) -> np.ndarray:
        """An (H, W, 3) uint8 RGB image of the current state."""
        self._renderer.update_scene(data, camera=self.camera)
        return self._renderer.render()

    def close(self) -> None:
        """Free the GL context."""
        self._renderer.close()

    def __enter__(self) -> CameraRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def observe(renderer: CameraRenderer, data: mujoco.MjData, look: Look, rng) -> np.ndarray:
    """A camera frame with the domain's camera effects (noise, colour gain)."""
    return look.postprocess(renderer.render(data), rng)
