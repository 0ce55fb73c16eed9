"""Workspace-wide test set-up: every DDS test talks only on loopback, in its own domain."""

from __future__ import annotations

import os
import random

import pytest

# Tests must never reach a robot's controllers, even on the robot's own computer: whatever the
# shell exported, each test session gets its own DDS domain (one a robot's launch files do not
# use: 101-232 and never the shell's), discovery stays on this host, and no static peers.


def isolated_domain(shell_domain: str | None, seed: int) -> int:
    """A DDS domain for a test session: 101-232 (valid for Fast DDS), never ``shell_domain``."""
    return random.Random(seed).choice([d for d in range(101, 233) if str(d) != shell_domain])


SHELL_ROS_DOMAIN_ID = os.environ.get("ROS_DOMAIN_ID")
os.environ["ROS_DOMAIN_ID"] = str(isolated_domain(SHELL_ROS_DOMAIN_ID, os.getpid()))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_STATIC_PEERS"] = ""
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture
def ros_env() -> dict[str, str]:
    """Environment for a child ROS process: same domain, loopback discovery."""
    return dict(os.environ)


class NodeProcess:
    """A ROS 2 node in its own process, stopped with SIGINT (as Ctrl-C) at teardown."""

    def __init__(self, module: str, params: dict[str, object], env: dict[str, str]) -> None:
        import subprocess
        import sys
        import tempfile

        args = [sys.executable, "-m", module, "--ros-args"]
        for name, value in params.items():
            args += ["-p", f"{name}:={value}"]
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        """Everything the node printed so far."""
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self) -> int:
        """Ctrl-C the node and wait for it; returns its exit status."""
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def start_node(ros_env):
    """Start node processes for a test: start_node(module, **parameters)."""
    started: list[NodeProcess] = []

    def start(module: str, **params: object) -> NodeProcess:
        node = NodeProcess(module, params, ros_env)
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture
def ros_node():
    """An rclpy node in the test process (rclpy initialised for the test)."""
    import rclpy

    rclpy.init()
    node = rclpy.create_node("simhum_test_probe")
    yield node
    node.destroy_node()
    rclpy.shutdown()


def spin_until(node, condition, timeout: float = 20.0) -> bool:
    """Spin ``node`` until ``condition()`` holds or ``timeout`` seconds pass."""
    import time

    import rclpy

    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.02)
    return bool(condition())


@pytest.fixture
def spin(ros_node):
    """spin(condition, timeout=20.0): spin the test's node until the condition holds."""
    return lambda condition, timeout=20.0: spin_until(ros_node, condition, timeout)


@pytest.fixture(scope="session")
def robot():
    """The default SimHum robot, from the shared URDF."""
    from simhum_core import load_robot
    from simhum_core.paths import default_urdf

    return load_robot(default_urdf())


@pytest.fixture(scope="session")
def camera():
    """The shared camera calibration."""
    from simhum_core import load_calibration
    from simhum_core.paths import default_calibration

    return load_calibration(default_calibration())
