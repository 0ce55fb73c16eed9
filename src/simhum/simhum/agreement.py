"""Lock-step versus live: one exported policy on the same seeds through the lock-step
evaluator and through ``simhum eval`` over the live ROS graph, per seed side by side.

    python -m simhum.agreement --policy model.onnx --task pick_place --variant real -n 5

The live run is ``simhum eval`` itself, in a child process; this process watches the graph
over DDS (episode events and joint states) for each seed's outcome, length and tool path.
Tool paths are compared over an episode's first seconds (later, the closed loop of a poor
policy turns small differences into large ones: two live runs of one noise-free policy end
up to 70 cm apart), by the mean distance from each point of one path to the nearest point of
the other, which the live graph's slightly slower pace (its command latency) hardly changes.
The live policy node seeds its sampling noise once, not per episode, so only a policy
without sampling noise can agree seed by seed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simhum.episode_trace import tool_path
from simhum.lockstep import LIVE_COMMAND_LATENCY_S, LockstepSettings, evaluate_lockstep
from simhum.variants import evaluation_seeds, get_variant
from simhum_core.kinematics import IKSolver
from simhum_core.onnx_policy import OnnxPolicy
from simhum_core.robot import RobotDescription, load_robot


@dataclass(frozen=True)
class LiveOutcome:
    """One live episode, as seen on the wire."""

    seed: int
    success: bool
    length_s: float  # EpisodeEvent stamps: end minus start
    # the latest joint state (URDF order) at each control tick, then the last one at the end;
    # None when the watch did not see the episode's first joint states (still discovering the
    # bridge over DDS when the first episode began)
    path: tuple[tuple[float, ...], ...] | None


class GraphWatch:
    """Records every episode event and joint state of the graph (in its own rclpy context)."""

    def __init__(self, joint_names: tuple[str, ...]) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import JointState

        from simhum_core.topics import load_topics
        from simhum_msgs.msg import EpisodeEvent
        from simhum_ros.messages import from_time
        from simhum_ros.node import EVENTS_QOS

        self.rclpy, self.EpisodeEvent, self.from_time = rclpy, EpisodeEvent, from_time
        self.joint_names = joint_names
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("simhum_agreement_watch", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        topics = load_topics()
        self.events: list = []
        self.joints: list[tuple[float, tuple[float, ...]]] = []
        self.node.create_subscription(
            EpisodeEvent, topics.episode_events, self.events.append, EVENTS_QOS
        )
        self.node.create_subscription(JointState, topics.joint_states, self._on_joints, 200)

    def _on_joints(self, msg) -> None:
        position = dict(zip(msg.name, msg.position, strict=True))
        q = tuple(position[n] for n in self.joint_names)
        self.joints.append((self.from_time(msg.header.stamp), q))

    def spin_while(self, proc: subprocess.Popen) -> None:
        """Spin until ``proc`` exits."""
        while proc.poll() is None:
            self.executor.spin_once(timeout_sec=0.05)

    def outcome(self, seed: int, period: float) -> LiveOutcome:
        """The last finished episode of ``seed``, its path sampled every ``period`` s."""
        E, stamp = self.EpisodeEvent, lambda e: self.from_time(e.header.stamp)
        ends = [e for e in self.events if e.seed == seed and e.event != E.EVENT_START]
        if not ends:
            raise RuntimeError(f"no end of an episode with seed {seed} was seen")
        end = stamp(ends[-1])
        start = max(
            stamp(e)
            for e in self.events
            if e.seed == seed and e.event == E.EVENT_START and stamp(e) <= end
        )
        times = np.array([t for t, _ in self.joints])
        ticks = [*np.arange(start, end - 1e-9, period), end]
        first = int(np.searchsorted(times, start - 1e-9))  # this episode's first joint state
        path = None
        if first < len(times) and times[first] <= start + period:
            latest = np.searchsorted(times, np.array(ticks) + 1e-9) - 1
            path = tuple(self.joints[max(i, first)][1] for i in latest)
        return LiveOutcome(seed, ends[-1].event == E.EVENT_SUCCESS, end - start, path)

    def close(self) -> None:
        """Leave DDS."""
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


def evaluate_live(
    policy: str,
    task: str,
    variant: str,
    episodes: int,
    run_dir: Path,
    robot: RobotDescription,
    period: float,
) -> tuple[list[LiveOutcome], dict]:
    """``simhum eval`` of ``episodes`` seeds of a variant, watched: the outcomes (paths sampled
    every control ``period``) in seed order and its own summary of the variant."""
    v = get_variant(variant)
    command = [
        *(sys.executable, "-m", "simhum.cli", "eval", "--policy", policy, "--task", task),
        *("--variants", v.domain, "--split", v.split, "--episodes", str(episodes)),
        *("--out", str(run_dir)),
    ]
    run_dir.mkdir(parents=True, exist_ok=True)
    watch = GraphWatch(robot.joint_names)
    try:
        with open(run_dir / "simhum_eval.log", "w") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            watch.spin_while(proc)
        if proc.returncode != 0:
            raise RuntimeError(f"simhum eval exited with status {proc.returncode}; see {log.name}")
        (summary,) = json.loads((run_dir / "results.json").read_text())["variants"]
        return [watch.outcome(seed, period) for seed in evaluation_seeds(episodes)], summary
    finally:
        watch.close()


def path_gap(a: np.ndarray, b: np.ndarray, points: int) -> float:
    """Mean distance (m) from each of the first ``points`` points of path ``a`` to the nearest
    of the first 1.5 x ``points`` of path ``b`` (which may be up to a third slower)."""
    ahead = b[: int(1.5 * points)]
    return float(np.linalg.norm(a[:points, None] - ahead[None], axis=-1).min(axis=1).mean())


def compare(
    policy: str,
    task: str,
    variant: str,
    episodes: int,
    run_dir: Path,
    workers: int = 1,
    horizon_s: float = 5.0,
    command_latency_s: float = LIVE_COMMAND_LATENCY_S,
) -> dict:
    """Both evaluators on seeds EVAL_SEED_OFFSET + k: one row per seed ('episodes', with the
    tool paths' gap over the first ``horizon_s``, both ways) and each evaluator's summary
    ('lockstep', 'live')."""
    settings = LockstepSettings(command_latency_s=command_latency_s)
    robot = load_robot(settings.urdf, tool_frame=settings.tool_frame)
    ik = IKSolver(robot)
    seeds = list(evaluation_seeds(episodes))
    control_hz = OnnxPolicy(policy, ["CPUExecutionProvider"]).contract.control_hz
    (lockstep,) = evaluate_lockstep(policy, task, [variant], seeds, workers, settings)
    live, live_summary = evaluate_live(
        policy, task, variant, episodes, run_dir, robot, 1.0 / control_hz
    )
    points = round(horizon_s * control_hz)
    rows = []
    for ls, lv in zip(lockstep["outcomes"], live, strict=True):
        ls_path = tool_path(ik, ls["path"])
        lv_path = None if lv.path is None else tool_path(ik, lv.path)
        gap = None
        if lv_path is not None:
            gap = max(path_gap(lv_path, ls_path, points), path_gap(ls_path, lv_path, points))
        rows.append(
            {
                "seed": lv.seed,
                "lockstep_success": ls["success"],
                "live_success": lv.success,
                "lockstep_length_s": ls["length_s"],
                "live_length_s": lv.length_s,
                "lockstep_final_tool": ls_path[-1].tolist(),
                "live_final_tool": None if lv_path is None else lv_path[-1].tolist(),
                "path_gap_m": gap,  # None: the live path was not watched from its start
                # how far the lock-step tool got from its start over the compared horizon
                "lockstep_reach_m": float(
                    np.linalg.norm(ls_path[:points] - ls_path[0], axis=1).max()
                ),
            }
        )
    lockstep.pop("outcomes")
    return {"episodes": rows, "lockstep": lockstep, "live": live_summary}


def main(argv: list[str] | None = None) -> int:
    """Print both evaluators' outcomes per seed, side by side."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", required=True, help="exported policy .onnx")
    parser.add_argument("--task", default="pick_place")
    parser.add_argument("--variant", default="real")
    parser.add_argument("-n", "--episodes", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="lock-step worker processes")
    parser.add_argument("--horizon", type=float, default=5.0, help="seconds of path compared")
    parser.add_argument(
        "--latency",
        type=float,
        default=LIVE_COMMAND_LATENCY_S,
        help="the lock-step command latency, s (the live graph's: inference and transport)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/agreement"))
    args = parser.parse_args(argv)
    result = compare(
        args.policy,
        args.task,
        args.variant,
        args.episodes,
        args.out,
        args.workers,
        args.horizon,
        args.latency,
    )
    rows = result["episodes"]
    print(
        f"{'seed':>7}  {'success ls/live':>15}  {'length s ls/live':>17}  "
        f"{'final tool ls (m)':>20}  {'final tool live (m)':>20}  {'path gap cm':>12}"
        f"  {'reach cm':>9}"
    )
    for r in rows:
        ls_tool, lv_tool = (
            " ".join(f"{v:6.3f}" for v in r[k]) if r[k] else "not watched"
            for k in ("lockstep_final_tool", "live_final_tool")
        )
        gap = "n/a" if r["path_gap_m"] is None else f"{100 * r['path_gap_m']:.1f}"
        print(
            f"{r['seed']:>7}  {r['lockstep_success']!s:>7}/{r['live_success']!s:<7}  "
            f"{r['lockstep_length_s']:>8.1f}/{r['live_length_s']:<8.1f}  "
            f"{ls_tool:>20}  {lv_tool:>20}  {gap:>12}  {100 * r['lockstep_reach_m']:>9.1f}"
        )
    for name in ("lockstep", "live"):
        r = result[name]
        print(
            f"{name:>9}: success {100 * r['success_rate']:.0f}% ± {100 * r['success_rate_se']:.0f}"
            f", length {r['episode_length_s']:.1f} s, inference p50/p95 "
            f"{r['inference_latency_ms_p50']:.1f}/{r['inference_latency_ms_p95']:.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
