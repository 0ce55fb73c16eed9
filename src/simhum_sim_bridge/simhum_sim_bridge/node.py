"""The sim bridge node: the MuJoCo scene behaving on the wire like the robot under ros2_control.

Subscribes to the joint_trajectory_controller's topic and executes trajectories as that
controller does; publishes /joint_states (and, on ~/commanded_joint_states, the positions
the actuators were commanded), the camera image and camera_info, and /clock; serves
ResetScene; publishes an EpisodeEvent when the task succeeds or times out.
"""

from __future__ import annotations

import time

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from simhum_core.calibration import load_calibration
from simhum_core.paths import default_calibration, default_urdf
from simhum_core.robot import load_robot
from simhum_core.topics import load_topics
from simhum_msgs.msg import EpisodeEvent
from simhum_msgs.srv import ResetScene
from simhum_ros.messages import (
    camera_info_msg,
    from_time,
    image_msg,
    joint_state_msg,
    to_time,
)
from simhum_ros.node import EVENTS_QOS, declare, run
from simhum_sim_bridge.domains import DOMAINS
from simhum_sim_bridge.generate import domain_label
from simhum_sim_bridge.rollout import EpisodeSpec, make_scene, ready_pose
from simhum_sim_bridge.runner import Rates, SimRunner
from simhum_sim_bridge.scene import SceneConfig
from simhum_sim_bridge.tasks import TASKS
from simhum_sim_bridge.trajectory import TrajectoryError

PARAMETERS = {
    "robot_description_file": (str(default_urdf()), "URDF or xacro file of the robot"),
    "tool_frame": ("tcp", "tool-centre-point link of the robot"),
    "calibration_file": (str(default_calibration()), "camera calibration YAML"),
    "task": ("pick_place", f"task of the scene: {sorted(TASKS)}"),
    "domain": ("sim", f"visual domain (scene variant): {list(DOMAINS)}"),
    "seed": (0, "scene seed: object layout and look"),
    "split": ("in", "placement grid split: in, out (held-out ring) or all"),
    "physics_hz": (500.0, "physics rate, Hz of simulation time"),
    "camera_hz": (30.0, "camera rate, Hz of simulation time; 0 disables the camera"),
    "joint_state_hz": (100.0, "joint_states rate, Hz of simulation time"),
    "image_width": (128, "rendered image width, pixels"),
    "image_height": (128, "rendered image height, pixels"),
    "real_time_factor": (1.0, "simulation speed relative to wall time; 0 runs as fast as it can"),
    "episode_timeout_s": (0.0, "episode time-out in seconds; 0 takes the task's own"),
    "tick_hz": (200.0, "how often the node advances the simulation, Hz of wall time"),
}


class SimBridgeNode(Node):
    """A thin ROS 2 adapter over SimRunner."""

    def __init__(self) -> None:
        super().__init__("simhum_sim_bridge")
        p = declare(self, PARAMETERS)
        self.robot = load_robot(p["robot_description_file"], tool_frame=p["tool_frame"])
        self.calibration = load_calibration(p["calibration_file"])
        self.scene_config = SceneConfig(p["physics_hz"], p["image_width"], p["image_height"])
        self.timeout = p["episode_timeout_s"] or None
        self.rtf = p["real_time_factor"]
        self.runner = SimRunner(
            self.robot,
            Rates(camera_hz=p["camera_hz"], joint_state_hz=p["joint_state_hz"]),
            ready_pose(self.robot),
        )
        self.episode = EpisodeSpec(
            p["task"],
            p["domain"],
            p["seed"],
            p["split"],
            control_hz=p["physics_hz"],
            scene=self.scene_config,
        )

        topics = load_topics()
        self.pub_joints = self.create_publisher(JointState, topics.joint_states, 10)
        # what the arm's position actuators were last given (as a controller's state topic)
        self.pub_commanded = self.create_publisher(JointState, "~/commanded_joint_states", 10)
        self.pub_image = self.create_publisher(Image, topics.camera_image, qos_profile_sensor_data)
        self.pub_info = self.create_publisher(
            CameraInfo, topics.camera_info, qos_profile_sensor_data
        )
        self.pub_clock = self.create_publisher(Clock, topics.clock, QoSProfile(depth=1))
        self.pub_events = self.create_publisher(EpisodeEvent, topics.episode_events, EVENTS_QOS)
        self.create_subscription(JointTrajectory, topics.joint_trajectory, self.on_trajectory, 10)
        self.create_subscription(
            Float64MultiArray, topics.gripper_command, self.on_gripper_command, 10
        )
        self.create_service(ResetScene, topics.reset_scene, self.on_reset)

        self._start_scene(self.episode)
        self.physics_steps = 0
        self.tick_period = 1.0 / p["tick_hz"]
        self.create_timer(self.tick_period, self.tick)
        self.get_logger().info(
            f"simulating '{self.robot.name}' ({self.robot.dof} joints) in task "
            f"{self.episode.task}, domain {self.episode.domain}, seed {self.episode.seed}"
        )

    def _start_scene(self, spec: EpisodeSpec) -> None:
        """Build and switch to a scene; simulated time then runs on in real time from now,
        rather than catching up the wall time the build took in one burst."""
        self.runner.reset(make_scene(self.robot, self.calibration, spec), spec.seed, self.timeout)
        self.episode = spec
        self._wall0, self._sim0 = time.monotonic(), self.runner.time
        self._publish_event(EpisodeEvent.EVENT_START, "")

    def tick(self) -> None:
        """Advance the simulation to where wall time says it should be, or, free-running
        (real_time_factor 0), as far as this tick's share of wall time allows."""
        if self.rtf > 0:
            target = self._sim0 + (time.monotonic() - self._wall0) * self.rtf
            self.physics_steps += self.runner.advance(target, self)
        else:
            deadline = time.monotonic() + 0.9 * self.tick_period
            while time.monotonic() < deadline:
                self.physics_steps += self.runner.advance(self.runner.time + 0.005, self)
        self.pub_clock.publish(Clock(clock=to_time(self.runner.time)))

    # RunnerSink: what falls due while stepping is published at once.
    def joint_state(self, t: float, position: np.ndarray, velocity: np.ndarray) -> None:
        names = self.robot.joint_names
        self.pub_joints.publish(joint_state_msg(names, position, velocity, t))
        command = self.runner.scene.data.ctrl.copy()
        self.pub_commanded.publish(joint_state_msg(names, command, np.zeros(0), t))

    def image(self, t: float, rgb: np.ndarray) -> None:
        camera = self.runner.camera
        self.pub_image.publish(image_msg(rgb, t, camera.frame_id))
        self.pub_info.publish(camera_info_msg(camera, t))

    def episode_end(self, t: float, success: bool) -> None:
        del t
        event = EpisodeEvent.EVENT_SUCCESS if success else EpisodeEvent.EVENT_FAILURE
        self._publish_event(event, "" if success else "episode timed out")
        self.get_logger().info(f"episode {'succeeded' if success else 'timed out'}")

    def _publish_event(self, event: int, note: str) -> None:
        spec = self.episode
        msg = EpisodeEvent(
            episode_id=spec.episode_id,
            task=spec.task,
            domain=domain_label(spec.domain),
            embodiment=EpisodeEvent.EMBODIMENT_ROBOT,
            event=event,
            seed=spec.seed,
            note=note or f"scene domain {spec.domain}",
        )
        msg.header.stamp = to_time(self.runner.time)
        self.pub_events.publish(msg)

    def on_trajectory(self, msg: JointTrajectory) -> None:
        """Execute a trajectory like joint_trajectory_controller: a bad one is rejected and
        the current one keeps executing."""
        stamp = from_time(msg.header.stamp)
        if 0 < stamp < self._sim0:
            # decided before this episode's scene was built (still in flight at the reset)
            self.get_logger().info(
                "trajectory stamped before the episode start dropped", throttle_duration_sec=5.0
            )
            return
        try:
            if not msg.points:
                raise TrajectoryError("trajectory has no points")
            velocities = None
            if all(len(pt.velocities) == len(msg.joint_names) for pt in msg.points):
                velocities = np.array([pt.velocities for pt in msg.points], dtype=np.float64)
            warnings = self.runner.send(
                msg.joint_names,
                [from_time(pt.time_from_start) for pt in msg.points],
                np.array([pt.positions for pt in msg.points], dtype=np.float64),
                velocities,
                stamp,
            )
        except (TrajectoryError, ValueError) as err:
            self.get_logger().error(f"trajectory rejected, the current one continues: {err}")
            return
        for warning in warnings:
            self.get_logger().warning(warning)

    def on_gripper_command(self, msg: Float64MultiArray) -> None:
        """Forward the gripper's command at once, like a forward position controller; a bad
        one is refused and the gripper keeps the last."""
        try:
            warnings = self.runner.command_gripper(np.asarray(msg.data, dtype=np.float64))
        except TrajectoryError as err:
            self.get_logger().error(f"gripper command refused, the last one holds: {err}")
            return
        for warning in warnings:
            self.get_logger().warning(warning)

    def on_reset(self, request: ResetScene.Request, response: ResetScene.Response):
        """Rebuild the scene for a task, seed and variant; unknown names are an error."""
        task = request.task or self.episode.task
        variant = request.variant or self.episode.domain
        try:
            spec = EpisodeSpec(
                task,
                variant,
                int(request.seed),
                self.episode.split,
                control_hz=self.episode.control_hz,
                scene=self.scene_config,
            )
            self._start_scene(spec)
        except (ValueError, RuntimeError) as err:
            response.ok, response.message = False, str(err)
            return response
        response.ok = True
        response.message = f"reset to {spec.episode_id}"
        return response

    def destroy_node(self) -> None:
        self.runner.close()
        super().destroy_node()


def main() -> None:
    """Run the node; a bad URDF or calibration file is one line on stderr, exit 2."""
    run(SimBridgeNode, "simhum_sim_bridge")


if __name__ == "__main__":
    main()
