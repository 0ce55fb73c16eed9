"""Camera sources: folders with corrupt files, bad devices, and a missing calibration."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from simhum_human_capture.frame_sources import FolderSource, SourceError, open_source


def test_folder_skips_and_counts_corrupt_frames(tmp_path) -> None:
    for i in range(3):
        Image.fromarray(np.full((4, 6, 3), i * 50, np.uint8)).save(tmp_path / f"f{i}.png")
    (tmp_path / "f1b.png").write_bytes(b"not an image")
    source = FolderSource(str(tmp_path))
    frames = [source.read() for _ in range(3)]
    assert [int(f.rgb[0, 0, 0]) for f in frames] == [0, 50, 100]
    assert source.skipped == 1
    assert source.read() is None


@pytest.mark.parametrize("spec", ["/dev/video99", "/no/such/clip.mp4", "not-a-camera"])
def test_unreadable_device_or_file(spec) -> None:
    with pytest.raises(SourceError, match=r"cannot be opened|no such video file"):
        open_source(spec)


def test_empty_folder(tmp_path) -> None:
    with pytest.raises(SourceError, match="holds no"):
        open_source(str(tmp_path))


def test_camera_node_refuses_to_start_without_calibration(tmp_path, ros_env) -> None:
    missing = tmp_path / "calib.yaml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "simhum_human_capture.camera_node",
            "--ros-args",
            "-p",
            f"calibration_file:={missing}",
            "-p",
            f"source:={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=ros_env,
    )
    assert result.returncode == 2
    assert f"{missing}: camera calibration file not found" in result.stderr
