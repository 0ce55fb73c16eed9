"""Workspace-wide test set-up: every DDS test talks only on loopback, in its own domain."""

from __future__ import annotations

import os
import random

import pytest

# One DDS domain per test session, so parallel runs and other ROS graphs stay apart; discovery
# stays on this host.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture
def ros_env() -> dict[str, str]:
    """Environment for a child ROS process: same domain, loopback discovery."""
    return dict(os.environ)
