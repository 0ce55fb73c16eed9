"""Human-capture benchmark, measured in one run on this machine:

- hand tracking frames/s at 640x480 on proxy-human frames: MediaPipe in video mode (tracks
  between frames; what the node runs) vs image mode (detects every frame), and how often
  each finds the rendered hand;
- camera -> EndEffectorTarget latency (p50/p95) through the live camera, tracker and
  retargeting nodes over DDS, vs camera -> Image delivery alone (transport baseline).

    python bench/capture_bench.py [--seconds 15]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from simhum.graph import NodeDecl
from simhum.supervisor import Supervisor
from simhum_core import load_calibration
from simhum_core.paths import default_calibration
from simhum_human_capture.hand_tracking import HandTracker, default_model_path
from simhum_human_capture.proxy_human import run_human_episode
from simhum_sim_bridge.rollout import EpisodeSpec
from simhum_sim_bridge.scene import SceneConfig

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", "88")


class Frames:
    def __init__(self) -> None:
        self.frames: list[tuple[float, np.ndarray]] = []

    def image(self, t, rgb):
        self.frames.append((t, rgb))

    def hand_pose(self, *args):
        pass

    def end_effector_target(self, *args):
        pass


def proxy_frames(episodes: int) -> list[tuple[float, np.ndarray]]:
    camera = load_calibration(default_calibration())
    sink = Frames()
    for seed in range(episodes):
        spec = EpisodeSpec(
            "pick_place", "real", seed, scene=SceneConfig(image_width=640, image_height=480)
        )
        run_human_episode(camera, spec, sink=sink)
    return sink.frames


def tracking_rate(frames, video: bool) -> tuple[float, float]:
    """(frames/s, fraction of frames with a hand)."""
    from mediapipe.tasks.python import BaseOptions, vision

    camera = load_calibration(default_calibration())
    if video:
        tracker = HandTracker()

        def track(t: float, rgb: np.ndarray) -> bool:
            return tracker.track(rgb, t, camera) is not None

        close = tracker.close
    else:
        import mediapipe as mp

        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(default_model_path())), num_hands=1
        )
        landmarker = vision.HandLandmarker.create_from_options(options)

        def track(t: float, rgb: np.ndarray) -> bool:
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
            return bool(landmarker.detect(image).hand_landmarks)

        close = landmarker.close
    found, start = 0, time.perf_counter()
    for k, (_, rgb) in enumerate(frames):
        found += track(k / 30.0, rgb)
    elapsed = time.perf_counter() - start
    close()
    return len(frames) / elapsed, found / len(frames)


def pipeline_latency(frames, seconds: float) -> dict[str, np.ndarray]:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from simhum_core.topics import load_topics
    from simhum_msgs.msg import EndEffectorTarget
    from simhum_ros.messages import from_time

    topics = load_topics()
    folder = Path(tempfile.mkdtemp())
    for i, (_, rgb) in enumerate(frames):
        PILImage.fromarray(rgb).save(folder / f"f{i:05d}.png")
    graph = Supervisor(
        [
            NodeDecl(
                "simhum_camera",
                "simhum_human_capture",
                "camera",
                "simhum_human_capture.camera_node",
                {"source": str(folder), "loop": True, "rate_hz": 30.0},
            ),
            NodeDecl(
                "simhum_hand_tracker",
                "simhum_human_capture",
                "hand_tracker",
                "simhum_human_capture.tracker_node",
            ),
            NodeDecl(
                "simhum_retargeting",
                "simhum_human_capture",
                "retargeting",
                "simhum_human_capture.retarget_node",
            ),
        ],
        folder / "graph",
    )
    graph.start()
    rclpy.init()
    node = rclpy.create_node("capture_bench")
    latency = {"image": [], "target": []}
    node.create_subscription(
        Image,
        topics.camera_image,
        lambda m: latency["image"].append(time.time() - from_time(m.header.stamp)),
        qos_profile_sensor_data,
    )
    node.create_subscription(
        EndEffectorTarget,
        topics.end_effector_target,
        lambda m: latency["target"].append(time.time() - from_time(m.header.stamp)),
        10,
    )
    try:
        deadline = time.monotonic() + 60
        while len(latency["target"]) < 10 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        latency = {"image": [], "target": []}  # measure after warm-up
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        graph.stop()
        node.destroy_node()
        rclpy.shutdown()
    return {k: np.array(v) * 1e3 for k, v in latency.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    frames = proxy_frames(2)
    video_fps, video_found = tracking_rate(frames, video=True)
    image_fps, image_found = tracking_rate(frames, video=False)
    latency = pipeline_latency(frames, args.seconds)
    print(
        f"capture benchmark: {len(frames)} proxy-human frames at 640x480, {os.cpu_count()} cores"
    )
    print(
        f"  hand tracking, video mode (the node):  {video_fps:6.1f} frames/s, hand found in "
        f"{100 * video_found:4.1f}% of frames   target >= 30 frames/s"
    )
    print(
        f"  hand tracking, image mode (baseline):  {image_fps:6.1f} frames/s, hand found in "
        f"{100 * image_found:4.1f}% of frames   ratio {video_fps / image_fps:.2f}"
    )
    for key, label in (
        ("image", "camera -> Image (transport baseline)"),
        ("target", "camera -> EndEffectorTarget (live nodes)"),
    ):
        values = latency[key]
        if len(values):
            print(
                f"  {label:<42} p50 {np.percentile(values, 50):6.1f} ms, "
                f"p95 {np.percentile(values, 95):6.1f} ms over {len(values)} messages"
            )
        else:
            print(f"  {label:<42} no messages")
    print("  target: camera -> EndEffectorTarget p95 < 50 ms")


if __name__ == "__main__":
    main()
