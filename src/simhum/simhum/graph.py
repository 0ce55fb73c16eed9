"""The SimHum node graph, declared once. launch/bringup.launch.py and ``simhum up`` both
build their processes from ``declare_graph``; nothing about the graph is written twice.

Sim mode: the sim bridge stands in for ros2_control and the camera. Real mode:
robot_state_publisher, ros2_control_node with the controllers of simhum_description and
their spawners, the camera, and a start-pose step before the policy takes over.

TF is complete in both modes: robot_state_publisher (the processed URDF, on the joint states
of the robot or the bridge) and the camera's static TF from the calibration file. With
``rviz``, RViz2 shows the robot, the camera image, the policy's intent and TF. Nodes that
only help people see (in sim mode TF, in both RViz) come from a ROS 2 installation; where
one is not installed, the graph goes on without it and says what to install.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import MISSING, dataclass, field, fields
from functools import cached_property
from pathlib import Path

import yaml

from simhum_core.calibration import load_calibration
from simhum_core.controllers import (
    GRIPPER_CONTROLLER,
    TRAJECTORY_CONTROLLER,
    controller_parameters,
)
from simhum_core.onnx_policy import (
    PolicyContract,
    PolicyContractError,
    parse_contract,
    sampling_scale,
)
from simhum_core.paths import default_calibration, default_controllers, default_urdf, share_dir
from simhum_core.pose_math import quaternion_from_matrix
from simhum_core.robot import RobotDescription, load_robot
from simhum_core.topics import Topics, load_topics
from simhum_human_capture.frame_sources import SourceError, check_source_spec
from simhum_sim_bridge.grid import SPLITS

MODES = ("sim", "real")
POLICY_NODE = "simhum_policy"
LOG = logging.getLogger(__name__)
# The apt packages of the ROS 2 nodes that only help people see the robot (TF, RViz).
VIEWER_APT_PACKAGES = {
    "robot_state_publisher": "ros-jazzy-robot-state-publisher",
    "tf2_ros": "ros-jazzy-tf2-ros",
    "rviz2": "ros-jazzy-rviz2",
}
# The topic (a topics.yaml name) each display of the shipped RViz configuration shows.
RVIZ_TOPICS = {
    "rviz_default_plugins/Image": "camera_image",
    "rviz_default_plugins/Path": "policy_intent_path",
    "rviz_default_plugins/MarkerArray": "policy_intent_markers",
}


def ros_home() -> Path:
    """Where ROS 2 keeps per-user files: $ROS_HOME, else ~/.ros."""
    return Path(os.environ.get("ROS_HOME", Path.home() / ".ros")).resolve()


@dataclass(frozen=True)
class Bringup:
    """The bringup arguments (the launch file declares one launch argument per field)."""

    mode: str = field(default="sim", metadata={"help": "sim (MuJoCo bridge) or real (robot)"})
    policy: str = field(default="", metadata={"help": "exported policy .onnx; empty: none"})
    task: str = field(default="pick_place", metadata={"help": "task (sim scene; recordings)"})
    variant: str = field(default="real", metadata={"help": "sim scene look (domain)"})
    seed: int = field(default=0, metadata={"help": "sim scene seed"})
    split: str = field(default="in", metadata={"help": "sim placement split: in, out, all"})
    record: bool = field(default=False, metadata={"help": "run the episode recorder"})
    record_dir: str = field(default="runs/episodes", metadata={"help": "recorder output"})
    rviz: bool = field(
        default=False,
        metadata={
            "help": "start RViz2 (robot, camera image, the policy's intended tool path and "
            "gripper, TF) with simhum_description's rviz/simhum.rviz, where rviz2 is installed"
        },
    )
    robot_description: str = field(
        default_factory=lambda: str(default_urdf()),
        metadata={"help": "URDF or xacro of the robot"},
    )
    tool_frame: str = field(default="tcp", metadata={"help": "tool-centre-point link"})
    calibration: str = field(
        default_factory=lambda: str(default_calibration()),
        metadata={"help": "camera calibration YAML (intrinsics, and the camera's pose: TF)"},
    )
    camera: str = field(
        default="sim",
        metadata={
            "help": "sim (rendered by the bridge), a device index or /dev path, a video file, "
            "a folder of images, or realsense"
        },
    )
    guidance_scale: float = field(
        default=-1.0,
        metadata={
            "help": "classifier-free guidance scale of a guided policy (0: unconditional, 1: "
            "conditional on the real domain); negative: the scale its contract gives"
        },
    )
    use_sim_time: str = field(default="auto", metadata={"help": "true, false or auto (sim)"})
    run_dir: str = field(
        default_factory=lambda: str(ros_home() / "simhum"),
        metadata={"help": "generated parameter files (absolute: $ROS_HOME/simhum)"},
    )

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got '{self.mode}'")
        if self.mode == "sim" and self.camera != "sim":
            raise ValueError("mode sim renders its own camera: leave camera:=sim")
        if self.mode == "real" and self.camera == "sim":
            raise ValueError(
                "mode real needs a camera: camera:=<device index, /dev path, video file, "
                "image folder or realsense>"
            )
        if self.mode == "real":
            try:  # an unknown camera is refused before any process starts
                check_source_spec(self.camera)
            except SourceError as err:
                raise ValueError(f"camera:={err}") from None
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got '{self.split}'")
        if self.policy and not Path(self.policy).is_file():
            raise ValueError(f"{self.policy}: policy file not found")
        _ = self.policy_contract  # not an exported policy: refused now (and read once)
        if not self.guidance_scale < 0:  # (NaN too) a policy without guidance refuses it
            if self.policy_contract is None:
                raise ValueError("guidance_scale needs a policy")
            sampling_scale(self.policy_contract, self.guidance_scale)

    @cached_property
    def policy_contract(self) -> PolicyContract | None:
        """The policy's contract, from its metadata; None without a policy."""
        return read_contract(self.policy) if self.policy else None

    @property
    def policy_size(self) -> tuple[int, int] | None:
        """(width, height) of the policy's images, from its contract; None without one."""
        c = self.policy_contract
        return (c.image_width, c.image_height) if c else None

    @property
    def sim_time(self) -> bool:
        """Whether nodes follow /clock."""
        if self.use_sim_time == "auto":
            return self.mode == "sim"
        return self.use_sim_time.lower() == "true"

    @classmethod
    def from_strings(cls, values: dict[str, str]) -> Bringup:
        """From launch-argument strings (types follow the field defaults)."""
        kinds = {f.name: str if f.default is MISSING else type(f.default) for f in fields(cls)}
        out = {}
        for name, text in values.items():
            kind = kinds.get(name, str)
            out[name] = text.lower() == "true" if kind is bool else kind(text)
        return cls(**out)


@dataclass(frozen=True)
class NodeDecl:
    """One process of the graph."""

    name: str
    package: str
    executable: str
    module: str | None  # python -m entry for `simhum up`; None for nodes ROS 2 provides
    parameters: dict = field(default_factory=dict)
    parameter_files: tuple[str, ...] = ()
    arguments: tuple[str, ...] = ()
    oneshot: bool = False  # exits by itself when done (status 0 is not a failure)
    # start only once this oneshot node has exited with status 0; a managed (lifecycle) node
    # without autostart starts at once, is configured, and is activated only then
    after: str | None = None
    managed: bool = False
    remappings: tuple[tuple[str, str], ...] = ()


def read_contract(policy: str) -> PolicyContract:
    """The checked contract in an exported policy's metadata (without onnxruntime)."""
    import onnx

    try:
        model = onnx.load(policy, load_external_data=False)
    except Exception as err:  # protobuf's DecodeError and friends: not an ONNX file
        raise PolicyContractError(
            f"{policy}: not a readable ONNX model ({type(err).__name__})"
        ) from None
    return parse_contract(Path(policy), {p.key: p.value for p in model.metadata_props})


def policy_image_size(policy: str) -> tuple[int, int] | None:
    """(width, height) of an exported policy's images, or None without a policy."""
    return Bringup(policy=policy).policy_size


def camera_tf(calibration: str) -> NodeDecl:
    """tf2_ros's static publisher of the camera's optical frame, from the calibration file."""
    camera = load_calibration(calibration)
    x, y, z = camera.T_base_camera[:3, 3]
    qw, qx, qy, qz = quaternion_from_matrix(camera.T_base_camera[:3, :3])
    values = {"x": x, "y": y, "z": z, "qx": qx, "qy": qy, "qz": qz, "qw": qw}
    arguments = [item for k, v in values.items() for item in (f"--{k}", repr(float(v)))]
    arguments += ["--frame-id", camera.parent_frame, "--child-frame-id", camera.frame_id]
    return NodeDecl(
        "camera_tf", "tf2_ros", "static_transform_publisher", None, arguments=tuple(arguments)
    )


def ros_executable(package: str, executable: str) -> Path | None:
    """Where ROS 2 starts ``executable`` of ``package`` from (as `ros2 run` and launch find
    it: lib/<package> under the package's ament prefix); None where it is not installed."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        path = Path(get_package_prefix(package)) / "lib" / package / executable
    except PackageNotFoundError:
        return None
    return path if os.access(path, os.X_OK) else None


def where_installed(nodes: list[NodeDecl], shows: str) -> list[NodeDecl]:
    """The ``nodes`` (ROS 2 viewers: what they give is ``shows``) that are installed here;
    the others are left out with one logged line saying so and what to install."""
    missing = [n for n in nodes if ros_executable(n.package, n.executable) is None]
    if missing:
        names = ", ".join(f"{n.package}/{n.executable}" for n in missing)
        apt = " ".join(dict.fromkeys(VIEWER_APT_PACKAGES[n.package] for n in missing))
        LOG.warning(
            f"[simhum] {names} not installed here: {shows} not available in this bringup "
            f"(on Ubuntu with ROS 2 Jazzy: sudo apt install {apt})"
        )
    return [n for n in nodes if n not in missing]


def rviz_config(out: Path, base_frame: str, topics: Topics) -> Path:
    """simhum_description's rviz/simhum.rviz made this bringup's: the robot's base frame as
    the fixed frame and each display's topic from topics.yaml; written to ``out``."""
    config = yaml.safe_load((share_dir() / "rviz" / "simhum.rviz").read_text())
    manager = config["Visualization Manager"]
    manager["Global Options"]["Fixed Frame"] = base_frame
    for display in manager["Displays"]:
        if display["Class"] in RVIZ_TOPICS:
            display["Topic"]["Value"] = getattr(topics, RVIZ_TOPICS[display["Class"]])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def viewers(b: Bringup, robot: RobotDescription) -> list[NodeDecl]:
    """The nodes that only help people see: in sim mode TF (robot_state_publisher on the
    bridge's joint states, the camera's static TF), with ``rviz`` RViz2; those installed."""
    time = {"use_sim_time": b.sim_time}
    nodes = []
    if b.mode == "sim":
        nodes += where_installed(
            [robot_state_publisher(robot, time), camera_tf(b.calibration)], "TF"
        )
    if b.rviz:
        config = Path(b.run_dir).resolve() / "simhum.rviz"
        rviz = NodeDecl("rviz2", "rviz2", "rviz2", None, time, arguments=("-d", str(config)))
        if where_installed([rviz], "RViz"):  # its configuration, only where it runs
            rviz_config(config, robot.base_frame, load_topics())
            nodes.append(rviz)
    return nodes


def robot_state_publisher(robot: RobotDescription, time: dict) -> NodeDecl:
    """robot_state_publisher with the processed URDF (TF of every link, /robot_description)."""
    return NodeDecl(
        "robot_state_publisher",
        "robot_state_publisher",
        "robot_state_publisher",
        None,
        {"robot_description": robot.urdf_xml, **time},
    )


def declare_graph(b: Bringup) -> list[NodeDecl]:
    """The processes of a bringup."""
    time = {"use_sim_time": b.sim_time}
    robot_params = {"robot_description_file": b.robot_description, "tool_frame": b.tool_frame}
    # the URDF as the robot's controllers read it, in both modes (the bridge simulates the
    # same: xacro's default hardware is real)
    robot = load_robot(
        b.robot_description,
        tool_frame=b.tool_frame,
        xacro_args={"hardware": "real"} if b.robot_description.endswith(".xacro") else None,
    )
    nodes: list[NodeDecl] = []
    if b.mode == "sim":
        size = b.policy_size or (128, 128)
        nodes.append(
            NodeDecl(
                "simhum_sim_bridge",
                "simhum_sim_bridge",
                "sim_bridge",
                "simhum_sim_bridge.node",
                {
                    **robot_params,
                    "task": b.task,
                    "domain": b.variant,
                    "seed": b.seed,
                    "split": b.split,
                    "calibration_file": b.calibration,
                    "image_width": size[0],
                    "image_height": size[1],
                },
            )
        )
    else:
        # the camera node crops and resizes to the policy's input (and scales CameraInfo)
        size = b.policy_size
        camera_size = {"image_width": size[0], "image_height": size[1]} if size else {}
        controllers = Path(b.run_dir).resolve() / "ros2_controllers.yaml"
        controllers.parent.mkdir(parents=True, exist_ok=True)
        params = controller_parameters(robot, default_controllers())
        controllers.write_text(yaml.safe_dump(params))
        # the arm's and the gripper's controllers, activated together: the start pose waits
        # for both
        commanded = tuple(c for c in (TRAJECTORY_CONTROLLER, GRIPPER_CONTROLLER) if c in params)
        nodes += [
            # ros2_control_node reads the URDF from its /robot_description
            robot_state_publisher(robot, time),
            NodeDecl(
                "controller_manager",
                "controller_manager",
                "ros2_control_node",
                None,
                time,
                parameter_files=(str(controllers),),
                # Jazzy's controller manager takes the URDF from robot_state_publisher's topic
                remappings=(("~/robot_description", "/robot_description"),),
            ),
            NodeDecl(
                "spawner_joint_state_broadcaster",
                "controller_manager",
                "spawner",
                None,
                arguments=("joint_state_broadcaster", "--param-file", str(controllers)),
                oneshot=True,
            ),
            NodeDecl(
                "spawner_joint_trajectory_controller",
                "controller_manager",
                "spawner",
                None,
                arguments=(*commanded, "--param-file", str(controllers)),
                oneshot=True,
            ),
            NodeDecl(
                "simhum_camera",
                "simhum_human_capture",
                "camera",
                "simhum_human_capture.camera_node",
                {"source": b.camera, "calibration_file": b.calibration, **camera_size, **time},
            ),
            camera_tf(b.calibration),
            NodeDecl(
                "simhum_start_pose",
                "simhum_policy_node",
                "start_pose",
                "simhum_policy_node.start_pose",
                {**robot_params, **time},
                oneshot=True,
                after="spawner_joint_trajectory_controller",
            ),
        ]
    if b.policy:
        nodes.append(
            NodeDecl(
                POLICY_NODE,
                "simhum_policy_node",
                "policy",
                "simhum_policy_node.policy_node",
                # on the robot, bringup drives the lifecycle: configured at once (the model
                # loads and warms up meanwhile), active once the arm is at the start pose
                {
                    **robot_params,
                    "model_path": b.policy,
                    "guidance_scale": b.guidance_scale,
                    "autostart": b.mode == "sim",
                    **time,
                },
                after="simhum_start_pose" if b.mode == "real" else None,
                managed=True,
            )
        )
    if b.record:
        nodes.append(
            NodeDecl(
                "simhum_recorder",
                "simhum_human_capture",
                "recorder",
                "simhum_human_capture.recorder_node",
                {"output_dir": b.record_dir, **time},
            )
        )
    return nodes + viewers(b, robot)


def describe(nodes: list[NodeDecl]) -> str:
    """A readable summary of a graph (for logs and --dry-run)."""
    return json.dumps(
        [{"name": n.name, "package": n.package, "executable": n.executable} for n in nodes],
        indent=1,
    )
