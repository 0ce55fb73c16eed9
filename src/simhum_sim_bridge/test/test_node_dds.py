"""The sim bridge in its own process, driven over DDS by this one like a ros2_control robot."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from simhum_core.topics import load_topics
from simhum_msgs.msg import EpisodeEvent
from simhum_msgs.srv import ResetScene
from simhum_ros.messages import from_time, image_array, trajectory_msg
from simhum_ros.node import EVENTS_QOS
from simhum_sim_bridge.experts import ScriptedExpert, plan_for
from simhum_sim_bridge.rollout import EpisodeSpec, make_scene

TOPICS = load_topics()
MODULE = "simhum_sim_bridge.node"


class Probe:
    """Subscriptions of the test process to the bridge's outputs."""

    def __init__(self, node) -> None:
        self.joints: list[JointState] = []
        self.images: list[Image] = []
        self.infos: list[CameraInfo] = []
        self.clock: list[Clock] = []
        self.events: list[EpisodeEvent] = []
        node.create_subscription(JointState, TOPICS.joint_states, self.joints.append, 10)
        node.create_subscription(
            Image, TOPICS.camera_image, self.images.append, qos_profile_sensor_data
        )
        node.create_subscription(
            CameraInfo, TOPICS.camera_info, self.infos.append, qos_profile_sensor_data
        )
        # deep enough that no tick's clock is dropped while this process lags (200 Hz)
        node.create_subscription(Clock, TOPICS.clock, self.clock.append, 2000)
        node.create_subscription(
            EpisodeEvent, TOPICS.episode_events, self.events.append, EVENTS_QOS
        )
        self.trajectories = node.create_publisher(JointTrajectory, TOPICS.joint_trajectory, 10)
        self.gripper = node.create_publisher(Float64MultiArray, TOPICS.gripper_command, 10)

    def position(self) -> np.ndarray:
        return np.array(self.joints[-1].position)

    def sim_time(self) -> float:
        return from_time(self.clock[-1].clock)


@pytest.fixture
def probe(ros_node, spin, start_node):
    bridge = start_node(
        MODULE,
        task="pick_place",
        domain="sim",
        seed=3,
        image_width=96,
        image_height=72,
        episode_timeout_s=60.0,
    )
    probe = Probe(ros_node)
    assert spin(lambda: len(probe.joints) > 5 and len(probe.images) > 2 and probe.clock, 30), (
        bridge.output()
    )
    assert spin(
        lambda: (
            probe.trajectories.get_subscription_count() > 0
            and probe.gripper.get_subscription_count() > 0
        )
    ), bridge.output()
    probe.bridge = bridge
    return probe


def test_tracks_a_trajectory_and_rejects_bad_ones(probe, spin, robot, camera) -> None:
    q0 = probe.position()
    goal = q0.copy()
    arm = robot.indices(robot.arm_joint_names)
    goal[arm] += np.array([0.3, -0.2, 0.25, 0.4, -0.3, 0.5])
    names = robot.arm_joint_names
    probe.trajectories.publish(trajectory_msg(names, goal[arm][None], [1.0], "base_link"))
    start = probe.sim_time()
    assert spin(lambda: probe.sim_time() > start + 0.5)
    halfway = probe.position()
    assert np.all(np.abs(halfway[arm] - q0[arm]) > 0.05)  # under way, not jumped
    assert spin(lambda: probe.sim_time() > start + 1.8)
    np.testing.assert_allclose(probe.position(), goal, atol=0.01)

    # unknown joint, NaN, velocities beyond the limits (huge ones overflowed the interpolation
    # into a NaN command): rejected with the reason in the log, the arm holds
    bad_name = trajectory_msg(("shoulder_pan_joint", "elbow"), np.zeros((1, 2)), [1.0], "base")
    nan = trajectory_msg(names, np.full((1, len(arm)), np.nan), [1.0], "base")
    fast = trajectory_msg(names, np.stack([goal[arm], goal[arm]]), [1.0, 2.0], "base")
    fingers = trajectory_msg(robot.joint_names, goal[None], [1.0], "base")  # not the JTC's
    for point in fast.points:
        point.velocities = [1e308] * len(arm)
    for msg in (bad_name, nan, fast, fingers):
        probe.trajectories.publish(msg)
    start = probe.sim_time()
    assert spin(lambda: probe.sim_time() > start + 2.0)
    np.testing.assert_allclose(probe.position(), goal, atol=0.01)
    log = probe.bridge.output()
    assert "unknown joint names ['elbow']" in log and "NaN" in log
    assert "unknown joint names ['left_finger_joint', 'right_finger_joint']" in log
    assert "velocities beyond the URDF limits for joints ['shoulder_pan_joint'," in log

    # beyond the URDF limits: clamped, with a warning
    beyond = goal.copy()
    pan = robot.indices(["shoulder_pan_joint"])[0]
    beyond[pan] = 4.0
    probe.trajectories.publish(trajectory_msg(names, beyond[arm][None], [2.0], "base"))
    start = probe.sim_time()
    assert spin(lambda: probe.sim_time() > start + 3.0)
    assert probe.position()[pan] == pytest.approx(robot.upper[pan], abs=0.01)
    assert "clamped for joints ['shoulder_pan_joint']" in probe.bridge.output()

    # the gripper's forward controller: applied at once, the mimic finger follows; a
    # command of the wrong size is refused and the last one holds
    fingers = robot.indices(robot.gripper_joint_names)
    probe.gripper.publish(Float64MultiArray(data=[0.01]))
    probe.gripper.publish(Float64MultiArray(data=[0.0, 0.0]))
    start = probe.sim_time()
    assert spin(lambda: probe.sim_time() > start + 1.0)
    np.testing.assert_allclose(probe.position()[fingers], [0.01, 0.01], atol=2e-3)
    assert "gripper command refused, the last one holds" in probe.bridge.output()

    # camera: the calibration at the rendered size, images at about 30 Hz of sim time
    info, image = probe.infos[-1], probe.images[-1]
    assert (info.width, info.height) == (96, 72) == (image.width, image.height)
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), camera.resized(96, 72).K)
    assert image_array(image).std() > 5
    stamps = [from_time(m.header.stamp) for m in probe.images[-10:]]
    assert np.median(np.diff(stamps)) == pytest.approx(1 / 30, abs=0.005)


def test_reset_scene_service(probe, ros_node, spin) -> None:
    client = ros_node.create_client(ResetScene, TOPICS.reset_scene)
    assert client.wait_for_service(timeout_sec=20)

    def call(**fields):
        future = client.call_async(ResetScene.Request(**fields))
        assert spin(future.done)
        return future.result()

    bad_task = call(task="juggle", seed=1)
    assert not bad_task.ok and "unknown task 'juggle'" in bad_task.message
    bad_variant = call(task="push", seed=1, variant="cartoon")
    assert not bad_variant.ok and "unknown domain 'cartoon'" in bad_variant.message
    # any DDS peer can send this; the bridge refuses it and keeps running
    negative = call(task="push", seed=-1, variant="real")
    assert not negative.ok and "seed must be a non-negative integer" in negative.message
    ok = call(task="stack", seed=9, variant="real_ood_lighting")
    assert ok.ok, ok.message
    assert spin(
        lambda: any(
            e.task == "stack" and e.event == EpisodeEvent.EVENT_START and e.seed == 9
            for e in probe.events
        )
    )


def test_sim_time_runs_on_in_real_time_after_a_reset(probe, ros_node, spin) -> None:
    """Building the new scene (and its first frame's upload) takes wall time; simulated time
    must not catch it up in one burst (a stretch of the episode nobody could react to) but
    start from the new scene and advance a tick at a time."""
    client = ros_node.create_client(ResetScene, TOPICS.reset_scene)
    assert client.wait_for_service(timeout_sec=20)
    future = client.call_async(ResetScene.Request(task="push", seed=4, variant="real"))
    assert spin(future.done) and future.result().ok
    assert spin(
        lambda: any(e.event == EpisodeEvent.EVENT_START and e.seed == 4 for e in probe.events)
    )
    t0 = from_time(next(e for e in probe.events if e.seed == 4).header.stamp)
    assert spin(lambda: probe.sim_time() > t0 + 0.5)
    times = [t0] + [t for t in (from_time(m.clock) for m in probe.clock) if t0 < t < t0 + 0.5]
    steps = np.diff(times)
    # a tick or a few (5 ms each), not the build's 0.15-0.4 s nor the first frame's 0.02-0.1 s
    assert steps.max() < 0.05, f"simulated time jumped {steps.max():.3f} s in one tick"


def test_expert_over_dds_succeeds(probe, ros_node, spin, robot, camera) -> None:
    """A scripted expert in this process, commanding at 10 Hz over DDS, completes the task
    and the bridge announces the success."""
    from simhum_core.kinematics import IKSolver

    scene = make_scene(robot, camera, EpisodeSpec("pick_place", "sim", 3))
    expert = ScriptedExpert(robot, IKSolver(robot), plan_for(scene.task, scene.layout))
    start, q = probe.sim_time(), probe.position()
    state = {"next": start}

    def command() -> bool:
        now = probe.sim_time()
        if now >= state["next"]:
            nonlocal q
            q = expert.act(now - start + 0.1, q)
            arm, gripper = robot.controller_targets(q[None])
            probe.trajectories.publish(trajectory_msg(robot.arm_joint_names, arm, [0.1], "base"))
            probe.gripper.publish(Float64MultiArray(data=gripper.tolist()))
            state["next"] = now + 0.1
        return any(e.event == EpisodeEvent.EVENT_SUCCESS for e in probe.events)

    assert spin(command, timeout=expert.plan.duration + 10), probe.bridge.output()


def test_an_episode_nobody_finishes_times_out_as_a_failure(start_node, ros_node, spin) -> None:
    """With no commands the arm holds at its ready pose and the task is never done: at the
    time-out (of simulated time) the bridge announces a failure, once, and keeps running;
    the next ResetScene starts an episode with its own time-out."""
    bridge = start_node(
        MODULE, task="pick_place", domain="sim", seed=3, camera_hz=0.0, episode_timeout_s=1.0
    )
    probe = Probe(ros_node)
    ends = (EpisodeEvent.EVENT_SUCCESS, EpisodeEvent.EVENT_FAILURE)

    def events(seed: int, kind: int) -> list[EpisodeEvent]:
        return [e for e in probe.events if e.seed == seed and e.event == kind]

    assert spin(lambda: events(3, EpisodeEvent.EVENT_FAILURE), 30), bridge.output()
    (failure,) = events(3, EpisodeEvent.EVENT_FAILURE)
    assert failure.note == "episode timed out" and failure.task == "pick_place"
    client = ros_node.create_client(ResetScene, TOPICS.reset_scene)
    assert client.wait_for_service(timeout_sec=20)
    future = client.call_async(ResetScene.Request(task="push", seed=4, variant="sim"))
    assert spin(future.done) and future.result().ok, future.result()
    assert spin(lambda: events(4, EpisodeEvent.EVENT_FAILURE), 30), bridge.output()
    (start,) = events(4, EpisodeEvent.EVENT_START)
    (failure,) = events(4, EpisodeEvent.EVENT_FAILURE)
    # at the first success check (10 Hz) after 1 s of simulated time
    length = from_time(failure.header.stamp) - from_time(start.header.stamp)
    assert 1.0 - 1e-6 <= length <= 1.1 + 1e-6
    ended = from_time(failure.header.stamp)
    assert spin(lambda: len(probe.clock) > 0 and probe.sim_time() > ended + 0.5)
    assert bridge.proc.poll() is None  # still running
    # one end per episode: the time-out is not announced again while the arm holds
    assert [e for e in probe.events if e.event in ends] == [*events(3, ends[1]), failure]
