"""The camera calibration file: read, checked, and consistent with the robot's workspace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from simhum_core import DescriptionError, load_calibration
from simhum_core.paths import default_calibration


@pytest.fixture(scope="module")
def camera():
    return load_calibration(default_calibration())


def test_default_calibration(camera) -> None:
    assert (camera.width, camera.height) == (640, 480)
    assert camera.parent_frame == "base_link"
    R = camera.T_base_camera[:3, :3]
    assert R.T @ R == pytest.approx(np.eye(3), abs=1e-6)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-6)
    assert camera.P[:, :3] == pytest.approx(camera.K)


def test_camera_sees_the_workspace(camera) -> None:
    """Points on the table in front of the robot project inside the image."""
    table = np.array([[x, y, 0.0, 1.0] for x in (0.3, 0.6) for y in (-0.2, 0.2)])
    in_camera = (np.linalg.inv(camera.T_base_camera) @ table.T).T[:, :3]
    assert np.all(in_camera[:, 2] > 0.3)
    uv = camera.project(in_camera)
    assert np.all((uv[:, 0] > 0) & (uv[:, 0] < camera.width))
    assert np.all((uv[:, 1] > 0) & (uv[:, 1] < camera.height))


def test_resized_camera_projects_consistently(camera) -> None:
    small = camera.resized(128, 96)
    point = np.array([[0.05, -0.03, 0.8]])
    uv = camera.project(point)[0]
    uv_small = small.project(point)[0]
    assert (uv_small + 0.5) == pytest.approx((uv + 0.5) * [128 / 640, 96 / 480])
    with pytest.raises(ValueError, match="must be positive"):
        camera.resized(0, 10)


def write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(default_calibration().read_text())
    mutate(data)
    path = tmp_path / "calib.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DescriptionError, match=r"nope\.yaml: camera calibration file not found"):
        load_calibration(tmp_path / "nope.yaml")


def test_missing_field(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["extrinsics"].pop("translation"))
    with pytest.raises(DescriptionError, match=r"calib\.yaml: missing field 'extrinsics\.trans"):
        load_calibration(path)


def test_non_unit_quaternion(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["extrinsics"].update(rotation_xyzw=[0, 0, 0, 2]))
    with pytest.raises(DescriptionError, match="unit quaternion"):
        load_calibration(path)


def test_bad_camera_matrix(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["camera_matrix"].update(data=[1, 2, 3]))
    with pytest.raises(DescriptionError, match=r"camera_matrix\.data' must hold 9"):
        load_calibration(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "must be a list of numbers, got None"),
        ([0.1, "a", 0, 0, 0], r"must be a list of numbers, got \[0.1, 'a'"),
        ([0.1, None, 0, 0, 0], "must be a list of numbers, got"),
        ([float("nan"), 0, 0, 0, 0], r"must hold finite numbers, got \[nan"),
        ([float("inf"), 0, 0, 0, 0], r"must hold finite numbers, got \[inf"),
    ],
)
def test_distortion_coefficients_must_be_finite_numbers(tmp_path: Path, data, message) -> None:
    path = write(tmp_path, lambda d: d["distortion_coefficients"].update(data=data))
    with pytest.raises(
        DescriptionError, match=rf"calib\.yaml: 'distortion_coefficients\.data' {message}"
    ):
        load_calibration(path)


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "calib.yaml"
    path.write_text("image_width: [640\n")
    with pytest.raises(DescriptionError, match=r"calib\.yaml: not valid YAML"):
        load_calibration(path)
