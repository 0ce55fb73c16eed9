"""``simhum eval``: closed-loop evaluation through the live ROS graph.

The sim graph (bridge + policy node, and the recorder when asked) is brought up once; each
episode is a ResetScene to (task, seed, variant) and ends with the bridge's EpisodeEvent
(success, or failure at the task's time-out). Per variant: success rate with its standard
error, episode length, and the policy's inference latency p50/p95 (PolicyStatus). Writes
results.json and a plot.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simhum.graph import POLICY_NODE, Bringup, declare_graph
from simhum.study_targets import binomial_se
from simhum.supervisor import Supervisor

IN_DISTRIBUTION = "real"
OUT_OF_DISTRIBUTION = ("real_ood_background", "real_ood_distractors", "real_ood_lighting")
EVAL_SEED_OFFSET = 100_000  # evaluation seeds never overlap demonstration seeds
COMMAND_DRAIN_S = 0.2  # wall time for commands in flight to land after the policy stops


@dataclass
class VariantResult:
    """Outcomes of one scene variant."""

    variant: str
    seeds: list[int] = field(default_factory=list)
    successes: list[bool] = field(default_factory=list)
    lengths_s: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, seed: int, outcome: dict) -> None:
        """One episode's outcome (as ``run_episode`` returns it)."""
        self.seeds.append(seed)
        self.successes.append(outcome["success"])
        self.lengths_s.append(outcome["length_s"])
        self.latencies_ms.extend(outcome["latencies_ms"])

    def summary(self) -> dict:
        """Success rate with its standard error, length and latency statistics, and each
        episode's seed and outcome (so that two runs can be compared seed by seed)."""
        n = len(self.successes)
        rate = float(np.mean(self.successes)) if n else 0.0
        latency = np.array(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        return {
            "variant": self.variant,
            "episodes": n,
            "success_rate": rate,
            "success_rate_se": binomial_se(rate, n),
            "episode_length_s": float(np.mean(self.lengths_s)) if n else 0.0,
            "inference_latency_ms_p50": float(np.percentile(latency, 50)),
            "inference_latency_ms_p95": float(np.percentile(latency, 95)),
            "outcomes": [
                {"seed": seed, "success": bool(ok), "length_s": float(length)}
                for seed, ok, length in zip(
                    self.seeds, self.successes, self.lengths_s, strict=True
                )
            ],
        }


class EvaluationClient:
    """Resets the bridge's scene and watches episode events and policy status over DDS."""

    reply_timeout_s = 60.0
    retry_after_s = 5.0  # an idempotent request is asked again once when its reply is this late

    def __init__(self) -> None:
        import rclpy
        from std_srvs.srv import Trigger

        from simhum_core.topics import load_topics
        from simhum_msgs.msg import EpisodeEvent, PolicyStatus
        from simhum_msgs.srv import Record, ResetScene
        from simhum_ros.node import EVENTS_QOS

        self.rclpy = rclpy
        rclpy.init()
        self.node = rclpy.create_node("simhum_eval")
        topics = load_topics()
        self.events: list = []
        self.status: list[tuple[float, object]] = []
        self.node.create_subscription(
            EpisodeEvent, topics.episode_events, self.events.append, EVENTS_QOS
        )
        self.node.create_subscription(
            PolicyStatus,
            topics.policy_status,
            lambda m: self.status.append((time.time(), m)),
            50,
        )
        self.reset_client = self.node.create_client(ResetScene, topics.reset_scene)
        self.record_client = self.node.create_client(Record, topics.record)
        self.stop_client = self.node.create_client(Trigger, f"/{POLICY_NODE}/stop")
        self.start_client = self.node.create_client(Trigger, f"/{POLICY_NODE}/start")
        self.ResetScene, self.Record, self.EpisodeEvent = ResetScene, Record, EpisodeEvent
        self.Trigger = Trigger

    def spin_until(self, condition, timeout: float, supervisor: Supervisor) -> bool:
        """Spin until ``condition()``; a node dying under the supervisor raises."""
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            self.rclpy.spin_once(self.node, timeout_sec=0.05)
            supervisor.check()
        return bool(condition())

    def call(
        self,
        client,
        request,
        supervisor: Supervisor,
        idempotent: bool = False,
        took_effect: Callable[[], bool] | None = None,
    ):
        """A service call, waiting for the service first.

        Fast DDS drops a reply sent before the server has matched this client's reply reader
        (ros2/rmw_fastrtps#842), which can happen to a client's first call. An ``idempotent``
        request is asked once more when its reply is ``retry_after_s`` late (the first reply to
        either counts); ``took_effect``, evidence that the request was served (an event the
        server publishes), stands in for a lost reply: the call returns None then."""
        if not self.spin_until(client.service_is_ready, 60.0, supervisor):
            raise RuntimeError(f"service {client.srv_name} is not available")
        futures = [client.call_async(request)]
        effect = took_effect or (lambda: False)

        def answered() -> bool:
            return any(f.done() for f in futures) or effect()

        if idempotent and not self.spin_until(answered, self.retry_after_s, supervisor):
            futures.append(client.call_async(request))
        if not self.spin_until(answered, self.reply_timeout_s, supervisor):
            raise RuntimeError(
                f"no reply from {client.srv_name} in {self.reply_timeout_s:.0f} s (its node is "
                "stuck, or DDS lost the reply: ros2/rmw_fastrtps#842)"
            )
        done = [f for f in futures if f.done()]
        for f in futures:
            if not f.done():
                client.remove_pending_request(f)
        return done[0].result() if done else None

    def close(self) -> None:
        """Leave DDS."""
        self.node.destroy_node()
        self.rclpy.shutdown()


def run_evaluation(
    policy: str,
    task: str,
    episodes: dict[str, int],
    run_dir: Path,
    record_first: bool = False,
    split: str = "in",
    guidance_scale: float = -1.0,
) -> dict:
    """Evaluate ``policy`` over ``episodes[variant]`` episodes of each variant (seeds
    EVAL_SEED_OFFSET + k), sampling at ``guidance_scale`` (negative: its contract's);
    returns (and writes) the results."""
    from tqdm import tqdm

    variants = list(episodes)
    bringup = Bringup(
        mode="sim",
        policy=policy,
        task=task,
        variant=variants[0],
        seed=EVAL_SEED_OFFSET,
        record=record_first,
        record_dir=str(run_dir / "recorded"),
        run_dir=str(run_dir / "graph"),
        split=split,
        guidance_scale=guidance_scale,
    )  # checks the policy file (and the guidance scale) before anything is written
    run_dir.mkdir(parents=True, exist_ok=True)
    results = {v: VariantResult(v) for v in variants}
    recorded = None
    with Supervisor(declare_graph(bringup), run_dir / "graph") as supervisor:
        client = EvaluationClient()
        try:
            started = client.spin_until(
                lambda: any(s.state == 0 for _, s in client.status), 120.0, supervisor
            )
            if not started:
                raise RuntimeError(
                    "the policy never started commanding; see the node logs "
                    f"in {run_dir / 'graph' / 'logs'}"
                )
            total = sum(episodes.values())
            with tqdm(total=total, desc="evaluating", unit="episode") as bar:
                for variant in variants:
                    for k in range(episodes[variant]):
                        seed = EVAL_SEED_OFFSET + k
                        record = record_first and recorded is None
                        outcome = run_episode(client, supervisor, task, seed, variant, record)
                        if record:
                            recorded = outcome.pop("bag")
                        results[variant].add(seed, outcome)
                        bar.set_postfix(variant=variant, success=outcome["success"])
                        bar.update()
        finally:
            client.close()
    report = {
        "policy": policy,
        "task": task,
        "split": split,
        "variants": [results[v].summary() for v in variants],
        "recorded_episode": recorded,
    }
    (run_dir / "results.json").write_text(json.dumps(report, indent=2))
    plot(report, run_dir / "results.png")
    return report


def run_episode(
    client: EvaluationClient,
    supervisor: Supervisor,
    task: str,
    seed: int,
    variant: str,
    record: bool,
) -> dict:
    """One evaluation episode through the live graph."""
    from simhum_sim_bridge.generate import domain_label

    E = client.EpisodeEvent
    # as an operator would: stop the policy, let its last commands land, reset the scene and
    # start the policy once the episode has begun (else a gripper command still in flight, or
    # a cycle on the previous episode's history, acts in the new scene)
    stopped = client.call(
        client.stop_client, client.Trigger.Request(), supervisor, idempotent=True
    )
    if not stopped.success:
        raise RuntimeError(f"the policy node did not stop: {stopped.message}")
    client.spin_until(lambda: False, COMMAND_DRAIN_S, supervisor)
    client.events.clear()

    def began() -> bool:
        return any(e.event == E.EVENT_START and e.seed == seed for e in client.events)

    reply = client.call(  # the episode's start event shows a reset whose reply DDS lost
        client.reset_client,
        client.ResetScene.Request(task=task, seed=seed, variant=variant),
        supervisor,
        took_effect=began,
    )
    if reply is not None and not reply.ok:
        raise RuntimeError(f"ResetScene failed: {reply.message}")
    if not client.spin_until(began, 60.0, supervisor):
        raise RuntimeError(f"episode {task}/{variant}/{seed} never started")
    running = client.call(
        client.start_client, client.Trigger.Request(), supervisor, idempotent=True
    )
    if not running.success:
        raise RuntimeError(f"the policy node did not start: {running.message}")
    if record:
        started = client.call(
            client.record_client,
            client.Record.Request(
                action=client.Record.Request.ACTION_START,
                task=task,
                domain=domain_label(variant),  # the source domain; the variant is in the note
                embodiment="robot",
                operator_name="simhum eval",
                note=f"closed-loop evaluation, variant {variant}, seed {seed}",
            ),
            supervisor,
            idempotent=True,  # the recorder answers a repeated start of its episode with ok
        )
        if not started.ok:
            raise RuntimeError(f"Record failed: {started.message}")
    start_wall = time.time()
    client.status.clear()
    ended = client.spin_until(
        lambda: any(
            e.event in (E.EVENT_SUCCESS, E.EVENT_FAILURE) and e.seed == seed for e in client.events
        ),
        120.0,
        supervisor,
    )
    if not ended:
        raise RuntimeError(f"episode {task}/{variant}/{seed} never ended")
    end = next(e for e in client.events if e.event in (E.EVENT_SUCCESS, E.EVENT_FAILURE))
    start = next((e for e in client.events if e.event == E.EVENT_START), end)
    outcome = {
        "success": end.event == E.EVENT_SUCCESS,
        "length_s": (end.header.stamp.sec + end.header.stamp.nanosec * 1e-9)
        - (start.header.stamp.sec + start.header.stamp.nanosec * 1e-9),
        "latencies_ms": [
            s.inference_latency_ms for t, s in client.status if s.state == 0 and t >= start_wall
        ],
    }
    if record:
        stopped = client.call(
            client.record_client,
            client.Record.Request(
                action=client.Record.Request.ACTION_STOP, success=outcome["success"]
            ),
            supervisor,
        )
        outcome["bag"] = stopped.bag_path if stopped.ok else None
    return outcome


def plot(report: dict, path: Path) -> None:
    """Success rate per variant with standard-error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["variants"]
    fig, ax = plt.subplots(figsize=(1.8 * len(rows) + 2, 3.5))
    names = [r["variant"].replace("real_ood_", "OOD ") for r in rows]
    ax.bar(
        names,
        [100 * r["success_rate"] for r in rows],
        yerr=[100 * r["success_rate_se"] for r in rows],
        capsize=4,
        color="#4a7ab8",
    )
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"closed-loop evaluation: {report['task']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_eval_command(commands) -> None:
    """The `simhum eval` sub-command."""
    parser = commands.add_parser("eval", help="closed-loop evaluation in simulation")
    parser.add_argument("--policy", required=True, help="exported policy .onnx")
    parser.add_argument("--task", default="pick_place")
    parser.add_argument("--variants", nargs="+", default=[IN_DISTRIBUTION, *OUT_OF_DISTRIBUTION])
    parser.add_argument("--episodes", type=int, default=10, help="per variant")
    parser.add_argument("--split", default="in", help="placement split: in, out (held out)")
    parser.add_argument("--out", type=Path, default=Path("runs/eval"))
    parser.add_argument(
        "--record-first", action="store_true", help="record the first episode as a rosbag"
    )
    parser.add_argument(
        "--guidance-scale",
        type=float,
        default=-1.0,
        help="classifier-free guidance scale of a guided policy (negative: its contract's)",
    )
    parser.set_defaults(run=_eval_main)


def _eval_main(a) -> int:
    try:
        report = run_evaluation(
            a.policy,
            a.task,
            dict.fromkeys(a.variants, a.episodes),
            a.out,
            a.record_first,
            a.split,
            a.guidance_scale,
        )
    except ValueError as err:
        print(f"simhum eval: {err}", file=sys.stderr)
        return 2
    return print_report(report, a.out)


def print_report(report: dict, out: Path) -> int:
    """A table of the results."""
    print(f"{'variant':<24}{'success':>14}{'length s':>10}{'inference p50/p95 ms':>22}")
    for r in report["variants"]:
        rate, se = 100 * r["success_rate"], 100 * r["success_rate_se"]
        print(
            f"{r['variant']:<24}{rate:>7.0f}% ± {se:>3.0f}{r['episode_length_s']:>10.1f}"
            f"{r['inference_latency_ms_p50']:>12.1f} / {r['inference_latency_ms_p95']:.1f}"
        )
    print(f"results: {out / 'results.json'}, plot: {out / 'results.png'}")
    return 0
