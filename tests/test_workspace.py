"""The workspace itself: package manifests, build settings, pins, and the core/ROS boundary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

ROOT = Path(__file__).resolve().parents[1]
ROS_PACKAGES = sorted(p.parent for p in (ROOT / "src").glob("*/package.xml"))
# Plain-Python core modules: never import rclpy (nodes are thin adapters over them).
CORE_PACKAGES = ["simhum_core/simhum_core", "simhum_train/simhum_train"]


def test_layout_of_the_design_card() -> None:
    for path in [
        "src/simhum_msgs",
        "src/simhum_description",
        "src/simhum_core",
        "src/simhum_sim_bridge",
        "src/simhum_human_capture",
        "src/simhum_policy_node",
        "src/simhum_train",
        "launch",
        "docker",
        "colcon.meta",
    ]:
        assert (ROOT / path).exists(), path


@pytest.mark.parametrize("package_dir", ROS_PACKAGES, ids=lambda p: p.name)
def test_package_manifest_is_valid(package_dir: Path) -> None:
    package = parse_package(package_dir)  # validates format 3 and maintainer e-mails
    package.validate()
    assert package.name == package_dir.name
    assert package.maintainers and all("@" in m.email for m in package.maintainers)
    build_type = package.get_build_type()
    expected = "CMakeLists.txt" if build_type == "ament_cmake" else "setup.py"
    assert (package_dir / expected).is_file()
    if build_type == "ament_python":
        assert (package_dir / "resource" / package.name).is_file()


def test_colcon_meta_names_real_packages() -> None:
    meta = json.loads((ROOT / "colcon.meta").read_text())
    names = {p.name for p in (ROOT / "src").iterdir() if p.is_dir()}
    assert set(meta["names"]) <= names


def pins(path: Path) -> dict[str, str]:
    """name -> version of the ``==`` pins of a requirements file (others ignored)."""
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return dict(line.split("==") for line in lines if "==" in line)


# Older on the robot than in the lock: the newer releases need numpy 2 (see the robot file).
NUMPY1_PINS = {"onnx", "mediapipe"}


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_robot_pins_match_the_lock_where_numpy_1_allows(arch: str) -> None:
    lock = pins(ROOT / "requirements" / "lock.txt")
    robot = pins(ROOT / "docker" / "robot-requirements.txt")
    robot |= pins(ROOT / "docker" / f"robot-requirements-{arch}.txt")
    assert "numpy<2" in (ROOT / "docker" / "robot-requirements.txt").read_text().split()
    for name, version in robot.items():
        if name not in NUMPY1_PINS:
            assert lock[name.removesuffix("-gpu")] == version, name


INDEX_UNREACHABLE = 3  # check_robot_deps.sh: the package index could not be reached


def run_check_robot_deps(root: Path, *archs: str, env: dict | None = None):
    import subprocess

    return subprocess.run(
        ["bash", str(root / "scripts" / "check_robot_deps.sh"), *archs],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )


def skip_without_index(result) -> None:
    """Skip, saying why, when pip could not reach the package index (nothing was decided)."""
    if result.returncode == INDEX_UNREACHABLE:
        pytest.skip(f"the package index could not be reached: {result.stderr.strip()[-300:]}")


def test_robot_requirements_resolve_for_jazzy_with_numpy_1() -> None:
    """pip resolves the robot's set for Python 3.12 on both architectures next to numpy 1."""
    result = run_check_robot_deps(ROOT)
    skip_without_index(result)
    assert result.returncode == 0, result.stderr[-2000:]
    for arch in ("x86_64", "aarch64"):
        line = next(x for x in result.stdout.splitlines() if x.startswith(f"[{arch}]"))
        assert "numpy==1." in line and "mujoco==4.0.0" in line and "onnxruntime" in line


def test_robot_requirements_check_fails_when_numpy_2_creeps_in(tmp_path: Path) -> None:
    import shutil

    (tmp_path / "scripts").mkdir()
    (tmp_path / "docker").mkdir()
    shutil.copy(ROOT / "scripts" / "check_robot_deps.sh", tmp_path / "scripts")
    (tmp_path / "docker" / "robot-requirements-x86_64.txt").write_text("numpy>=2\n")
    result = run_check_robot_deps(tmp_path, "x86_64")
    skip_without_index(result)
    assert result.returncode != 0
    assert "needs numpy 2" in result.stderr
    unknown = run_check_robot_deps(tmp_path, "riscv64")
    assert unknown.returncode == 2 and "robot-requirements-riscv64.txt" in unknown.stderr


def test_robot_requirements_check_tells_an_unreachable_index_from_a_conflict() -> None:
    """An index that drops every connection (a local one) is reported as not checked, with
    its own exit status, not as requirements that do not resolve."""
    import os
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def drop_connections() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:  # the test closed the server
                return
            connection.close()

    threading.Thread(target=drop_connections, daemon=True).start()
    index = f"http://127.0.0.1:{server.getsockname()[1]}/simple"
    env = os.environ | {"PIP_INDEX_URL": index, "PIP_RETRIES": "1", "PIP_TIMEOUT": "2"}
    try:
        result = run_check_robot_deps(ROOT, "x86_64", env=env)
    finally:
        server.close()
    assert result.returncode == INDEX_UNREACHABLE, result.stderr[-2000:]
    assert "[x86_64] not checked: the package index could not be reached" in result.stderr
    assert "does NOT resolve" not in result.stderr


def imports_of(folder: Path) -> set[str]:
    """Top-level module names imported anywhere under ``folder``."""
    found = set()
    for path in folder.rglob("*.py"):
        found |= set(
            re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", path.read_text(), re.MULTILINE)
        )
    return found


@pytest.mark.parametrize("package", CORE_PACKAGES)
def test_core_never_imports_rclpy(package: str) -> None:
    assert "rclpy" not in imports_of(ROOT / "src" / package)


def test_training_imports_no_ros_package() -> None:
    """Training needs the core only: no node package, message package or the description
    package (whose files it reads through simhum_core)."""
    ros = {p.name for p in ROS_PACKAGES} - {"simhum_core"}
    imported = imports_of(ROOT / "src" / "simhum_train" / "simhum_train")
    assert "simhum_core" in imported
    assert sorted(imported & (ros | {"rclpy", "rosidl_runtime_py"})) == []
    assert not any(name.endswith("_msgs") for name in imported)


def test_description_package_is_data_only() -> None:
    description = ROOT / "src" / "simhum_description"
    assert parse_package(description).get_build_type() == "ament_cmake"
    assert not list(description.rglob("*.py"))


# What an import needs from rosdep (the key a package.xml declares), and the imports that
# come from pip on the robot (docker/robot-requirements.txt) or are optional there.
ROSDEP_KEYS = {
    "yaml": "python3-yaml",
    "numpy": "python3-numpy",
    "matplotlib": "python3-matplotlib",
    "tqdm": "python3-tqdm",
    "PIL": "python3-pil",
    "cv2": "python3-opencv",
    "av": "python3-av",
}
PIP_ON_THE_ROBOT = {
    "torch", "onnx", "onnxruntime", "mujoco", "rosbags", "mcap", "mediapipe", "zarr",
    "pyrealsense2", "moveit", "simhum_train",
}  # fmt: skip


@pytest.mark.parametrize("package_dir", ROS_PACKAGES, ids=lambda p: p.name)
def test_manifest_declares_what_the_code_imports(package_dir: Path) -> None:
    """rosdep installs what package.xml says: every ROS package or system Python module the
    code imports is declared (pip-only ones are pinned in docker/robot-requirements.txt)."""
    import sys

    package = parse_package(package_dir)
    declared = {d.name for d in package.exec_depends + package.build_export_depends}
    declared |= {d.name for d in package.build_depends}
    imported = imports_of(package_dir / package.name)
    needed = {
        ROSDEP_KEYS.get(name, name)
        for name in imported
        if name not in sys.stdlib_module_names
        and name not in PIP_ON_THE_ROBOT
        and name not in (package.name, "the", "its", "it")  # words of docstrings
    }
    assert sorted(needed - declared) == []


def test_tests_run_on_an_isolated_host_only_dds_domain(request) -> None:
    import os

    conftest = request.config.pluginmanager.get_plugin(str(ROOT / "conftest.py"))
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert os.environ["ROS_STATIC_PEERS"] == ""
    assert os.environ["ROS_DOMAIN_ID"] != conftest.SHELL_ROS_DOMAIN_ID
    for shell in (None, "0", "101", "150", "232"):
        domains = {conftest.isolated_domain(shell, seed) for seed in range(300)}
        assert shell not in {str(d) for d in domains}
        assert min(domains) >= 101 and max(domains) <= 232
