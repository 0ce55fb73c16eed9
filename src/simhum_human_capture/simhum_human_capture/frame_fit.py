"""Frames fitted to a model's input size: a centred crop to the target aspect ratio, then an
area resize, with the camera intrinsics changed to match (so CameraInfo stays true)."""

from __future__ import annotations

import cv2
import numpy as np

from simhum_core.calibration import CameraCalibration


def crop_window(width: int, height: int, aspect: float) -> tuple[int, int, int, int]:
    """The largest centred (x0, y0, w, h) window of a width x height frame with w/h = aspect."""
    if width / height > aspect:
        w = round(height * aspect)
        return (width - w) // 2, 0, w, height
    h = round(width / aspect)
    return 0, (height - h) // 2, width, h


def fit_frame(
    rgb: np.ndarray,
    depth: np.ndarray | None,
    camera: CameraCalibration,
    width: int,
    height: int,
) -> tuple[np.ndarray, np.ndarray | None, CameraCalibration]:
    """``rgb`` (and ``depth``) of ``camera`` cropped and resized to width x height, and the
    camera that sees exactly that."""
    x0, y0, w, h = crop_window(rgb.shape[1], rgb.shape[0], width / height)
    camera = camera.cropped(x0, y0, w, h).resized(width, height)
    rgb = cv2.resize(rgb[y0 : y0 + h, x0 : x0 + w], (width, height), interpolation=cv2.INTER_AREA)
    if depth is not None:
        depth = cv2.resize(
            depth[y0 : y0 + h, x0 : x0 + w], (width, height), interpolation=cv2.INTER_NEAREST
        )
    return rgb, depth, camera
