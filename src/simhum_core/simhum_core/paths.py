"""Where simhum_description's files live (the source tree beside this package, or the
installed share folder found through the ament index)."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = "simhum_description"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def is_plain_name(name: str) -> bool:
    """Whether ``name`` can be one folder's name and nothing more: letters, digits, '_', '-'
    and '.', starting with a letter or digit (no separators, no '..', not absolute), at most
    100 characters (names are combined into file names, which stop at 255)."""
    return bool(_PLAIN_NAME.fullmatch(name))


# src/simhum_core/simhum_core/paths.py -> src/simhum_description
_SOURCE_SHARE = Path(__file__).resolve().parents[2] / PACKAGE


def share_dir() -> Path:
    """simhum_description's share folder: its source tree when running from one (or from a
    symlink install), else the installed share folder found through the ament index."""
    if (_SOURCE_SHARE / "package.xml").is_file():
        return _SOURCE_SHARE
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory(PACKAGE))


def default_urdf() -> Path:
    """The default robot's xacro source."""
    return share_dir() / "urdf" / "simhum_arm.urdf.xacro"


def default_calibration() -> Path:
    """The camera calibration file that simulation, capture and policy read."""
    return share_dir() / "config" / "camera_calibration.yaml"


def default_controllers() -> Path:
    """The ros2_control controller configuration."""
    return share_dir() / "config" / "ros2_controllers.yaml"
