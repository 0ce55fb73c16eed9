"""Tool and hand paths drawn over an episode's camera frames (numpy and Pillow, no rclpy).

Points are in the robot base frame; the one camera calibration, scaled to the drawn frame's
resolution, projects them into the image. Each frame is upscaled by a whole factor (nearest
neighbour, so small training images stay sharp), the paths so far and the current points
are drawn on it, and a footer below the image holds the title, a legend and the frame's
counter and status line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from simhum_core.calibration import CameraCalibration
from simhum_core.pose_math import invert_pose, transform_points

RGB = tuple[int, int, int]
MEASURED: RGB = (0, 220, 255)
COMMANDED: RGB = (255, 40, 170)
KEYPOINTS: RGB = (255, 210, 60)
TEXT: RGB = (235, 235, 235)
FOOTER: RGB = (20, 20, 20)
INKS = (MEASURED, COMMANDED, KEYPOINTS, TEXT, FOOTER)  # every colour the overlay draws with
MIN_DEPTH = 1e-3  # m in front of the optical centre; nearer points are not drawn
FOOTER_LINES = 3


@dataclass(frozen=True)
class Trail:
    """Points of one thing over the episode, [N, K, 3] in the base frame (frame i's K
    points); with ``path`` the first point's path so far is drawn too."""

    name: str
    colour: RGB
    points: np.ndarray
    path: bool = True


@dataclass(frozen=True)
class Scene:
    """An episode ready to draw: frames, their times, trails and per-frame status text."""

    title: str
    images: np.ndarray  # uint8 [N, H, W, 3]
    seconds: np.ndarray  # [N] since the first frame
    trails: tuple[Trail, ...]  # drawn in order: the last lies on top
    status: tuple[str, ...] = ()  # one line per frame, or none

    def __post_init__(self) -> None:
        n = len(self.images)
        ragged = [t.name for t in self.trails if len(t.points) != n]
        if len(self.seconds) != n or ragged or len(self.status) not in (0, n):
            raise ValueError(
                f"scene '{self.title}': {n} frames, but {len(self.seconds)} times, "
                f"{len(self.status)} status lines, trails of another length: {ragged}"
            )


def project(camera: CameraCalibration, points_base: np.ndarray) -> np.ndarray:
    """Pixel coordinates [..., 2] of base-frame points [..., 3] in ``camera``'s image
    (no distortion); NaN for points not in front of the camera."""
    points = np.asarray(points_base, dtype=np.float64)
    flat = points.reshape(-1, 3)
    in_camera = transform_points(invert_pose(camera.T_base_camera), flat)
    pixels = np.full((len(flat), 2), np.nan)
    front = in_camera[:, 2] > MIN_DEPTH
    pixels[front] = camera.project(in_camera[front])
    return pixels.reshape(*points.shape[:-1], 2)


def default_scale(width: int, min_width: int) -> int:
    """The smallest whole upscaling factor that makes ``width`` at least ``min_width``."""
    return max(1, -(-min_width // width))


@dataclass(frozen=True)
class Style:
    """Sizes of the drawing for one output resolution."""

    line: int
    radius: int
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    line_height: int

    @classmethod
    def for_width(cls, width: int) -> Style:
        """Lines, markers and text readable at ``width`` pixels."""
        size = max(10, width // 42)
        return cls(
            max(2, width // 240), max(4, width // 90), ImageFont.load_default(size), size + 4
        )


def canvas_size(width: int, height: int, scale: int) -> tuple[int, int]:
    """(width, height) of a drawn frame: the upscaled image and the footer below it, each
    rounded up to an even number (H.264's 4:2:0 chroma needs even sides)."""
    footer = FOOTER_LINES * Style.for_width(width * scale).line_height + 4
    return _even(width * scale), _even(height * scale + footer)


def draw_frames(
    scene: Scene, camera: CameraCalibration, scale: int, every: int = 1
) -> Iterator[np.ndarray]:
    """Every ``every``-th annotated frame (the paths still pass through all frames), uint8
    [canvas height, canvas width, 3], one at a time."""
    n, height, width = scene.images.shape[:3]
    size = (width * scale, height * scale)
    style = Style.for_width(size[0])
    pixels = [project(camera.resized(*size), t.points) for t in scene.trails]
    drawn = canvas_size(width, height, scale)
    for i in range(0, n, every):
        canvas = Image.new("RGB", drawn, FOOTER)
        canvas.paste(Image.fromarray(scene.images[i]).resize(size, Image.NEAREST))
        draw = ImageDraw.Draw(canvas)
        for trail, uv in zip(scene.trails, pixels, strict=True):
            if trail.path:
                _polyline(draw, uv[: i + 1, 0], trail.colour, style.line)
            for u, v in uv[i]:
                if np.isfinite(u) and np.isfinite(v):
                    r = style.radius
                    draw.ellipse([u - r, v - r, u + r, v + r], fill=trail.colour, outline=FOOTER)
        _footer(draw, scene, i, size[1], style)
        yield np.asarray(canvas)


def _even(pixels: int) -> int:
    return pixels + pixels % 2


def _polyline(draw: ImageDraw.ImageDraw, uv: np.ndarray, colour: RGB, width: int) -> None:
    """Lines through the finite points of ``uv`` [M, 2], broken where a point is not."""
    run: list[tuple[float, float]] = []
    for u, v in [*uv, (np.nan, np.nan)]:
        if np.isfinite(u) and np.isfinite(v):
            run.append((float(u), float(v)))
        elif run:
            if len(run) > 1:
                draw.line(run, fill=colour, width=width, joint="curve")
            run = []


def _footer(draw: ImageDraw.ImageDraw, scene: Scene, i: int, top: int, style: Style) -> None:
    """Title; legend; frame counter, time and status."""
    x, y = 4, top + 2
    draw.text((x, y), scene.title, fill=TEXT, font=style.font)
    y += style.line_height
    r = style.line_height // 2 - 2
    for trail in scene.trails:
        draw.ellipse([x, y + 2, x + 2 * r, y + 2 + 2 * r], fill=trail.colour)
        label = f"{trail.name}    "
        draw.text((x + 2 * r + 4, y), label, fill=trail.colour, font=style.font)
        x += 2 * r + 4 + int(draw.textlength(label, font=style.font))
    counter = f"frame {i + 1}/{len(scene.images)}   t {scene.seconds[i]:.2f} s"
    status = f"   {scene.status[i]}" if scene.status else ""
    draw.text((4, y + style.line_height), counter + status, fill=TEXT, font=style.font)
