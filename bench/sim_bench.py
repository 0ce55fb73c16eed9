"""Simulation benchmark: bare MuJoCo vs the sim bridge node, and demonstration generation.

Prints, measured in this run on this machine:
- physics steps/s and 128x128 render fps of bare MuJoCo and of the bridge node (its own
  process, free-running, observed over DDS), with their ratio;
- the bridge's real-time factor with a 30 Hz 128x128 camera and 500 Hz physics;
- generation: successful episodes per minute (and per core) at 128x128, 10 Hz control.

    python bench/sim_bench.py [--seconds 8] [--episodes 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import mujoco

from simhum.graph import NodeDecl
from simhum.supervisor import Supervisor
from simhum_core import load_calibration, load_robot
from simhum_core.paths import default_calibration, default_urdf
from simhum_sim_bridge.generate import main as generate
from simhum_sim_bridge.render import CameraRenderer
from simhum_sim_bridge.rollout import EpisodeSpec, make_scene, ready_pose
from simhum_sim_bridge.scene import CAMERA

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", "87")


def bare(seconds: float) -> tuple[float, float]:
    """Bare MuJoCo on the bridge's default scene: physics steps/s, 128x128 render fps."""
    robot, camera = load_robot(default_urdf()), load_calibration(default_calibration())
    scene = make_scene(robot, camera, EpisodeSpec("pick_place", "sim", 0))
    q = ready_pose(robot)
    scene.set_robot(q)
    model, data = scene.model, scene.data
    data.ctrl[:] = q
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(500):
            mujoco.mj_step(model, data)
        steps += 500
    physics = steps / (time.perf_counter() - start)
    with CameraRenderer(model, CAMERA, 128, 128) as renderer:
        renderer.render(data)
        frames, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 2:
            renderer.render(data)
            frames += 1
        render = frames / (time.perf_counter() - start)
    return physics, render


def bridge(seconds: float, **params: object) -> dict[str, float]:
    """Run the bridge node in its own process; measure over DDS from this one."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image

    graph = Supervisor(
        [
            NodeDecl(
                "simhum_sim_bridge",
                "simhum_sim_bridge",
                "sim_bridge",
                "simhum_sim_bridge.node",
                params,
            )
        ],
        Path(tempfile.mkdtemp()),
    )
    graph.start()
    rclpy.init()
    node = rclpy.create_node("sim_bench")
    clock: list[tuple[float, float]] = []
    images: list[float] = []
    node.create_subscription(
        Clock,
        "/clock",
        lambda m: clock.append((time.monotonic(), m.clock.sec + m.clock.nanosec * 1e-9)),
        10,
    )
    node.create_subscription(
        Image,
        "/camera/image_raw",
        lambda m: images.append(time.monotonic()),
        qos_profile_sensor_data,
    )
    try:
        deadline = time.monotonic() + 30
        while len(clock) < 20 and time.monotonic() < deadline:  # started and warmed up
            rclpy.spin_once(node, timeout_sec=0.05)
        clock.clear()
        images.clear()
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            rclpy.spin_once(node, timeout_sec=0.01)
    finally:
        graph.stop()
        node.destroy_node()
        rclpy.shutdown()
    wall = clock[-1][0] - clock[0][0]
    sim = clock[-1][1] - clock[0][1]
    return {
        "rtf": sim / wall,
        "physics_steps_per_s": sim * float(params.get("physics_hz", 500.0)) / wall,
        "images_per_s": len(images) / (images[-1] - images[0]) if len(images) > 1 else 0.0,
    }


def generation(episodes: int, workers: int) -> tuple[float, int, int]:
    """Successful episodes per minute generating pick_place, push and stack in sim and real."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        generate(
            [
                "--out",
                out,
                "-n",
                str(episodes),
                "--workers",
                str(workers),
                "--width",
                "128",
                "--height",
                "128",
                "--control-hz",
                "10",
            ]
        )
        elapsed = time.perf_counter() - start
        from simhum_core.episode_bag import read_metadata

        bags = [p for p in Path(out).glob("*/*/*") if not p.name.startswith(".")]
        ok = sum(read_metadata(b).success for b in bags)
    return ok / elapsed * 60, ok, len(bags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--episodes", type=int, default=4, help="per task and domain")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(
        f"sim benchmark on {cores} cores, MuJoCo {mujoco.__version__}, "
        f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}"
    )

    physics, render = bare(args.seconds)
    free = bridge(args.seconds, real_time_factor=0.0, camera_hz=0.0)
    free_cam = bridge(args.seconds, real_time_factor=0.0, camera_hz=500.0)
    paced = bridge(args.seconds, real_time_factor=1.0, camera_hz=30.0, physics_hz=500.0)
    fastest = bridge(args.seconds, real_time_factor=0.0, camera_hz=30.0, physics_hz=500.0)
    rate, ok, total = generation(args.episodes, cores)

    rows = [
        ("physics steps/s, bare MuJoCo", physics, ""),
        (
            "physics steps/s, bridge (free-running, no camera)",
            free["physics_steps_per_s"],
            f"ratio {free['physics_steps_per_s'] / physics:.2f}",
        ),
        ("render fps 128x128, bare MuJoCo", render, ""),
        (
            "render fps 128x128, bridge (a frame per step, over DDS)",
            free_cam["images_per_s"],
            f"ratio {free_cam['images_per_s'] / render:.2f}",
        ),
        (
            "bridge real-time factor, 30 Hz 128x128 camera, 500 Hz physics (paced at 1.0)",
            paced["rtf"],
            "target >= 1.0",
        ),
        ("bridge real-time factor, same, free-running (headroom)", fastest["rtf"], ""),
        (
            f"generation: successful episodes/min ({ok}/{total} succeeded, {cores} workers)",
            rate,
            "",
        ),
        ("generation: successful episodes/min per core", rate / cores, "target >= 20"),
    ]
    width = max(len(r[0]) for r in rows)
    for label, value, note in rows:
        print(f"  {label:<{width}}  {value:>10.1f}  {note}")


if __name__ == "__main__":
    main()
