"""The check_description command: a summary for good files, one clear line for bad ones."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from simhum_core.paths import default_calibration
from simhum_core.synthetic import serial_arm_urdf


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "simhum_core.check", "--samples", "50", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_summary_of_default_robot() -> None:
    result = run()
    assert result.returncode == 0, result.stderr
    assert "tool frame tcp" in result.stdout
    assert "wrist_roll_joint" in result.stdout
    assert "max difference" in result.stdout


def test_bad_files_give_one_line_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.urdf"
    broken.write_text("<robot><link name='a'>")
    orphan = tmp_path / "orphan.urdf"
    orphan.write_text(re.sub(r'<parent link="[^"]*"/>', "", serial_arm_urdf(2), count=1))
    calibration = yaml.safe_load(default_calibration().read_text())
    calibration["distortion_coefficients"]["data"] = [float("nan"), 0, 0, 0, 0]
    nan = tmp_path / "nan.yaml"
    nan.write_text(yaml.safe_dump(calibration))
    for args, expected in [
        (
            ["--urdf", str(orphan), "--tool-frame", "tool0"],
            "orphan.urdf: joint 'j1' needs <parent",
        ),
        (["--calibration", str(nan)], "nan.yaml: 'distortion_coefficients.data' must hold finite"),
        (["--urdf", str(tmp_path / "absent.urdf")], "absent.urdf: robot description not found"),
        (["--urdf", str(broken)], "broken.urdf: malformed XML"),
        (["--calibration", str(tmp_path / "c.yaml")], "c.yaml: camera calibration file not found"),
        (["--tool-frame", "flange"], "tool frame 'flange' is not a link"),
    ]:
        result = run(*args)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert expected in lines[0]
