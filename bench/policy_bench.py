"""Policy-node benchmark through DDS at the model's control rate, in one run:

- observation -> JointTrajectory latency p50/p95 (camera frame received here -> the command
  computed from it received here), vs the model's own sampling time in-process (baseline);
- control-loop jitter (intervals between commands) and the rate sustained;
- commands computed from observations older than the watchdog limit (must be zero);
- execution providers available and the one the node really uses.

    python bench/policy_bench.py --policy runs/demo/model/simhum_policy.onnx [--seconds 20]
Without --policy it trains the default architecture for one step on a few generated
episodes and exports it (latency does not depend on training).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from simhum.graph import NodeDecl
from simhum.supervisor import Supervisor

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", "89")
STALE_AFTER_S = 0.3


def default_model(folder: Path) -> Path:
    """The default architecture (simhum config), trained one step, exported."""
    from simhum_human_capture.proxy_human import main as generate_human
    from simhum_sim_bridge.generate import main as generate
    from simhum_train.convert import main as convert
    from simhum_train.export import main as export
    from simhum_train.train import main as train

    common = [
        "--out",
        str(folder / "ep"),
        "--tasks",
        "pick_place",
        "--width",
        "64",
        "--height",
        "64",
        "-n",
        "2",
        "--workers",
        "2",
    ]
    generate([*common, "--domains", "sim"])
    generate([*common, "--domains", "real", "--seed", "50000"])
    generate_human(common)
    bags = [str(p) for p in (folder / "ep").glob("*/*/*") if not p.name.startswith(".")]
    convert(["--episodes", *bags, "--out", str(folder / "store.zarr"), "--image-size", "64"])
    train(
        [
            "--config",
            "simhum",
            "--no-progress",
            "--set",
            f"out={folder / 'train'}",
            "--set",
            f"data.store={folder / 'store.zarr'}",
            "--set",
            "stages.0.steps=1",
            "--set",
            "stages.1.steps=1",
        ]
    )
    export(
        [
            "--checkpoint",
            str(folder / "train/simhum/finetune/final.pt"),
            "--out",
            str(folder / "model"),
        ]
    )
    return folder / "model" / "simhum_policy.onnx"


def in_process_sampling_ms(policy_path: Path, repeats: int = 30) -> float:
    """Median time of one action-chunk sample with onnxruntime in this process."""
    from simhum_core.onnx_policy import OnnxPolicy

    policy = OnnxPolicy(policy_path, providers=["CPUExecutionProvider"])
    c = policy.contract
    images = np.zeros((c.observation_history, c.image_height, c.image_width, 3), np.uint8)
    proprio = np.tile(c.proprio_mean, (c.observation_history, 1))
    rng = np.random.default_rng(0)
    policy.sample(images, proprio, rng)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        policy.sample(images, proprio, rng)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def through_dds(policy_path: Path, seconds: float) -> dict:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from trajectory_msgs.msg import JointTrajectory

    from simhum.graph import policy_image_size
    from simhum_core.topics import load_topics
    from simhum_msgs.msg import PolicyStatus
    from simhum_ros.messages import from_time

    topics = load_topics()
    width, height = policy_image_size(str(policy_path))
    graph = Supervisor(
        [
            NodeDecl(
                "simhum_sim_bridge",
                "simhum_sim_bridge",
                "sim_bridge",
                "simhum_sim_bridge.node",
                {
                    "domain": "real",
                    "image_width": width,
                    "image_height": height,
                    "episode_timeout_s": 1000.0,
                },
            ),
            NodeDecl(
                "simhum_policy",
                "simhum_policy_node",
                "policy",
                "simhum_policy_node.policy_node",
                {
                    "model_path": str(policy_path),
                    "use_sim_time": True,
                    "stale_after_s": STALE_AFTER_S,
                },
            ),
        ],
        Path(tempfile.mkdtemp()),
    )
    graph.start()
    rclpy.init()
    node = rclpy.create_node("policy_bench")
    image_arrival: dict[float, float] = {}
    commands: list[float] = []
    statuses: list[tuple[float, PolicyStatus]] = []
    node.create_subscription(
        Image,
        topics.camera_image,
        lambda m: image_arrival.setdefault(from_time(m.header.stamp), time.monotonic()),
        qos_profile_sensor_data,
    )
    node.create_subscription(
        JointTrajectory, topics.joint_trajectory, lambda m: commands.append(time.monotonic()), 50
    )
    node.create_subscription(
        PolicyStatus, topics.policy_status, lambda m: statuses.append((time.monotonic(), m)), 50
    )
    try:
        deadline = time.monotonic() + 90
        while len(commands) < 10 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.01)
            graph.check()
        commands.clear()
        statuses.clear()
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            rclpy.spin_once(node, timeout_sec=0.005)
    finally:
        graph.stop()
        node.destroy_node()
        rclpy.shutdown()
    running = [(t, s) for t, s in statuses if s.state == PolicyStatus.STATE_RUNNING]
    latency = (
        np.array(
            [
                t - image_arrival[from_time(s.header.stamp)]
                for t, s in running
                if from_time(s.header.stamp) in image_arrival
            ]
        )
        * 1e3
    )
    intervals = np.diff(commands) * 1e3
    return {
        "latency_ms": latency,
        "intervals_ms": intervals,
        "rate_hz": len(commands) / seconds,
        "provider": running[-1][1].execution_provider if running else "none",
        "holding": sum(s.state != PolicyStatus.STATE_RUNNING for _, s in statuses),
        "stale_commands": int(np.sum(latency > STALE_AFTER_S * 1e3)),
    }


def main() -> None:
    import onnxruntime

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", type=Path)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    policy = args.policy or default_model(Path(tempfile.mkdtemp()))
    baseline = in_process_sampling_ms(policy)
    result = through_dds(policy, args.seconds)
    lat, jit = result["latency_ms"], result["intervals_ms"]
    print(f"policy benchmark: {policy}, {os.cpu_count()} cores")
    print(
        f"  providers available: {onnxruntime.get_available_providers()}; "
        f"used by the node: {result['provider']}"
    )
    print(f"  action-chunk sampling in-process (baseline):   p50 {baseline:6.1f} ms")
    print(
        f"  observation -> JointTrajectory over DDS:       p50 {np.percentile(lat, 50):6.1f} ms,"
        f" p95 {np.percentile(lat, 95):6.1f} ms over {len(lat)} commands "
        f"(ratio p50/baseline {np.percentile(lat, 50) / baseline:.2f}); target p95 < 60 ms"
    )
    print(
        f"  control rate {result['rate_hz']:.2f} Hz (target 10); command interval "
        f"mean {jit.mean():.1f} ms, std {jit.std():.1f} ms, max {jit.max():.1f} ms"
    )
    print(
        f"  commands from observations older than {STALE_AFTER_S} s: "
        f"{result['stale_commands']} (target 0); holding cycles: {result['holding']}"
    )


if __name__ == "__main__":
    main()
