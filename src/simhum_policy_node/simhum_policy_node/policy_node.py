"""The policy node: an exported SimHum policy driving ros2_control's joint_trajectory_controller
(the arm) and the gripper's forward position controller.

Latest-observation inputs (the camera with depth-1 sensor-data QoS, /joint_states), inference
at the model's control rate after a warm-up, temporal ensembling, IK to joint targets, safety
limits and a stale-observation watchdog; JointTrajectory and the gripper's
Float64MultiArray out, PolicyStatus for everyone to see, and start / stop / pause services.
Each predicted chunk is also published for people to see (``publish_intent``): the tool poses
the controller steers toward as a nav_msgs/Path in the robot's base frame, and RViz markers of
the same path and its gripper commands (see intent.py and intent_msgs.py).

A managed (lifecycle) node: configure loads and checks the model against the robot and warms
it up (a model that does not fit fails the transition with the reason), activate starts
commanding, deactivate holds, cleanup lets go of the model. With ``autostart`` (sim mode,
tests) it configures and activates itself; on the robot bringup configures it at once (the
model warms up while the arm moves to the start pose) and activates it once the start pose
succeeded.

Timing: a cycle runs as soon as a fresh camera frame arrives once a control period has passed
(so no frame waits for a timer), and a timer at the control rate runs the cycle when frames
are late or stop, where the watchdog then holds the arm and says why.
"""

from __future__ import annotations

import numpy as np
from nav_msgs.msg import Path
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from simhum_core.errors import DescriptionError
from simhum_core.onnx_policy import PROVIDER_PREFERENCE, OnnxPolicy, PolicyContractError
from simhum_core.paths import default_urdf
from simhum_core.robot import load_robot
from simhum_core.topics import load_topics
from simhum_msgs.msg import EpisodeEvent, PolicyStatus
from simhum_policy_node.controller import DEFAULT_STREAM_POINTS, PolicyController
from simhum_policy_node.ensembling import DEFAULT_DECAY
from simhum_policy_node.intent import planned_intent
from simhum_policy_node.intent_msgs import marker_array_msg, path_msg
from simhum_policy_node.safety import SafetyLimits
from simhum_ros.messages import from_time, image_array, to_time, trajectory_msg
from simhum_ros.node import EVENTS_QOS, declare, run

PARAMETERS = {
    "model_path": ("", "exported policy (.onnx observation encoder; its denoiser beside it)"),
    "robot_description_file": (str(default_urdf()), "URDF or xacro of the robot"),
    "tool_frame": ("tcp", "tool-centre-point link"),
    "providers": (list(PROVIDER_PREFERENCE), "execution providers in order of preference"),
    "trt_cache_dir": ("", "TensorRT engine cache folder (empty: beside the model)"),
    "ensemble": (True, "temporal ensembling of action chunks"),
    "ensemble_decay": (
        DEFAULT_DECAY,
        "ensembling weight exp(-decay * age in control steps): the newest chunk weighs most, "
        "0 averages uniformly",
    ),
    "stream_points": (
        DEFAULT_STREAM_POINTS,
        "points of the ensembled chunk's future sent per trajectory (one per control period), "
        "so that the controller interpolates between policy points",
        (1, 64),
    ),
    "max_step_rad": (0.15, "largest joint target change per control cycle"),
    "stale_after_s": (0.3, "hold when the camera or joint states are older than this"),
    "warmup_iterations": (3, "model calls before the first command"),
    "autostart": (
        True,
        "configure and activate at start (else bringup drives the lifecycle transitions)",
    ),
    "seed": (0, "noise seed of the action sampler"),
    "guidance_scale": (
        -1.0,
        "classifier-free guidance scale of a guided policy (0: unconditional, 1: conditional "
        "on the real domain); negative: the scale its contract gives. A policy without "
        "guidance refuses a scale >= 0",
    ),
    "publish_intent": (
        True,
        "publish each predicted chunk for RViz: its tool poses (nav_msgs/Path) and markers of "
        "the path and its gripper commands (visualization_msgs/MarkerArray), base frame",
    ),
}
LATEST_ONLY = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
# The intent is latched: reliable, transient local, the newest chunk only; an RViz started
# (or a display enabled) later sees the current intent at once, and a volatile subscriber,
# RViz's default, matches too.
INTENT_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


class PolicyNode(LifecycleNode):
    """A thin adapter over PolicyController, managed through the ROS 2 node lifecycle."""

    def __init__(self) -> None:
        super().__init__("simhum_policy")
        self.p = declare(self, PARAMETERS)
        self.active, self.running, self.hold_reason = False, False, "inactive"
        self.configure_error: Exception | None = None
        if self.p["autostart"]:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                # one line and exit 2 (see run)
                raise self.configure_error or RuntimeError("configure failed (see the log)")
            self.trigger_activate()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load and check the model, warm it up, then listen and publish (holding)."""
        try:
            self.setup(self.p)
        except (PolicyContractError, DescriptionError, FileNotFoundError, ValueError) as err:
            self.configure_error = err
            if not self.p["autostart"]:  # (with autostart, startup says it in one line)
                self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start commanding."""
        self.active, self.running, self.hold_reason = True, True, ""
        self.get_logger().info("active: commanding")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Hold the arm (the controller keeps the last command)."""
        self.active, self.running, self.hold_reason = False, False, "inactive"
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Let go of the model and the graph connections."""
        for sub in self.entities:
            self.destroy_subscription(sub)
        for pub in (self.pub_command, self.pub_gripper, self.pub_status, *self.pub_intent):
            self.destroy_publisher(pub)
        for srv in self.services_owned:
            self.destroy_service(srv)
        self.destroy_timer(self.timer)
        self.policy = self.controller = None
        return TransitionCallbackReturn.SUCCESS

    def setup(self, p: dict) -> None:
        """What configure does: the robot, the checked model and its controller, warm-up,
        subscriptions, publishers, services and the control timer."""
        if not p["model_path"]:
            raise PolicyContractError("parameter model_path is empty: give the exported .onnx")
        self.robot = load_robot(p["robot_description_file"], tool_frame=p["tool_frame"])
        cache = p["trt_cache_dir"] or None
        self.policy = OnnxPolicy(
            p["model_path"],
            providers=list(p["providers"]),
            trt_cache_dir=cache,
            # negative: the contract's scale; NaN is passed on, and refused
            guidance_scale=None if p["guidance_scale"] < 0 else p["guidance_scale"],
        )
        self.controller = PolicyController(
            self.policy,
            self.robot,
            SafetyLimits(max_step_rad=p["max_step_rad"], stale_after_s=p["stale_after_s"]),
            ensemble=p["ensemble"],
            ensemble_decay=p["ensemble_decay"],
            seed=p["seed"],
            stream_points=p["stream_points"],
        )
        contract = self.policy.contract
        guidance = (
            f"guided toward '{contract.guidance[0]}' (scale {self.policy.guidance_scale})"
            if contract.guidance
            else "unguided"
        )
        self.get_logger().info(
            f"policy {contract.model_id} on {self.policy.provider}: {contract.action_space} "
            f"chunks of {contract.chunk_length} at {contract.control_hz} Hz, sampling "
            f"{guidance}; training stage '{contract.training_stage}', lineage: "
            f"{contract.training()}"
        )
        warm_ms = self.controller.warm_up(p["warmup_iterations"])
        self.get_logger().info(f"warmed up: {warm_ms:.1f} ms per action chunk")

        topics = load_topics()
        self.image: tuple[float, np.ndarray] | None = None
        self.joints: tuple[float, np.ndarray] | None = None
        self.episode_start = float("-inf")  # observations stamped earlier are the last episode's
        self.entities = [
            self.create_subscription(Image, topics.camera_image, self.on_image, LATEST_ONLY),
            self.create_subscription(JointState, topics.joint_states, self.on_joints, LATEST_ONLY),
            # latched: a policy started after the episode began still sees its START
            self.create_subscription(
                EpisodeEvent, topics.episode_events, self.on_episode, EVENTS_QOS
            ),
        ]
        self.pub_command = self.create_publisher(JointTrajectory, topics.joint_trajectory, 10)
        self.pub_gripper = self.create_publisher(Float64MultiArray, topics.gripper_command, 10)
        self.pub_status = self.create_publisher(PolicyStatus, topics.policy_status, 10)
        self.pub_intent = (
            (
                self.create_publisher(Path, topics.policy_intent_path, INTENT_QOS),
                self.create_publisher(MarkerArray, topics.policy_intent_markers, INTENT_QOS),
            )
            if p["publish_intent"]
            else ()
        )
        self.services_owned = [
            self.create_service(Trigger, "~/start", self.on_start),
            self.create_service(Trigger, "~/stop", self.on_stop),
            self.create_service(Trigger, "~/pause", self.on_pause),
        ]
        self.period = 1.0 / contract.control_hz
        self._last_cycle: float | None = None
        self._frame_interval = 0.0
        self.camera_problem = ""  # why the last camera frame was dropped
        self.timer = self.create_timer(self.period, self.on_timer)

    def on_image(self, msg: Image) -> None:
        """Keep the latest frame; a frame of another size than the model's is dropped with a
        message (the arm then holds on a stale camera), whoever published it."""
        c = self.policy.contract
        if (msg.width, msg.height) != (c.image_width, c.image_height):
            self.camera_problem = (
                f"the model expects {c.image_width}x{c.image_height} images, the camera "
                f"gives {msg.width}x{msg.height}; frames dropped"
            )
            self.get_logger().error(
                f"{c.path}: {self.camera_problem} (set the camera node's image_width and "
                f"image_height to the model's)",
                throttle_duration_sec=5.0,
            )
            return
        self.camera_problem = ""
        stamp = from_time(msg.header.stamp)
        if stamp < self.episode_start:
            return
        try:
            pixels = image_array(msg)
        except ValueError as err:
            self.get_logger().warning(f"camera frame skipped: {err}")
            return
        if self.image is not None and stamp > self.image[0]:
            self._frame_interval = stamp - self.image[0]
        self.image = (stamp, pixels)
        now = self.now()
        # run on this frame if the next cycle is due before the following frame would come
        if self._last_cycle is None or now - self._last_cycle >= (
            self.period - self._frame_interval / 2
        ):
            self.cycle(now)

    def on_joints(self, msg: JointState) -> None:
        """Keep the latest joint positions, in URDF order."""
        stamp = from_time(msg.header.stamp)
        if stamp < self.episode_start:
            return
        try:
            order = self.robot.indices(list(msg.name))
        except DescriptionError as err:
            self.get_logger().error(f"joint_states ignored: {err}", throttle_duration_sec=5.0)
            return
        position = np.asarray(msg.position, dtype=np.float64)
        if position.shape != (len(order),) or not np.all(np.isfinite(position)):
            self.get_logger().error(
                f"joint_states ignored: {len(msg.name)} names with {len(msg.position)} "
                "positions, or positions that are not finite",
                throttle_duration_sec=5.0,
            )
            return
        q = np.zeros(self.robot.dof)
        q[order] = position
        self.joints = (stamp, q)

    def on_episode(self, msg: EpisodeEvent) -> None:
        """A new episode starts (the scene was reset): forget the previous one's observations
        and history; the controller starts again from the first joint state of this one."""
        if msg.event == EpisodeEvent.EVENT_START:
            self.episode_start = from_time(msg.header.stamp)
            self.image = self.joints = None
            self.controller.reset()

    def now(self) -> float:
        """Node time in seconds (simulation time under use_sim_time)."""
        return self.get_clock().now().nanoseconds * 1e-9

    def on_timer(self) -> None:
        """Run the cycle when no frame has triggered it for a period and a half."""
        now = self.now()
        if self._last_cycle is None or now - self._last_cycle >= 1.5 * self.period:
            self.cycle(now)

    def cycle(self, now: float) -> None:
        """One control cycle."""
        last = self._last_cycle
        rate = 0.0 if last is None or now <= last else 1.0 / (now - last)
        self._last_cycle = now
        if not self.running:
            self.publish_status(PolicyStatus.STATE_HOLDING, self.hold_reason, 0.0, rate, now)
            return
        if self.image is None or self.joints is None:
            reason = self.camera_problem or "waiting for camera and joint states"
            self.publish_status(PolicyStatus.STATE_HOLDING, reason, 0.0, rate, now)
            return
        (image_stamp, image), (joint_stamp, q) = self.image, self.joints
        steps = self.controller.step_index  # it counts the steps that predicted a chunk
        result = self.controller.step(
            image, q, {"camera": now - image_stamp, "joint_states": now - joint_stamp}
        )
        if result.command is None:
            self.get_logger().warning(f"holding: {result.reason}", throttle_duration_sec=2.0)
            self.publish_status(
                PolicyStatus.STATE_HOLDING, result.reason, result.inference_ms, rate, image_stamp
            )
        else:
            self.publish_command(result.trajectory, min(image_stamp, joint_stamp))
            self.publish_status(
                PolicyStatus.STATE_RUNNING, "", result.inference_ms, rate, image_stamp
            )
        if self.pub_intent and self.controller.step_index != steps:  # after the command
            self.publish_intent(min(image_stamp, joint_stamp))

    def publish_command(self, trajectory: np.ndarray, stamp: float) -> None:
        """The arm's points to joint_trajectory_controller, the next gripper target to the
        gripper's forward position controller. Stamped with the observation it was decided
        from: the trajectory starts then (as joint_trajectory_controller reads a stamp), and
        a scene reset can tell commands decided in the previous episode apart; point k is
        for k + 1 periods later."""
        arm, gripper = self.robot.controller_targets(trajectory)
        self.pub_command.publish(
            trajectory_msg(
                self.robot.arm_joint_names,
                arm,
                [self.period * (k + 1) for k in range(len(arm))],
                self.robot.base_frame,
                stamp=stamp,
            )
        )
        if len(gripper):
            self.pub_gripper.publish(Float64MultiArray(data=gripper.tolist()))

    def publish_intent(self, stamp: float) -> None:
        """The new plan's tool poses and markers, stamped with its observation."""
        intent = planned_intent(self.controller)
        frame, (pub_path, pub_markers) = self.robot.base_frame, self.pub_intent
        pub_path.publish(path_msg(intent, frame, stamp, self.period))
        pub_markers.publish(marker_array_msg(intent, frame, stamp))

    def publish_status(
        self, state: int, reason: str, latency_ms: float, rate: float, stamp: float
    ) -> None:
        """PolicyStatus; its stamp is the observation the decision was made from."""
        msg = PolicyStatus(
            model_id=self.policy.contract.model_id,
            execution_provider=self.policy.provider,
            inference_latency_ms=float(latency_ms),
            loop_rate_hz=float(rate),
            state=state,
            reason=reason,
        )
        msg.header.stamp = to_time(stamp)
        self.pub_status.publish(msg)

    def on_start(self, request: Trigger.Request, response: Trigger.Response):
        """Start (or resume) commanding, when active."""
        if not self.active:
            response.success, response.message = False, "not active: activate the node first"
            return response
        self.running, response.success, response.message = True, True, "running"
        return response

    def on_stop(self, request: Trigger.Request, response: Trigger.Response):
        """Stop commanding and forget the episode's history; the arm holds."""
        self.running, self.hold_reason = False, "stopped"
        self.controller.reset()
        response.success, response.message = True, "stopped"
        return response

    def on_pause(self, request: Trigger.Request, response: Trigger.Response):
        """Pause commanding, keeping the history; the arm holds."""
        self.running, self.hold_reason = False, "paused"
        response.success, response.message = True, "paused"
        return response


def main() -> None:
    """Run the node; a model that does not fit the robot is refused with exit status 2."""
    run(PolicyNode, "simhum_policy")


if __name__ == "__main__":
    main()
