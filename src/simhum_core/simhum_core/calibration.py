"""The camera calibration file: intrinsics and the camera's pose in the robot base frame."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from simhum_core.errors import DescriptionError


@dataclass(frozen=True)
class CameraCalibration:
    """A pinhole camera (ROS camera_info conventions) and its optical frame in the base frame."""

    source: Path
    camera_name: str
    width: int
    height: int
    K: np.ndarray  # 3x3 intrinsic matrix
    D: np.ndarray  # distortion coefficients
    distortion_model: str
    parent_frame: str
    frame_id: str
    T_base_camera: np.ndarray  # 4x4, camera optical frame (x right, y down, z fwd) in base

    @property
    def P(self) -> np.ndarray:
        """Projection matrix of a monocular camera: [K | 0]."""
        return np.hstack([self.K, np.zeros((3, 1))])

    def resized(self, width: int, height: int) -> CameraCalibration:
        """The same camera rendered or captured at another resolution (intrinsics scaled)."""
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        sx, sy = width / self.width, height / self.height
        scale = np.diag([sx, sy, 1.0])
        K = scale @ self.K
        # Pixel centres: continuous coordinate c maps to (c + 0.5) * s - 0.5.
        K[0, 2] = (self.K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (self.K[1, 2] + 0.5) * sy - 0.5
        return CameraCalibration(**{**self.__dict__, "width": width, "height": height, "K": K})

    def cropped(self, x0: int, y0: int, width: int, height: int) -> CameraCalibration:
        """The camera seeing only the window [x0, x0 + width) x [y0, y0 + height)."""
        if x0 < 0 or y0 < 0 or width <= 0 or height <= 0:
            raise ValueError(f"bad crop window {width}x{height} at ({x0}, {y0})")
        K = self.K.copy()
        K[0, 2] -= x0
        K[1, 2] -= y0
        return CameraCalibration(**{**self.__dict__, "width": width, "height": height, "K": K})

    def project(self, points_camera: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) of points (N, 3) in the optical frame (no distortion)."""
        uvw = points_camera @ self.K.T
        return uvw[:, :2] / uvw[:, 2:3]


def load_calibration(path: str | Path) -> CameraCalibration:
    """Read and check a calibration YAML; errors name the file and the field at fault."""
    path = Path(path)
    if not path.is_file():
        raise DescriptionError(f"{path}: camera calibration file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise DescriptionError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise DescriptionError(f"{path}: expected a mapping of calibration fields")

    def field(*keys: str) -> object:
        node: object = data
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                raise DescriptionError(f"{path}: missing field '{'.'.join(keys)}'")
            node = node[key]
        return node

    def array(keys: tuple[str, ...], size: int | None) -> np.ndarray:
        """A list of ``size`` finite numbers (any count when None)."""
        raw, name = field(*keys), ".".join(keys)
        count = "" if size is None else f"{size} "
        if not isinstance(raw, list) or not all(_is_number(v) for v in raw):
            raise DescriptionError(
                f"{path}: '{name}' must be a list of {count}numbers, got {raw!r}"
            )
        values = np.asarray(raw, dtype=np.float64)
        if (size is not None and values.size != size) or not np.all(np.isfinite(values)):
            raise DescriptionError(
                f"{path}: '{name}' must hold {count}finite numbers, got {raw!r}"
            )
        return values

    width, height = field("image_width"), field("image_height")
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise DescriptionError(f"{path}: image_width and image_height must be positive integers")
    K = array(("camera_matrix", "data"), 9).reshape(3, 3)
    if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]):
        raise DescriptionError(
            f"{path}: camera_matrix must be [fx 0 cx; 0 fy cy; 0 0 1] with fx, fy > 0"
        )
    D = array(("distortion_coefficients", "data"), None)
    quat = array(("extrinsics", "rotation_xyzw"), 4)
    if abs(np.linalg.norm(quat) - 1.0) > 1e-5:
        raise DescriptionError(
            f"{path}: extrinsics.rotation_xyzw must be a unit quaternion "
            f"(norm {np.linalg.norm(quat):.6f})"
        )
    T = np.eye(4)
    T[:3, :3] = quat_xyzw_to_matrix(quat / np.linalg.norm(quat))
    T[:3, 3] = array(("extrinsics", "translation"), 3)
    return CameraCalibration(
        source=path,
        camera_name=str(field("camera_name")),
        width=width,
        height=height,
        K=K,
        D=D,
        distortion_model=str(field("distortion_model")),
        parent_frame=str(field("extrinsics", "parent_frame")),
        frame_id=str(field("extrinsics", "child_frame")),
        T_base_camera=T,
    )


def _is_number(value: object) -> bool:
    """An int or float from YAML (not a bool, string or null)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def quat_xyzw_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix of a unit quaternion in ROS order (x, y, z, w)."""
    x, y, z, w = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
