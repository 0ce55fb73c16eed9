"""Where camera frames come from: a V4L2/UVC device or a video file (OpenCV), a folder of
images, or a RealSense camera with aligned depth (pyrealsense2, when installed).

Each source yields frames stamped with their capture time and counts the frames it had to
skip (corrupt images, failed reads).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class SourceError(RuntimeError):
    """A camera source that cannot be opened or read."""


@dataclass(frozen=True)
class Frame:
    """One captured frame."""

    rgb: np.ndarray  # (H, W, 3) uint8
    stamp: float  # capture time, seconds since the epoch
    depth: np.ndarray | None = None  # (H, W) metres, aligned to rgb


class FrameSource(ABC):
    """A stream of frames; ``read`` returns None at the end of a finite source."""

    skipped = 0

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame."""

    @abstractmethod
    def close(self) -> None:
        """Release the device or file."""


class OpenCVSource(FrameSource):
    """A V4L2/UVC device (by index or /dev path) or a video file, through OpenCV."""

    def __init__(self, target: str, width: int = 0, height: int = 0, fps: float = 0.0) -> None:
        import cv2

        self._cv2 = cv2
        check_source_spec(target)
        is_file = Path(target).is_file()
        self._capture = cv2.VideoCapture(int(target) if target.isdigit() else target)
        if not self._capture.isOpened():
            raise SourceError(f"{target}: cannot be opened as a camera or video")
        if not is_file:
            for prop, value in (
                (cv2.CAP_PROP_FRAME_WIDTH, width),
                (cv2.CAP_PROP_FRAME_HEIGHT, height),
                (cv2.CAP_PROP_FPS, fps),
            ):
                if value:
                    self._capture.set(prop, value)
        self._live = not is_file
        self.skipped = 0

    def read(self) -> Frame | None:
        for _ in range(10):
            ok, bgr = self._capture.read()
            stamp = time.time()
            if ok and bgr is not None and bgr.ndim == 3:
                return Frame(self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB), stamp)
            if not self._live:
                return None  # end of the video file
            self.skipped += 1
        raise SourceError("camera stopped delivering frames (10 failed reads in a row)")

    def close(self) -> None:
        self._capture.release()


class FolderSource(FrameSource):
    """Images from a folder in name order, optionally looping; corrupt files are skipped."""

    def __init__(self, folder: str, loop: bool = False) -> None:
        path = Path(folder)
        if not path.is_dir():
            raise SourceError(f"{folder}: not a folder of images")
        self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"{folder}: holds no {'/'.join(IMAGE_SUFFIXES)} images")
        self.loop, self._next, self.skipped = loop, 0, 0

    def read(self) -> Frame | None:
        from PIL import Image, UnidentifiedImageError

        while True:
            if self._next >= len(self.files):
                if not self.loop:
                    return None
                self._next = 0
            path = self.files[self._next]
            self._next += 1
            try:
                with Image.open(path) as image:
                    rgb = np.asarray(image.convert("RGB"))
            except (OSError, UnidentifiedImageError):
                self.skipped += 1
                if self.skipped >= len(self.files) and self.loop:
                    raise SourceError(f"{path.parent}: no readable image") from None
                continue
            return Frame(rgb, time.time())

    def close(self) -> None:
        """Nothing to release: every file is closed after reading."""


class RealSenseSource(FrameSource):
    """An Intel RealSense camera: colour plus depth aligned to it (needs pyrealsense2)."""

    def __init__(self, width: int = 640, height: int = 480, fps: int = 30) -> None:
        try:
            import pyrealsense2 as rs
        except ImportError:
            raise SourceError(
                "source 'realsense' needs pyrealsense2 (pip install pyrealsense2)"
            ) from None
        self._rs = rs
        self._pipeline = rs.pipeline()
        config = rs.config()
        config.enable_stream(rs.stream.color, width, height, rs.format.rgb8, fps)
        config.enable_stream(rs.stream.depth, width, height, rs.format.z16, fps)
        try:
            profile = self._pipeline.start(config)
        except RuntimeError as err:
            raise SourceError(f"RealSense camera cannot be started: {err}") from None
        self._scale = profile.get_device().first_depth_sensor().get_depth_scale()
        self._align = rs.align(rs.stream.color)
        self.skipped = 0

    def read(self) -> Frame | None:
        for _ in range(10):
            frames = self._align.process(self._pipeline.wait_for_frames())
            color, depth = frames.get_color_frame(), frames.get_depth_frame()
            if color and depth:
                break
            self.skipped += 1
        else:
            raise SourceError("RealSense stopped delivering colour and depth frames")
        return Frame(
            np.asanyarray(color.get_data()).copy(),
            frames.get_timestamp() / 1000.0,
            np.asanyarray(depth.get_data()).astype(np.float32) * self._scale,
        )

    def close(self) -> None:
        self._pipeline.stop()


def check_source_spec(spec: str) -> None:
    """Raise SourceError unless ``spec`` names a source: 'realsense', a device index, a /dev
    path, an existing video file or an existing folder of images."""
    target = Path(spec)
    if spec == "realsense" or spec.isdigit() or spec.startswith("/dev/") or target.exists():
        return
    raise SourceError(
        f"{spec}: no such video file, image folder or camera device (give a device index, "
        "a /dev path, a video file, a folder of images, or realsense)"
    )


def open_source(spec: str, loop: bool = False) -> FrameSource:
    """A source from its description: 'realsense', a device index or /dev path, a video
    file, or a folder of images."""
    if spec == "realsense":
        return RealSenseSource()
    if Path(spec).is_dir():
        return FolderSource(spec, loop=loop)
    return OpenCVSource(spec)
