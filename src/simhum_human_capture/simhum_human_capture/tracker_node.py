"""Hand tracking node: HandPose for every camera frame with a hand in it; frames without a
hand publish nothing and are counted."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from simhum_core.calibration import load_calibration
from simhum_core.paths import default_calibration
from simhum_core.topics import load_topics
from simhum_human_capture.hand_tracking import HandTracker, default_model_path
from simhum_msgs.msg import HandPose
from simhum_ros.messages import from_time, image_array
from simhum_ros.node import declare, run

PARAMETERS = {
    "model_path": (str(default_model_path()), "MediaPipe hand_landmarker.task bundle"),
    "min_confidence": (0.5, "detection, presence and tracking confidence thresholds"),
    "calibration_file": (str(default_calibration()), "camera calibration YAML (intrinsics)"),
    "use_depth": (False, "take keypoint depth from the aligned depth image when it arrives"),
}
LATEST_ONLY = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


class TrackerNode(Node):
    """A thin adapter over HandTracker."""

    def __init__(self) -> None:
        super().__init__("simhum_hand_tracker")
        p = declare(self, PARAMETERS)
        self.calibration = load_calibration(p["calibration_file"])
        self.tracker = HandTracker(p["model_path"], float(p["min_confidence"]))
        topics = load_topics()
        self.pub = self.create_publisher(HandPose, topics.hand_pose, 10)
        self.depth: np.ndarray | None = None
        self.create_subscription(Image, topics.camera_image, self.on_image, LATEST_ONLY)
        if p["use_depth"]:
            self.create_subscription(Image, topics.camera_depth, self.on_depth, LATEST_ONLY)
        self.frames = self.found = 0

    def on_depth(self, msg: Image) -> None:
        """Keep the latest aligned depth image (metres); other layouts are skipped."""
        row = msg.width * 4
        if msg.encoding != "32FC1" or msg.step < row or len(msg.data) < msg.step * msg.height:
            self.get_logger().warning(
                f"skipping a depth image: {msg.width}x{msg.height} {msg.encoding!r}, step "
                f"{msg.step}, {len(msg.data)} bytes (expected 32FC1)",
                throttle_duration_sec=5.0,
            )
            return
        rows = np.frombuffer(msg.data, dtype=np.uint8)[: msg.step * msg.height]
        pixels = rows.reshape(msg.height, msg.step)[:, :row]
        dtype = ">f4" if msg.is_bigendian else "<f4"
        self.depth = pixels.copy().view(dtype).reshape(msg.height, msg.width)

    def on_image(self, msg: Image) -> None:
        """Track the hand in a frame; publish its HandPose if there is one."""
        self.frames += 1
        try:
            rgb = image_array(msg)
            if rgb.size == 0:
                raise ValueError(f"empty image ({msg.width}x{msg.height})")
        except ValueError as err:
            self.get_logger().warning(f"skipping a corrupt frame: {err}")
            return
        depth = (
            self.depth if self.depth is not None and self.depth.shape == rgb.shape[:2] else None
        )
        hand = self.tracker.track(rgb, from_time(msg.header.stamp), self.calibration, depth)
        if hand is None:
            return
        self.found += 1
        out = HandPose(handedness=hand.handedness, confidence=hand.confidence, source=hand.source)
        out.header = msg.header
        out.keypoints_image = [
            Point(x=float(u), y=float(v), z=float(z)) for u, v, z in hand.keypoints_image
        ]
        out.keypoints_camera = [
            Point(x=float(x), y=float(y), z=float(z)) for x, y, z in hand.keypoints_camera
        ]
        out.keypoint_confidence = hand.keypoint_confidence.astype(np.float32).tolist()
        self.pub.publish(out)

    def destroy_node(self) -> None:
        self.get_logger().info(f"hand found in {self.found} of {self.frames} frames")
        self.tracker.close()
        super().destroy_node()


def main() -> None:
    """Run the tracker node."""
    run(TrackerNode, "simhum hand_tracker")


if __name__ == "__main__":
    main()
