"""The policy node over DDS, fed by this process instead of a simulator, so that every stamp is
the test's to choose: the watchdog reads each stream's capture stamp, autostart, the start /
pause / stop services, and what a new episode forgets."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import Trigger
from toy_policy import write_joint_position_policy
from trajectory_msgs.msg import JointTrajectory

from simhum_core.kinematics import start_configuration
from simhum_core.topics import load_topics
from simhum_msgs.msg import EpisodeEvent, PolicyStatus
from simhum_ros.messages import (
    from_time,
    image_msg,
    joint_state_msg,
    to_time,
)
from simhum_ros.node import EVENTS_QOS

TOPICS = load_topics()
NODE = "simhum_policy_node.policy_node"
FEED_HZ = 20.0  # the test's camera and joint states
MAX_STEP = 0.15  # the node's default max_step_rad
REPLIES = {"start": "running", "pause": "paused", "stop": "stopped"}


class Feed:
    """A camera and joint states published by this process at FEED_HZ, each stamped ``age``
    seconds before now (a capture stamp, as a real driver sets it); the arm stays at ``q``."""

    def __init__(self, node, robot, q: np.ndarray) -> None:
        self.node, self.robot, self.q = node, robot, q
        self.ages = {"camera": 0.0, "joint_states": 0.0}
        self.on = True
        self.images = node.create_publisher(Image, TOPICS.camera_image, qos_profile_sensor_data)
        self.joints = node.create_publisher(JointState, TOPICS.joint_states, 10)
        self.pixels = np.full((32, 32, 3), 90, np.uint8)
        node.create_timer(1.0 / FEED_HZ, self.publish)

    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def publish(self) -> None:
        if not self.on:
            return
        now = self.now()
        self.images.publish(image_msg(self.pixels, now - self.ages["camera"], "camera"))
        zero = np.zeros(self.robot.dof)
        stamp = now - self.ages["joint_states"]
        self.joints.publish(joint_state_msg(self.robot.joint_names, self.q, zero, stamp))


class Watch:
    """The node's commands and status as this process receives them; ``arm`` indexes the
    trajectory controller's joints in a full joint vector."""

    def __init__(self, node, robot) -> None:
        self.arm = robot.indices(robot.arm_joint_names)
        self.commands: list[JointTrajectory] = []
        self.status: list[PolicyStatus] = []
        node.create_subscription(
            JointTrajectory, TOPICS.joint_trajectory, self.commands.append, 50
        )
        node.create_subscription(PolicyStatus, TOPICS.policy_status, self.status.append, 50)

    def positions(self, after: float = float("-inf")) -> np.ndarray:
        """Commanded arm positions of the commands stamped after ``after``, in arrival order."""
        return np.array(
            [c.points[0].positions for c in self.commands if from_time(c.header.stamp) > after]
        )

    def holding(self, reason: str) -> list[PolicyStatus]:
        return [
            s for s in self.status if s.state == PolicyStatus.STATE_HOLDING and reason in s.reason
        ]


@pytest.fixture
def graph(tmp_path, start_node, ros_node, spin, robot, change_state):
    """A joint-position policy whose target is 0.6 rad from the arm on two joints (four steps
    of at most MAX_STEP), and this process's feed (stamped ``ages`` old), matched with the
    node before the first observation is sent (without autostart: once configured)."""

    def start(ages: dict[str, float] | None = None, **params):
        ready = start_configuration(robot)
        target = ready.copy()
        target[robot.indices(["shoulder_pan_joint", "wrist_roll_joint"])] += 0.6
        model = write_joint_position_policy(tmp_path, robot, target)
        node = start_node(NODE, model_path=str(model), **params)
        feed, watch = Feed(ros_node, robot, ready), Watch(ros_node, robot)
        if params.get("autostart") is False:
            from lifecycle_msgs.msg import Transition

            assert change_state(Transition.TRANSITION_CONFIGURE), node.output()
        matched = lambda: (  # noqa: E731
            feed.images.get_subscription_count() > 0
            and feed.joints.get_subscription_count() > 0
            and len(watch.status) > 0
        )
        feed.on = False  # until matched, with the ages the test asks for
        assert spin(matched, timeout=60), node.output()
        feed.ages.update(ages or {})
        feed.on = True
        return node, feed, watch, ready, target

    return start


@pytest.mark.parametrize(
    ("stale", "fresh"), [("camera", "joint_states"), ("joint_states", "camera")]
)
def test_the_watchdog_reads_each_streams_capture_stamp(graph, spin, stale, fresh) -> None:
    """Frames or joint states captured a second ago arrive on time (the driver stamps them at
    capture): the node holds on the capture stamp's age, not on when the message came, and
    names the stale stream only."""
    node, _, watch, _, _ = graph(ages={stale: 1.0})
    reason = f"stale observations ({stale} 1."
    assert spin(lambda: len(watch.holding(reason)) >= 10, timeout=30), node.output()
    assert not watch.commands  # nothing was sent
    assert all(fresh not in s.reason for s in watch.holding(reason))
    assert all(s.state == PolicyStatus.STATE_HOLDING for s in watch.status)


def test_start_pause_and_stop_services_without_autostart(
    graph, ros_node, spin, change_state
) -> None:
    """autostart false: configured, it holds until activated; ~/pause holds and keeps the
    episode (on ~/start it goes on from its last command), ~/stop holds and forgets it (on
    ~/start it begins again from the measured joints)."""
    from lifecycle_msgs.msg import Transition

    node, _, watch, ready, target = graph(autostart=False)  # configured, not active
    assert spin(lambda: len(watch.holding("inactive")) >= 5, timeout=30)
    assert not watch.commands

    clients = {
        name: ros_node.create_client(Trigger, f"/simhum_policy/{name}")
        for name in ("start", "pause", "stop")
    }
    for client in clients.values():
        assert client.wait_for_service(timeout_sec=20)

    def call(name: str) -> None:
        future = clients[name].call_async(Trigger.Request())
        assert spin(future.done)
        reply = future.result()
        assert reply.success and reply.message == REPLIES[name]

    # activated: it walks from the measured joints to the target in steps of MAX_STEP at most
    assert change_state(Transition.TRANSITION_ACTIVATE)
    assert spin(
        lambda: (
            len(watch.commands) and np.abs(watch.positions()[-1] - target[watch.arm]).max() < 1e-3
        )
    ), node.output()
    walked = watch.positions()
    assert np.abs(walked[0] - ready[watch.arm]).max() <= MAX_STEP + 1e-9
    assert np.abs(np.diff(walked, axis=0)).max() <= MAX_STEP + 1e-9
    assert any(s.state == PolicyStatus.STATE_RUNNING for s in watch.status)

    # paused: it holds and says why (no command decided after its first paused cycle)
    call("pause")
    assert spin(lambda: len(watch.holding("paused")) >= 5)
    paused_at = from_time(watch.holding("paused")[0].header.stamp)
    assert len(watch.positions(after=paused_at)) == 0
    # resumed: the episode was kept, so it goes on at the target, 0.6 rad from the arm
    call("start")
    assert spin(lambda: len(watch.positions(after=paused_at)) >= 2)
    np.testing.assert_allclose(watch.positions(after=paused_at)[0], target[watch.arm], atol=1e-3)

    # stopped: it holds and forgets the episode; started again, it begins from the arm
    call("stop")
    assert spin(lambda: len(watch.holding("stopped")) >= 5)
    stopped_at = from_time(watch.holding("stopped")[0].header.stamp)
    assert len(watch.positions(after=stopped_at)) == 0
    call("start")
    assert spin(lambda: len(watch.positions(after=stopped_at)) >= 1)
    assert np.abs(watch.positions(after=stopped_at)[0] - ready[watch.arm]).max() <= MAX_STEP + 1e-9


def test_a_new_episode_forgets_the_last_ones_observations(graph, ros_node, spin) -> None:
    """On EpisodeEvent START the node drops what it had and every observation stamped before
    the episode began (still in flight at the reset), then starts again from the arm."""
    node, feed, watch, ready, target = graph()
    assert spin(
        lambda: (
            len(watch.commands) and np.abs(watch.positions()[-1] - target[watch.arm]).max() < 1e-3
        )
    ), node.output()
    events = ros_node.create_publisher(EpisodeEvent, TOPICS.episode_events, EVENTS_QOS)
    assert spin(lambda: events.get_subscription_count() > 0)
    feed.on = False
    waiting = "waiting for camera and joint states"
    zero = np.zeros(feed.robot.dof)
    for late in ("camera", "joint_states"):
        start = feed.now()
        event = EpisodeEvent(event=EpisodeEvent.EVENT_START, task="pick_place", seed=1)
        event.header.stamp = to_time(start)
        events.publish(event)
        seen = len(watch.status)
        assert spin(lambda: len(watch.holding(waiting)[seen:]) >= 3), node.output()  # noqa: B023
        # one stream captured just before the episode start (arriving after it), the other
        # in this episode: the late one is dropped, so the node still waits for it
        for _ in range(5):
            stamps = {"camera": feed.now(), "joint_states": feed.now(), late: start - 0.05}
            feed.images.publish(image_msg(feed.pixels, stamps["camera"], "camera"))
            feed.joints.publish(
                joint_state_msg(feed.robot.joint_names, ready, zero, stamps["joint_states"])
            )
            seen = len(watch.status)
            assert spin(lambda: len(watch.status) > seen)  # noqa: B023
        assert all(waiting in s.reason for s in watch.status[-3:]), late
        assert len(watch.positions(after=start)) == 0, late

    # this episode's observations: it starts again one step from the arm, not at the target
    feed.on = True
    assert spin(lambda: len(watch.positions(after=start)) >= 1), node.output()
    assert np.abs(watch.positions(after=start)[0] - ready[watch.arm]).max() <= MAX_STEP + 1e-9
