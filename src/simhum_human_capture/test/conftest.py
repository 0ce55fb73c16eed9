"""Proxy-human frames at 640x480 with their ground-truth keypoints, made once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simhum_human_capture.proxy_human import run_human_episode
from simhum_sim_bridge.rollout import EpisodeSpec
from simhum_sim_bridge.scene import SceneConfig


class FrameSink:
    """Collects a proxy-human episode's frames and keypoints."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, np.ndarray]] = []
        self.keypoints: list[np.ndarray] = []

    def image(self, t: float, rgb: np.ndarray) -> None:
        self.frames.append((t, rgb))

    def hand_pose(self, t, keypoints_image, keypoints_camera, confidence, source) -> None:
        self.keypoints.append(np.asarray(keypoints_image))

    def end_effector_target(self, t, T_base_tool, aperture) -> None:
        pass


@pytest.fixture(scope="session")
def proxy_frames(camera, tmp_path_factory) -> tuple[Path, FrameSink]:
    """A folder of 640x480 PNG frames of the rendered hand doing pick_place."""
    sink = FrameSink()
    spec = EpisodeSpec(
        "pick_place", "real", 1, scene=SceneConfig(image_width=640, image_height=480)
    )
    run_human_episode(camera, spec, sink=sink)
    folder = tmp_path_factory.mktemp("proxy_frames")
    for i, (_, rgb) in enumerate(sink.frames):
        Image.fromarray(rgb).save(folder / f"frame_{i:04d}.png")
    return folder, sink
