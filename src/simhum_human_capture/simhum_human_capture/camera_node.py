"""Camera capture node: frames from a device, a video file, a folder of images or a
RealSense, published as Image + CameraInfo with the shared calibration's intrinsics and the
capture time as stamp; skipped and dropped frames are counted."""

from __future__ import annotations

import time

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from simhum_core.calibration import load_calibration
from simhum_core.paths import default_calibration
from simhum_core.topics import load_topics
from simhum_human_capture.frame_fit import fit_frame
from simhum_human_capture.frame_sources import open_source
from simhum_ros.messages import camera_info_msg, image_msg, to_time
from simhum_ros.node import declare, run

PARAMETERS = {
    "source": (
        "0",
        "camera: a device index or /dev/videoN, a video file, a folder of images, or 'realsense'",
    ),
    "rate_hz": (30.0, "publishing rate, Hz (files and folders are paced to it)"),
    "loop": (False, "restart a video file or folder at its end"),
    "calibration_file": (str(default_calibration()), "camera calibration YAML (intrinsics)"),
    "image_width": (0, "published width: frames are centre-cropped and resized; 0: as captured"),
    "image_height": (0, "published height (with image_width; bringup sets the policy's)"),
}


class CameraNode(Node):
    """Publishes camera frames; a thin adapter over frame_sources."""

    def __init__(self) -> None:
        super().__init__("simhum_camera")
        p = declare(self, PARAMETERS)
        if not float(p["rate_hz"]) > 0:
            raise ValueError(f"rate_hz must be positive, got {p['rate_hz']}")
        self.calibration = load_calibration(p["calibration_file"])
        self.source = open_source(str(p["source"]), loop=bool(p["loop"]))
        topics = load_topics()
        self.pub_image = self.create_publisher(Image, topics.camera_image, qos_profile_sensor_data)
        self.pub_info = self.create_publisher(
            CameraInfo, topics.camera_info, qos_profile_sensor_data
        )
        self.pub_depth = self.create_publisher(Image, topics.camera_depth, qos_profile_sensor_data)
        self.size = (int(p["image_width"]), int(p["image_height"]))
        if min(self.size) < 0 or (0 in self.size and any(self.size)):
            raise ValueError(f"image_width and image_height: both 0 or both positive, {self.size}")
        self.period = 1.0 / float(p["rate_hz"])
        self.published = self.dropped = 0
        self._last = time.monotonic()
        self.create_timer(self.period, self.capture)
        self.create_timer(10.0, self.report)
        self.get_logger().info(f"publishing {p['source']} on {topics.camera_image}")

    def capture(self) -> None:
        """Read and publish one frame; count timer periods that were missed."""
        now = time.monotonic()
        self.dropped += max(0, round((now - self._last) / self.period) - 1)
        self._last = now
        frame = self.source.read()
        if frame is None:
            self.get_logger().info("end of the source", once=True)
            return
        rgb, depth = frame.rgb, frame.depth
        camera = self.calibration
        if (camera.width, camera.height) != (rgb.shape[1], rgb.shape[0]):
            camera = camera.resized(rgb.shape[1], rgb.shape[0])  # the device's own size
        if all(self.size) and self.size != (rgb.shape[1], rgb.shape[0]):
            rgb, depth, camera = fit_frame(rgb, depth, camera, *self.size)
        height, width = rgb.shape[:2]
        self.pub_image.publish(image_msg(rgb, frame.stamp, camera.frame_id))
        self.pub_info.publish(camera_info_msg(camera, frame.stamp))
        if depth is not None:
            depth = Image(
                height=height,
                width=width,
                encoding="32FC1",
                is_bigendian=0,
                step=width * 4,
                data=depth.astype("<f4").tobytes(),
            )
            depth.header.stamp = to_time(frame.stamp)
            depth.header.frame_id = camera.frame_id
            self.pub_depth.publish(depth)
        self.published += 1

    def report(self) -> None:
        """Log frame counts."""
        self.get_logger().info(
            f"{self.published} frames published, {self.source.skipped} skipped (unreadable), "
            f"{self.dropped} dropped (late)"
        )

    def destroy_node(self) -> None:
        self.report()
        self.source.close()
        super().destroy_node()


def main() -> None:
    """Run the camera node."""
    run(CameraNode, "simhum camera")


if __name__ == "__main__":
    main()
