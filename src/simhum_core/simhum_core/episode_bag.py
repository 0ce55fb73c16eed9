"""SimHum episodes as rosbag2 bags (MCAP storage), one bag per episode, from any source.

A bag holds the topics a recording on the robot holds (camera image, raw or JPEG-compressed,
camera_info, joint_states, the commanded joint trajectory, EpisodeEvent metadata) and the
episode's metadata in metadata.yaml's custom_data, so `ros2 bag info` and the rosbags
library read it. Bags are written to a staging folder and renamed into place when complete.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from simhum_core.calibration import CameraCalibration
from simhum_core.pose_math import quaternion_from_matrix
from simhum_core.robot import RobotDescription
from simhum_core.topics import Topics

EPISODE_EVENT = "simhum_msgs/msg/EpisodeEvent"
STAGING = ".staging"
METADATA_KEY = "simhum_episode"
EVENTS = {"start": 0, "stop": 1, "success": 2, "failure": 3}


@dataclass(frozen=True)
class EpisodeMetadata:
    """What every SimHum episode says about itself."""

    episode_id: str
    task: str
    domain: str  # sim | human | real (proxy or not; see note)
    embodiment: str  # robot | human
    seed: int
    success: bool
    operator: str = ""
    note: str = ""


def msg_dir() -> Path:
    """simhum_msgs' .msg files: the installed share folder, else this source tree's."""
    source = Path(__file__).resolve().parents[2] / "simhum_msgs" / "msg"
    if source.is_dir():
        return source
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("simhum_msgs")) / "msg"


@lru_cache(maxsize=1)
def typestore():
    """ROS 2 Jazzy message types plus SimHum's own, read from simhum_msgs' definitions."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    for path in sorted(msg_dir().glob("*.msg")):
        store.register(get_types_from_msg(path.read_text(), f"simhum_msgs/msg/{path.stem}"))
    return store


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an RGB uint8 image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def decode_image(
    data: bytes | np.ndarray, fmt: str, size: tuple[int, int] | None = None
) -> np.ndarray:
    """RGB uint8 array of a sensor_msgs/CompressedImage payload; for a caller that shrinks
    it to ``size`` (W, H), a JPEG is decoded at the smallest scale (1/2, 1/4, 1/8) that is
    still at least that large (several times faster)."""
    from PIL import Image

    del fmt  # JPEG and PNG are both recognised from their bytes
    image = Image.open(io.BytesIO(bytes(data)))
    if size:
        image.draft("RGB", size)
    return np.asarray(image.convert("RGB"))


class EpisodeBagWriter:
    """Writes one episode: open, stream (the rollout's sink interface), then close."""

    def __init__(
        self,
        final_path: Path,
        robot: RobotDescription,
        camera: CameraCalibration,
        topics: Topics,
        metadata: EpisodeMetadata,
        compressed: bool = False,
        start_ns: int = 1_767_225_600 * 10**9,  # 2026-01-01: sim episodes start at a fixed time
    ) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.final_path = Path(final_path)
        self.robot, self.camera, self.topics = robot, camera, topics
        self.metadata, self.compressed, self.start_ns = metadata, compressed, start_ns
        self.store = typestore()
        staging = self.final_path.parent / STAGING
        staging.mkdir(parents=True, exist_ok=True)
        self.staging_path = staging / self.final_path.name
        if self.staging_path.exists():  # left by an interrupted run
            shutil.rmtree(self.staging_path)
        self._writer = Writer(self.staging_path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        image_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
        image_topic = topics.camera_image_compressed if compressed else topics.camera_image
        # stream -> (topic, type); a topic enters the bag when its stream is first written,
        # so robot episodes hold no hand poses and human episodes no joint states
        self._streams = {
            "image": (image_topic, image_type),
            "info": (topics.camera_info, "sensor_msgs/msg/CameraInfo"),
            "joints": (topics.joint_states, "sensor_msgs/msg/JointState"),
            "command": (topics.joint_trajectory, "trajectory_msgs/msg/JointTrajectory"),
            "gripper": (topics.gripper_command, "std_msgs/msg/Float64MultiArray"),
            "event": (topics.episode_events, EPISODE_EVENT),
            "hand": (topics.hand_pose, "simhum_msgs/msg/HandPose"),
            "target": (topics.end_effector_target, "simhum_msgs/msg/EndEffectorTarget"),
        }
        self._conn: dict = {}
        self._last_t = 0.0
        self.event(0.0, "start")

    def _write(self, key: str, t: float, msg) -> None:
        if key not in self._conn:
            topic, msgtype = self._streams[key]
            self._conn[key] = self._writer.add_connection(topic, msgtype, typestore=self.store)
        conn = self._conn[key]
        self._last_t = max(self._last_t, t)
        self._writer.write(conn, self._ns(t), self.store.serialize_cdr(msg, conn.msgtype))

    def _ns(self, t: float) -> int:
        return self.start_ns + round(t * 1e9)

    def _header(self, t: float, frame_id: str):
        types = self.store.types
        ns = self._ns(t)
        stamp = types["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)
        return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def image(self, t: float, rgb: np.ndarray) -> None:
        """A camera frame and its camera_info."""
        types = self.store.types
        header = self._header(t, self.camera.frame_id)
        if self.compressed:
            data = np.frombuffer(encode_jpeg(rgb), dtype=np.uint8)
            msg = types["sensor_msgs/msg/CompressedImage"](header=header, format="jpeg", data=data)
        else:
            height, width = rgb.shape[:2]
            msg = types["sensor_msgs/msg/Image"](
                header=header,
                height=height,
                width=width,
                encoding="rgb8",
                is_bigendian=0,
                step=width * 3,
                data=np.ascontiguousarray(rgb).reshape(-1),
            )
        self._write("image", t, msg)
        self._write("info", t, camera_info(self.store, self.camera, header))

    def joint_state(self, t: float, position: np.ndarray, velocity: np.ndarray) -> None:
        """Measured joint positions and velocities (URDF joint order)."""
        msg = self.store.types["sensor_msgs/msg/JointState"](
            header=self._header(t, ""),
            name=list(self.robot.joint_names),
            position=np.asarray(position, dtype=np.float64),
            velocity=np.asarray(velocity, dtype=np.float64),
            effort=np.zeros(0),
        )
        self._write("joints", t, msg)

    def command(self, t: float, positions: np.ndarray, time_from_start: float) -> None:
        """What the controllers were sent for the full joint target ``positions``: the arm's
        one-point trajectory ``time_from_start`` ahead and the gripper's command."""
        types = self.store.types
        arm, gripper = self.robot.controller_targets(np.asarray(positions, dtype=np.float64))
        ns = round(time_from_start * 1e9)
        point = types["trajectory_msgs/msg/JointTrajectoryPoint"](
            positions=arm[0],
            velocities=np.zeros(0),
            accelerations=np.zeros(0),
            effort=np.zeros(0),
            time_from_start=types["builtin_interfaces/msg/Duration"](
                sec=ns // 10**9, nanosec=ns % 10**9
            ),
        )
        msg = types["trajectory_msgs/msg/JointTrajectory"](
            header=self._header(t, self.robot.base_frame),
            joint_names=list(self.robot.arm_joint_names),
            points=[point],
        )
        self._write("command", t, msg)
        if len(gripper):
            layout = types["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
            self._write("gripper", t, types["std_msgs/msg/Float64MultiArray"](layout, gripper))

    def hand_pose(
        self,
        t: float,
        keypoints_image: np.ndarray,
        keypoints_camera: np.ndarray,
        confidence: np.ndarray,
        source: str,
    ) -> None:
        """A simhum_msgs/HandPose: 21 keypoints in pixels and in the camera frame (m)."""
        types = self.store.types
        point = types["geometry_msgs/msg/Point"]
        msg = types["simhum_msgs/msg/HandPose"](
            header=self._header(t, self.camera.frame_id),
            keypoints_image=[point(x=float(u), y=float(v), z=0.0) for u, v in keypoints_image],
            keypoints_camera=[
                point(x=float(x), y=float(y), z=float(z)) for x, y, z in keypoints_camera
            ],
            keypoint_confidence=np.asarray(confidence, dtype=np.float32),
            handedness=2,
            confidence=float(np.mean(confidence)),
            source=source,
        )
        self._write("hand", t, msg)

    def end_effector_target(self, t: float, T_base_tool: np.ndarray, aperture: float) -> None:
        """A simhum_msgs/EndEffectorTarget in the robot base frame, from the human hand."""
        types = self.store.types
        qw, qx, qy, qz = (float(v) for v in quaternion_from_matrix(T_base_tool[:3, :3]))
        x, y, z = (float(v) for v in T_base_tool[:3, 3])
        pose = types["geometry_msgs/msg/Pose"](
            position=types["geometry_msgs/msg/Point"](x=x, y=y, z=z),
            orientation=types["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw),
        )
        msg = types["simhum_msgs/msg/EndEffectorTarget"](
            header=self._header(t, self.robot.base_frame),
            pose=pose,
            gripper_aperture=float(aperture),
            embodiment=self.metadata.embodiment,
        )
        self._write("target", t, msg)

    def event(self, t: float, kind: str, note: str = "") -> None:
        """An EpisodeEvent (start, stop, success, failure) carrying the episode's metadata."""
        m = self.metadata
        msg = self.store.types[EPISODE_EVENT](
            header=self._header(t, ""),
            episode_id=m.episode_id,
            task=m.task,
            domain=m.domain,
            embodiment=m.embodiment,
            event=EVENTS[kind],
            seed=m.seed,
            note=note or m.note,
        )
        self._write("event", t, msg)

    def close(self, success: bool) -> Path:
        """Write the outcome, finish the bag and move it into place; returns its path."""
        t = self._last_t
        self.event(t, "success" if success else "failure")
        self.event(t, "stop")
        final = EpisodeMetadata(**{**asdict(self.metadata), "success": bool(success)})
        self._writer.set_custom_data(METADATA_KEY, yaml.safe_dump(asdict(final), sort_keys=True))
        self._writer.close()
        if self.final_path.exists():
            shutil.rmtree(self.final_path)
        os.replace(self.staging_path, self.final_path)
        return self.final_path

    def abort(self) -> None:
        """Drop a half-written episode."""
        self._writer.close()
        shutil.rmtree(self.staging_path, ignore_errors=True)


def camera_info(store, camera: CameraCalibration, header):
    """sensor_msgs/CameraInfo of a calibration (rosbags message)."""
    return store.types["sensor_msgs/msg/CameraInfo"](
        header=header,
        height=camera.height,
        width=camera.width,
        distortion_model=camera.distortion_model,
        d=np.asarray(camera.D, dtype=np.float64),
        k=camera.K.reshape(-1).astype(np.float64),
        r=np.eye(3).reshape(-1),
        p=camera.P.reshape(-1).astype(np.float64),
        binning_x=0,
        binning_y=0,
        roi=store.types["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        ),
    )


def read_metadata(bag: Path) -> EpisodeMetadata:
    """The episode metadata of a bag, from its metadata.yaml; an error naming the bag if
    it is not a complete SimHum episode."""
    metadata = find_metadata(bag)
    if metadata is None:
        raise ValueError(f"{bag}: no '{METADATA_KEY}' entry in metadata.yaml custom_data")
    return metadata


def find_metadata(bag: Path) -> EpisodeMetadata | None:
    """The SimHum episode metadata in a bag's metadata.yaml, None for a recording made
    without SimHum (no such entry); an error naming the bag if it is not a rosbag2 bag."""
    path = Path(bag) / "metadata.yaml"
    if not path.is_file():
        raise ValueError(f"{bag}: not a rosbag2 bag (no metadata.yaml)")
    info = yaml.safe_load(path.read_text())["rosbag2_bagfile_information"]
    custom = (info.get("custom_data") or {}).get(METADATA_KEY)
    return None if custom is None else EpisodeMetadata(**yaml.safe_load(custom))


def bag_problem(bag: Path) -> str | None:
    """Why ``bag`` is not a finished, readable SimHum episode (its metadata, storage files
    and every message counted in metadata.yaml must read); None when it is one."""
    from rosbags.rosbag2 import Reader

    try:
        read_metadata(bag)
        with Reader(bag) as reader:
            read = sum(1 for _ in reader.messages())
            expected = reader.message_count
    except Exception as err:  # any reader failure: the bag is broken
        return f"{type(err).__name__}: {err}"
    if read != expected:
        return f"{read} of the {expected} messages in metadata.yaml read"
    return None


def is_complete(bag: Path) -> bool:
    """Whether ``bag`` is a finished SimHum episode that reads (used to resume generation)."""
    return bag_problem(bag) is None
