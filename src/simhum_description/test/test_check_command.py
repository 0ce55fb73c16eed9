"""The check_description command: a summary for good files, one clear line for bad ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "simhum_description.check", "--samples", "50", *args],
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
    for args, expected in [
        (["--urdf", str(tmp_path / "absent.urdf")], "absent.urdf: robot description not found"),
        (["--urdf", str(broken)], "broken.urdf: malformed XML"),
        (["--calibration", str(tmp_path / "c.yaml")], "c.yaml: camera calibration file not found"),
        (["--tool-frame", "flange"], "tool frame 'flange' is not a link"),
    ]:
        result = run(*args)
        assert result.returncode == 2
        assert expected in result.stderr
        assert "Traceback" not in result.stderr
