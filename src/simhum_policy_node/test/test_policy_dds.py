"""The policy node over real DDS with the sim bridge: it drives the arm and logs where its
weights come from, refuses a model that does not fit the robot or is no ONNX model, and holds
(and says why) on a stale camera, a NaN output or an onnxruntime failure."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from toy_policy import fail_on_lit_pixels, write_joint_position_policy
from trajectory_msgs.msg import JointTrajectory

from simhum_core.synthetic import serial_arm_urdf
from simhum_core.topics import load_topics
from simhum_msgs.msg import EpisodeEvent, PolicyStatus
from simhum_msgs.srv import ResetScene
from simhum_sim_bridge.rollout import ready_pose

TOPICS = load_topics()


class Watch:
    """What the test process sees of the running graph."""

    def __init__(self, node) -> None:
        self.commands: list[JointTrajectory] = []
        self.gripper: list[Float64MultiArray] = []
        self.status: list[PolicyStatus] = []
        self.joints: list[JointState] = []
        self.events: list[EpisodeEvent] = []
        node.create_subscription(EpisodeEvent, TOPICS.episode_events, self.events.append, 10)
        node.create_subscription(
            JointTrajectory, TOPICS.joint_trajectory, self.commands.append, 50
        )
        node.create_subscription(
            Float64MultiArray, TOPICS.gripper_command, self.gripper.append, 50
        )
        node.create_subscription(PolicyStatus, TOPICS.policy_status, self.status.append, 50)
        node.create_subscription(JointState, TOPICS.joint_states, self.joints.append, 50)


def start_graph(start_node, model: str, **bridge):
    bridge_node = start_node(
        "simhum_sim_bridge.node",
        task="pick_place",
        domain="real",
        **{"image_width": 32, "image_height": 32, **bridge},
    )
    policy_node = start_node("simhum_policy_node.policy_node", model_path=model, use_sim_time=True)
    return bridge_node, policy_node


def test_trained_policy_drives_the_arm(tiny_policy, start_node, ros_node, spin, robot):
    bridge, policy = start_graph(start_node, str(tiny_policy))
    watch = Watch(ros_node)
    log = lambda: bridge.output() + policy.output()  # noqa: E731
    assert spin(lambda: len(watch.commands) >= 20 and len(watch.joints) >= 20, timeout=60), log()
    running = [s for s in watch.status if s.state == PolicyStatus.STATE_RUNNING]
    assert running and running[-1].execution_provider == "CPUExecutionProvider"
    assert running[-1].model_id == "simhum_policy"
    # where the weights come from: the exported stage and the lineage of the tiny run (the
    # fine-tune's last step, from the pre-training's step selected on validation)
    assert re.search(
        r"training stage 'finetune', lineage: simhum/pretrain step \d+ \(config [0-9a-f]{12}\) "
        r"-> simhum/finetune step 3 \(config [0-9a-f]{12}\)",
        policy.output(),
    ), policy.output()
    # each command streams the ensembled chunk's coming points, one per control period
    times = [[p.time_from_start.nanosec * 1e-9 for p in c.points] for c in watch.commands[-5:]]
    assert all(t == pytest.approx([0.1, 0.2, 0.3, 0.4]) for t in times), times
    # the arm's joints to the trajectory controller, the gripper's to its forward controller
    arm, grip = robot.indices(robot.arm_joint_names), robot.indices(["left_finger_joint"])
    assert all(c.joint_names == list(robot.arm_joint_names) for c in watch.commands)
    commands = np.array([c.points[0].positions for c in watch.commands])
    assert np.all(commands >= robot.lower[arm] - 1e-9)
    assert np.all(commands <= robot.upper[arm] + 1e-9)
    assert np.abs(np.diff(commands, axis=0)).max() <= 0.15 + 1e-9  # per-cycle step bound
    gripper = np.array([g.data for g in watch.gripper])
    assert len(gripper) >= 10 and gripper.shape[1] == 1
    assert np.all(gripper >= robot.lower[grip] - 1e-9) and np.all(gripper <= robot.upper[grip])
    first = np.array(watch.joints[0].position)
    assert spin(lambda: np.abs(np.array(watch.joints[-1].position) - first).max() > 0.01)
    # the arm follows: the measured positions are near one of the last 0.5 s of commands (the
    # latest alone may lead a loaded machine's arm by a cycle: 0.304 rad once, beside a
    # training job)
    recent = np.array([c.points[0].positions for c in watch.commands[-5:]])
    gaps = np.abs(np.array(watch.joints[-1].position)[arm] - recent).max(axis=1)
    assert gaps.min() < 0.3, gaps


def test_new_episode_starts_from_the_ready_pose(start_node, ros_node, spin, robot, tmp_path):
    """After ResetScene (the arm back at its ready pose) the policy starts again from there,
    not from where the previous episode left the arm."""
    ready = ready_pose(robot)
    target = ready.copy()
    target[robot.indices(["shoulder_pan_joint", "wrist_roll_joint"])] += 0.6
    model = write_joint_position_policy(tmp_path, robot, target)
    bridge, policy = start_graph(start_node, str(model))
    watch = Watch(ros_node)
    log = lambda: bridge.output() + policy.output()  # noqa: E731
    position = lambda: np.array(watch.joints[-1].position)  # noqa: E731
    assert spin(lambda: watch.joints and np.abs(position() - ready).max() > 0.4, 60), log()
    client = ros_node.create_client(ResetScene, TOPICS.reset_scene)
    assert client.wait_for_service(timeout_sec=20)
    # every command so far sits at the target, 0.6 rad from the ready pose (this process may
    # not have read them all yet: only commands near the ready pose tell the episodes apart)
    seen = len(watch.commands)
    future = client.call_async(ResetScene.Request(task="pick_place", seed=1, variant="real"))
    assert spin(future.done) and future.result().ok
    assert spin(
        lambda: any(e.event == EpisodeEvent.EVENT_START and e.seed == 1 for e in watch.events)
    )

    arm = robot.indices(robot.arm_joint_names)

    def near_ready() -> bool:
        after = np.array([c.points[0].positions for c in watch.commands[seen:]])
        return len(after) > 0 and np.abs(after - ready[arm]).max(axis=1).min() < 0.2

    # the new episode's first command is one step (0.15 rad) from the ready pose; a node that
    # kept the last episode's state would go on commanding the target
    assert spin(near_ready, timeout=30), log()


def run_node(ros_env, **params: str) -> subprocess.CompletedProcess:
    """The policy node run to its end (a refusal) with ``params``."""
    args = [sys.executable, "-m", "simhum_policy_node.policy_node", "--ros-args"]
    for name, value in params.items():
        args += ["-p", f"{name}:={value}"]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=ros_env)


def test_model_for_another_robot_is_refused(tiny_policy, tmp_path, ros_env):
    other = tmp_path / "seven.urdf"
    other.write_text(serial_arm_urdf(7, tool_frame="tcp"))
    result = run_node(ros_env, model_path=str(tiny_policy), robot_description_file=str(other))
    assert result.returncode == 2
    assert "refusing to start" in result.stderr and "trained for joints" in result.stderr


def test_a_guidance_scale_for_a_policy_without_guidance_is_refused(tiny_policy, ros_env):
    result = run_node(ros_env, model_path=str(tiny_policy), guidance_scale="1.0")
    assert result.returncode == 2
    assert "refusing to start" in result.stderr
    assert "no classifier-free guidance" in result.stderr


def test_a_file_that_is_no_onnx_model_is_refused_in_one_line(tmp_path, ros_env):
    model = tmp_path / "notes.onnx"
    model.write_text("not a model")
    result = run_node(ros_env, model_path=str(model))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"simhum_policy: refusing to start: {model}: onnxruntime cannot load it as an ONNX "
        f"model (InvalidProtobuf: [ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model "
        f"from {model} failed:Protobuf parsing failed.)"
    ]


def test_stale_camera_makes_it_hold(tiny_policy, start_node, ros_node, spin):
    bridge, policy = start_graph(start_node, str(tiny_policy), camera_hz=1.0)
    watch = Watch(ros_node)
    assert spin(
        lambda: any("stale observations (camera" in s.reason for s in watch.status), timeout=60
    ), bridge.output() + policy.output()
    assert spin(lambda: len(watch.status) >= 30, timeout=60)  # three seconds of cycles
    holding = [s for s in watch.status if s.state == PolicyStatus.STATE_HOLDING]
    assert len(holding) > len(watch.commands)  # a 1 Hz camera: held most cycles


def test_wrong_size_frames_are_dropped_and_it_holds(tiny_policy, start_node, ros_node, spin):
    """Any publisher on the camera topic can send a frame of another size: the node drops it,
    says why and holds instead of exiting."""
    bridge, policy = start_graph(start_node, str(tiny_policy), image_width=48)
    watch = Watch(ros_node)
    reason = "the model expects 32x32 images, the camera gives 48x32; frames dropped"
    assert spin(lambda: any(reason in s.reason for s in watch.status), timeout=60), (
        bridge.output() + policy.output()
    )
    spin(lambda: False, timeout=1.0)
    assert policy.proc.poll() is None, policy.output()  # still running
    assert not watch.commands
    assert reason in policy.output()
    assert all(s.state == PolicyStatus.STATE_HOLDING for s in watch.status)


@pytest.fixture
def nan_policy(tiny_policy, tmp_path):
    """The tiny policy with one denoiser weight set to NaN."""
    denoiser_name = f"{tiny_policy.stem}.denoiser.onnx"
    shutil.copy(tiny_policy, tmp_path / tiny_policy.name)
    model = onnx.load(tiny_policy.parent / denoiser_name)
    weight = next(i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT)
    values = numpy_helper.to_array(weight).copy()
    values.flat[0] = np.nan
    weight.CopyFrom(numpy_helper.from_array(values, weight.name))
    onnx.save(model, tmp_path / denoiser_name)
    return tmp_path / tiny_policy.name


def test_nan_output_makes_it_hold(nan_policy, start_node, ros_node, spin):
    bridge, policy = start_graph(start_node, str(nan_policy))
    watch = Watch(ros_node)
    assert spin(lambda: any("NaN" in s.reason for s in watch.status), timeout=60), (
        bridge.output() + policy.output()
    )
    spin(lambda: False, timeout=1.0)
    assert not watch.commands  # nothing was sent
    assert all(s.state == PolicyStatus.STATE_HOLDING for s in watch.status)


def test_an_inference_failure_holds_the_arm_and_the_node_stays_up(
    start_node, ros_node, spin, robot, tmp_path
):
    """onnxruntime failing inside the node (here a Gather out of bounds on any lit frame,
    after a warm-up on blank frames that passes): the node holds, says why, and lives on."""
    model = fail_on_lit_pixels(write_joint_position_policy(tmp_path, robot, ready_pose(robot)))
    bridge, policy = start_graph(start_node, str(model))
    watch = Watch(ros_node)
    reason = f"{model}: inference failed (InvalidArgument"
    assert spin(lambda: any(reason in s.reason for s in watch.status), timeout=60), (
        bridge.output() + policy.output()
    )
    spin(lambda: False, timeout=1.0)
    assert policy.proc.poll() is None, policy.output()  # still running
    assert not watch.commands
    assert all(s.state == PolicyStatus.STATE_HOLDING for s in watch.status)
    assert f"holding: {reason}" in policy.output() and "Traceback" not in policy.output()


def test_malformed_joint_states_are_ignored(tiny_policy, start_node, ros_node, spin, robot):
    """A JointState whose positions do not match its names (or are not finite) used to kill
    the node; it is now ignored with a message, and the node keeps commanding."""
    _, policy = start_graph(start_node, str(tiny_policy))
    watch = Watch(ros_node)
    # the bridge's joint states too: the bad messages are stamped like the latest of them
    assert spin(lambda: len(watch.commands) >= 3 and watch.joints, timeout=60), policy.output()
    publisher = ros_node.create_publisher(JointState, TOPICS.joint_states, 10)
    assert spin(lambda: publisher.get_subscription_count() >= 2)  # the policy node's too
    names = list(robot.joint_names)
    # the node keeps only the latest joint state (depth 1), so the bridge's own may overwrite
    # a bad one before it is read: send them until the node has said it ignored one
    bad = [JointState(name=names, position=p) for p in ([], [float("nan")] * len(names))]

    def ignored() -> bool:
        for msg in bad:  # stamped now in simulated time (older ones are another episode's)
            msg.header.stamp = watch.joints[-1].header.stamp
            publisher.publish(msg)
        return "joint_states ignored" in policy.output()

    assert spin(ignored, timeout=30), policy.output()
    sent = len(watch.commands)
    assert spin(lambda: len(watch.commands) >= sent + 5, timeout=30), policy.output()
    assert policy.proc.poll() is None


def test_lifecycle_configure_activate_deactivate(
    tiny_policy, start_node, ros_node, spin, change_state
):
    """Configured: the model is loaded and the node holds; active: it commands; inactive
    again: it holds. A start request while inactive is refused."""
    from lifecycle_msgs.msg import Transition
    from std_srvs.srv import Trigger

    start_node("simhum_sim_bridge.node", task="pick_place", domain="real",
               image_width=32, image_height=32)  # fmt: skip
    policy = start_node(
        "simhum_policy_node.policy_node",
        model_path=str(tiny_policy),
        use_sim_time=True,
        autostart=False,
    )
    watch = Watch(ros_node)
    assert change_state(Transition.TRANSITION_CONFIGURE), policy.output()
    assert spin(lambda: any(s.reason == "inactive" for s in watch.status), 60), policy.output()
    start = ros_node.create_client(Trigger, "/simhum_policy/start")
    assert start.wait_for_service(timeout_sec=30)
    refused = start.call_async(Trigger.Request())
    assert spin(refused.done, 30) and not refused.result().success
    assert watch.commands == []
    assert change_state(Transition.TRANSITION_ACTIVATE)
    assert spin(lambda: len(watch.commands) >= 5, 60), policy.output()
    assert change_state(Transition.TRANSITION_DEACTIVATE)
    watch.status.clear()
    assert spin(lambda: len(watch.status) >= 5 and watch.status[-1].reason == "inactive", 60)
    sent = len(watch.commands)
    assert spin(lambda: len(watch.status) >= 15, 60)
    assert len(watch.commands) == sent  # nothing commanded while inactive


def test_lifecycle_configure_fails_with_the_reason_for_a_bad_model(
    tmp_path, start_node, ros_node, spin, change_state
):
    from lifecycle_msgs.msg import Transition

    model = tmp_path / "notes.onnx"
    model.write_text("not a model")
    policy = start_node("simhum_policy_node.policy_node", model_path=str(model), autostart=False)
    assert not change_state(Transition.TRANSITION_CONFIGURE)
    assert policy.proc.poll() is None  # still up, unconfigured: nothing commands
    assert spin(lambda: "configure failed" in policy.output() and "notes.onnx" in policy.output())
