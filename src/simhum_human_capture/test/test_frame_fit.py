"""Frames fitted to the model's input: crop to its aspect, resize, intrinsics kept true."""

from __future__ import annotations

import numpy as np
import pytest

from simhum_core.calibration import load_calibration
from simhum_core.paths import default_calibration
from simhum_human_capture.frame_fit import crop_window, fit_frame


def test_crop_window_keeps_the_centre_at_the_target_aspect() -> None:
    assert crop_window(1280, 720, 4 / 3) == (160, 0, 960, 720)  # 16:9 -> 4:3: sides cut
    assert crop_window(640, 640, 4 / 3) == (0, 80, 640, 480)  # square -> 4:3: top/bottom
    assert crop_window(640, 480, 4 / 3) == (0, 0, 640, 480)


@pytest.mark.parametrize("size", [(1280, 720), (640, 480)])
def test_a_point_lands_on_the_same_pixel_before_and_after(size) -> None:
    """Mark the pixel where a 3-D point projects in the captured frame; after the fit, the
    fitted camera projects the point onto the marked pixel of the fitted frame."""
    camera = load_calibration(default_calibration()).resized(*size)
    point = np.array([[0.05, -0.03, 0.9]])  # in the optical frame
    u, v = camera.project(point)[0]
    rgb = np.zeros((size[1], size[0], 3), np.uint8)
    rgb[round(v) - 12 : round(v) + 13, round(u) - 12 : round(u) + 13] = 255
    depth = np.full((size[1], size[0]), 0.9, np.float32)
    fitted, fitted_depth, fitted_camera = fit_frame(rgb, depth, camera, 96, 72)
    assert fitted.shape == (72, 96, 3) and fitted_depth.shape == (72, 96)
    assert (fitted_camera.width, fitted_camera.height) == (96, 72)
    fu, fv = fitted_camera.project(point)[0]
    ys, xs = np.nonzero(fitted[..., 0] > 127)
    assert abs(xs.mean() - fu) < 0.6 and abs(ys.mean() - fv) < 0.6
    np.testing.assert_allclose(fitted_depth, 0.9)
