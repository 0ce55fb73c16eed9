"""Shared fixtures: the default robot and camera, loaded once."""

from __future__ import annotations

import pytest

from simhum_description import load_calibration, load_robot
from simhum_description.paths import default_calibration, default_urdf


@pytest.fixture(scope="session")
def robot():
    return load_robot(default_urdf())


@pytest.fixture(scope="session")
def camera():
    return load_calibration(default_calibration())
