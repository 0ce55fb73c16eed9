"""Fuzzing over DDS: the sim bridge (MuJoCo scene), the recorder and the policy node (a
hand-built joint-position policy, no training) run as processes; for a bounded time this
process sends them random and mutated JointTrajectory and Image messages and ResetScene and
Record requests (seeded). Every node must stay up and still answer a valid request, and the
arm must never be driven by a non-finite or out-of-limit command."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from builtin_interfaces.msg import Duration, Time
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from simhum_core.topics import load_topics
from simhum_msgs.msg import PolicyStatus
from simhum_msgs.srv import Record, ResetScene
from simhum_sim_bridge.domains import DOMAINS
from simhum_sim_bridge.rollout import ready_pose
from simhum_sim_bridge.tasks import TASKS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src/simhum_policy_node/test"))
from toy_policy import write_joint_position_policy

TOPICS = load_topics()
COMMANDED = "/simhum_sim_bridge/commanded_joint_states"  # what the bridge's actuators get
FUZZ_S = 25.0  # sending time, seconds
SEED = 20261201
IMAGE_SIZE = 32
HUGE = [np.nan, np.inf, -np.inf, 1e308, -1e308, 1e9, -1e9]
STRINGS = ["", "..", "../escape", "/tmp/abs", "a/b", ".hidden", "x" * 5000, "ünï", "a b", "-"]
# what MuJoCo prints when a non-finite or huge command reaches an actuator (it then resets
# the arm), and what Python prints when a node dies
FORBIDDEN = ["Nan, Inf or huge value", "Traceback (most recent call last)"]


class Fuzzer:
    """Random and mutated messages and requests from one seeded generator."""

    def __init__(self, rng: np.random.Generator, robot) -> None:
        self.rng, self.robot = rng, robot

    def pick(self, values: list):
        return values[int(self.rng.integers(len(values)))]

    def text(self, valid: list[str]) -> str:
        """A valid value, a hostile one, or random printable characters."""
        kind = self.rng.integers(3)
        if kind == 0:
            return self.pick(valid)
        if kind == 1:
            return self.pick(STRINGS)
        return "".join(chr(c) for c in self.rng.integers(32, 127, size=self.rng.integers(1, 40)))

    def trajectory(self) -> JointTrajectory:
        """A valid trajectory within the limits, then zero to three mutations."""
        robot, rng = self.robot, self.rng
        k = int(rng.integers(1, 5))
        arm = robot.indices(robot.arm_joint_names)  # the trajectory controller's joints
        positions = rng.uniform(robot.lower[arm], robot.upper[arm], size=(k, len(arm)))
        # waypoints up to 3 s apart, the first one often within a few control steps (so
        # that the segments after it run before the next message replaces the trajectory)
        times = np.cumsum([rng.choice([0.02, 1.0]), *rng.uniform(0.1, 3.0, size=k - 1)])
        msg = JointTrajectory(joint_names=list(robot.arm_joint_names))
        msg.points = [
            JointTrajectoryPoint(
                positions=p.tolist(),
                time_from_start=Duration(sec=int(t), nanosec=int(t % 1 * 1e9)),
            )
            for p, t in zip(positions, times, strict=True)
        ]
        for _ in range(int(rng.integers(4))):
            self.mutate_trajectory(msg)
        return msg

    def gripper(self) -> Float64MultiArray:
        """A gripper command: within the limits, huge or non-finite, or of any size."""
        rng, robot = self.rng, self.robot
        n = len(robot.gripper_command_joint_names) if rng.random() < 0.7 else rng.integers(4)
        grip = robot.indices(robot.gripper_command_joint_names)
        values = rng.uniform(robot.lower[grip].min(), robot.upper[grip].max(), size=n)
        if n and rng.random() < 0.3:
            values[int(rng.integers(n))] = float(self.pick(HUGE))
        return Float64MultiArray(data=values.tolist())

    def mutate_trajectory(self, msg: JointTrajectory) -> None:
        rng, points = self.rng, msg.points
        point = self.pick(points) if points else None
        kind = int(rng.integers(12))
        if kind == 0 and point is not None:  # a non-finite or huge position
            values = list(point.positions)
            if values:
                values[int(rng.integers(len(values)))] = float(self.pick(HUGE))
                point.positions = values
        elif kind == 1:  # velocities: huge (finite), non-finite, or ragged
            for pt in points:
                n = len(msg.joint_names) if rng.random() < 0.9 else int(rng.integers(0, 12))
                values = [float(self.pick([1e308, -1e308, 1e9, 0.5, -3.0]))] * n
                if n and rng.random() < 0.2:
                    values[int(rng.integers(n))] = float(self.pick(HUGE[:3]))
                pt.velocities = values
        elif kind == 2 and point is not None:  # ragged positions
            point.positions = list(point.positions)[: int(rng.integers(0, 8))]
        elif kind == 3:  # joints: unknown, missing, duplicated, shuffled, empty
            names = list(msg.joint_names)
            op = int(rng.integers(5))
            if op == 0:
                names.append(self.text(["elbow", ""]))
            elif op == 1 and names:
                names.pop(int(rng.integers(len(names))))
            elif op == 2 and names:
                names[0] = names[-1]
            elif op == 3:
                rng.shuffle(names)
            else:
                names = []
            msg.joint_names = names
        elif kind == 4:  # no points
            msg.points = []
        elif kind == 5 and point is not None:  # time_from_start: negative, huge, unordered
            point.time_from_start = Duration(
                sec=int(self.pick([-1, 0, 2**31 - 1, -(2**31)])),
                nanosec=int(rng.integers(0, 10**9)),
            )
        elif kind == 6:  # stamp: far future, far past, or now-ish
            msg.header.stamp = Time(
                sec=int(self.pick([0, 1, 2**31 - 1, -(2**31), 100])),
                nanosec=int(rng.integers(0, 10**9)),
            )
        elif kind == 7:  # many points
            msg.points = [
                JointTrajectoryPoint(
                    positions=list(points[0].positions) if points else [],
                    time_from_start=Duration(sec=0, nanosec=1000 * (i + 1)),
                )
                for i in range(int(rng.integers(100, 1000)))
            ]
        elif kind == 8 and point is not None:  # accelerations and efforts of any length
            point.accelerations = rng.normal(size=int(rng.integers(12))).tolist()
            point.effort = rng.normal(size=int(rng.integers(12))).tolist()
        elif kind == 9 and point is not None:  # positions far beyond the limits
            point.positions = (rng.normal(size=len(point.positions)) * 1e3).tolist()
        elif kind == 10 and point is not None:  # huge finite velocities over long segments
            msg.points = [
                JointTrajectoryPoint(
                    positions=list(point.positions),
                    velocities=[1e308] * len(point.positions),
                    time_from_start=Duration(sec=sec, nanosec=20_000_000),
                )
                for sec in (0, 3)
            ]
        # kind 11: left valid

    def image(self) -> Image:
        """An image of random size, encoding, step and data length."""
        rng = self.rng
        width, height = (
            (IMAGE_SIZE, IMAGE_SIZE)
            if rng.random() < 0.5
            else (int(rng.integers(0, 80)), int(rng.integers(0, 80)))
        )
        encoding = self.text(["rgb8", "bgr8", "mono8", "32FC1", "rgba8", "yuv422"])
        step = int(self.pick([width * 3, width, 0, width * 3 - 1, 2**31, int(rng.integers(999))]))
        size = int(self.pick([step * height, width * height * 3, 0, int(rng.integers(20_000))]))
        msg = Image(width=width, height=height, encoding=encoding, step=step % 2**32)
        msg.is_bigendian = int(rng.integers(2))
        msg.data = rng.integers(0, 256, size=min(max(size, 0), 200_000), dtype=np.uint8).tobytes()
        return msg

    def reset_request(self) -> ResetScene.Request:
        return ResetScene.Request(
            task=self.text(sorted(TASKS)),
            seed=int(self.pick([0, 7, -1, -(2**63), 2**63 - 1, int(self.rng.integers(10**6))])),
            variant=self.text(list(DOMAINS)),
        )

    def record_request(self) -> Record.Request:
        return Record.Request(
            action=int(self.pick([0, 1, 0, 1, 2, 255])),
            task=self.text(sorted(TASKS)),
            domain=self.text(["sim", "human", "real"]),
            embodiment=self.text(["robot", "human"]),
            operator_name=self.text(["fuzz"]),
            success=bool(self.rng.integers(2)),
            note=self.text(["note"]),
        )


class Service:
    """One request in flight at a time to a service; counts what was sent and answered."""

    def __init__(self, client, make) -> None:
        self.client, self.make = client, make
        self.future = None
        self.sent = self.answered = 0

    def poke(self) -> None:
        if self.future is not None and self.future.done():
            self.answered += self.future.result() is not None
            self.future = None
        if self.future is None:
            self.future = self.client.call_async(self.make())
            self.sent += 1


def test_fuzz_bridge_recorder_and_policy_over_dds(
    tmp_path, start_node, ros_node, spin, robot
) -> None:
    ready = ready_pose(robot)
    model = write_joint_position_policy(tmp_path, robot, ready, image_size=IMAGE_SIZE)
    out = tmp_path / "episodes"
    nodes = {
        "bridge": start_node(
            "simhum_sim_bridge.node",
            task="pick_place",
            domain="sim",
            seed=1,
            image_width=IMAGE_SIZE,
            image_height=IMAGE_SIZE,
        ),
        "recorder": start_node(
            "simhum_human_capture.recorder_node", output_dir=str(out), min_free_gb=0.0
        ),
        "policy": start_node(
            "simhum_policy_node.policy_node", model_path=str(model), use_sim_time=True
        ),
    }
    log = lambda: "\n".join(f"--- {k}\n{n.output()}" for k, n in nodes.items())  # noqa: E731

    joints: list[JointState] = []
    commanded: list[JointState] = []
    status: list[PolicyStatus] = []
    ros_node.create_subscription(JointState, TOPICS.joint_states, joints.append, 100)
    ros_node.create_subscription(JointState, COMMANDED, commanded.append, 100)
    ros_node.create_subscription(PolicyStatus, TOPICS.policy_status, status.append, 10)
    trajectories = ros_node.create_publisher(JointTrajectory, TOPICS.joint_trajectory, 10)
    gripper = ros_node.create_publisher(Float64MultiArray, TOPICS.gripper_command, 10)
    images = ros_node.create_publisher(Image, TOPICS.camera_image, qos_profile_sensor_data)
    reset = ros_node.create_client(ResetScene, TOPICS.reset_scene)
    record = ros_node.create_client(Record, TOPICS.record)
    assert reset.wait_for_service(timeout_sec=60) and record.wait_for_service(timeout_sec=60), (
        log()
    )
    # every subscriber of the fuzzed topics is matched: bridge and recorder on trajectories
    # and gripper commands, policy and recorder on images; the policy runs
    assert spin(
        lambda: (
            trajectories.get_subscription_count() >= 2
            and gripper.get_subscription_count() >= 2
            and images.get_subscription_count() >= 2
            and len(status) > 0
        ),
        60,
    ), log()

    fuzz = Fuzzer(np.random.default_rng(SEED), robot)
    services = {
        "ResetScene": Service(reset, fuzz.reset_request),
        "Record": Service(record, fuzz.record_request),
    }
    sent = {"JointTrajectory": 0, "Float64MultiArray": 0, "Image": 0}
    deadline = time.monotonic() + FUZZ_S
    while time.monotonic() < deadline:
        trajectories.publish(fuzz.trajectory())
        gripper.publish(fuzz.gripper())
        images.publish(fuzz.image())
        for name in sent:
            sent[name] += 1
        for service in services.values():
            service.poke()
        spin(lambda: False, timeout=0.01)  # let the answers and joint states in
    sent |= {f"{name} requests": s.sent for name, s in services.items()}
    answered = {name: s.answered for name, s in services.items()}
    print(f"fuzz: sent {sent} in {FUZZ_S:.0f} s; answered {answered}")

    for name, node in nodes.items():
        assert node.proc.poll() is None, f"{name} died\n{log()}"
    for service in services.values():  # the last fuzzed request is answered too
        assert spin(lambda s=service: s.future is None or s.future.done(), 60), log()

    def call(client, request):
        future = client.call_async(request)
        assert spin(future.done, 60), log()
        return future.result()

    # each node still does its job: a valid reset, a valid episode, the policy runs on
    reply = call(reset, ResetScene.Request(task="pick_place", seed=3, variant="sim"))
    assert reply.ok, reply.message
    call(record, Record.Request(action=Record.Request.ACTION_STOP))  # a fuzzed start may run
    started = call(
        record,
        Record.Request(
            action=Record.Request.ACTION_START, task="push", domain="sim", embodiment="robot"
        ),
    )
    assert started.ok, started.message
    stopped = call(record, Record.Request(action=Record.Request.ACTION_STOP, success=True))
    assert stopped.ok and Path(stopped.bag_path).is_dir(), stopped.message
    status.clear()
    assert spin(lambda: len(status) > 0, 30), log()

    # the arm: every command its actuators were given finite and within the URDF limits,
    # every measured joint state finite, and MuJoCo never saw a non-finite command
    commands = np.array([m.position for m in commanded])
    assert len(commands) > 100 and np.all(np.isfinite(commands)), log()
    beyond = np.maximum(robot.lower - commands, commands - robot.upper).max(axis=0)
    assert np.all(beyond <= 1e-9), dict(zip(robot.joint_names, beyond, strict=True))
    assert len(joints) > 100 and np.all(np.isfinite([m.position for m in joints]))
    for name, node in nodes.items():
        assert not any(f in node.output() for f in FORBIDDEN), f"{name}\n{node.output()}"
    # no name from a request reached a path outside the output folder
    assert all(p.resolve().is_relative_to(out.resolve()) for p in out.rglob("*"))
    assert not any(tmp_path.glob("escape*")) and {p.name for p in tmp_path.iterdir()} <= {
        "episodes",
        "toy.onnx",
        "toy.denoiser.onnx",
    }
    assert min(sent.values()) >= 10 and sent["JointTrajectory"] >= 300, sent
