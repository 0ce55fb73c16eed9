"""The evaluation episode loop against a stand-in for the live graph, and the figures that
`simhum eval` and `simhum demo` report: success rate and its standard error, episode length,
latency percentiles, results.json and its plot, and the demo's resume."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from simhum.demo import PRESETS, image_size, step
from simhum.evaluate import VariantResult, plot, print_report, run_episode
from simhum_ros.messages import to_time


class FakeGraph:
    """Answers the services run_episode calls; a reset starts an episode that succeeds."""

    def __init__(self, policy_starts: bool = True) -> None:
        from std_srvs.srv import Trigger

        from simhum_msgs.msg import EpisodeEvent
        from simhum_msgs.srv import Record, ResetScene

        self.EpisodeEvent, self.Record, self.ResetScene = EpisodeEvent, Record, ResetScene
        self.Trigger = Trigger
        self.reset_client, self.record_client = "reset", "record"
        self.stop_client, self.start_client = "stop", "start"
        self.policy_starts = policy_starts
        self.events: list = []
        self.status: list = []
        self.record_requests: list = []
        self.calls: list[tuple[str, list[int]]] = []  # service, events seen before the call

    def call(self, client, request, supervisor, **options):
        self.calls.append((client, [e.event for e in self.events]))
        if client in (self.stop_client, self.start_client):
            ok = client == self.stop_client or self.policy_starts
            return self.Trigger.Response(success=ok, message="" if ok else "not active")
        if client == self.reset_client:
            for event in (self.EpisodeEvent.EVENT_START, self.EpisodeEvent.EVENT_SUCCESS):
                self.events.append(self.EpisodeEvent(event=event, seed=request.seed))
            return self.ResetScene.Response(ok=True)
        self.record_requests.append((request, options))
        return self.Record.Response(ok=True, bag_path="bag")

    def spin_until(self, condition, timeout, supervisor) -> bool:
        return bool(condition())


@pytest.mark.parametrize(
    ("variant", "domain"),
    [("real", "real"), ("real_ood_lighting", "real"), ("sim", "sim")],
)
def test_recorded_episode_is_labelled_with_the_evaluated_domain(variant, domain) -> None:
    """Proxy-real variants are recorded as the source domain 'real' (what the metadata and
    the dataset accept), with the variant itself in the note. The start is asked again when
    its reply is late (the recorder answers a repeated start of its episode with ok); the
    stop is not (a second stop finds nothing recording and is refused)."""
    graph = FakeGraph()
    outcome = run_episode(graph, None, "pick_place", 100_000, variant, record=True)
    assert outcome["success"] and outcome["bag"] == "bag"
    (start, start_options), (stop, stop_options) = graph.record_requests
    assert start_options.get("idempotent") and not stop_options.get("idempotent")
    assert (start.action, stop.action) == (start.ACTION_START, stop.ACTION_STOP)
    assert start.domain == domain
    assert f"variant {variant}," in start.note


def test_the_policy_is_stopped_over_the_reset_and_started_on_the_new_episode() -> None:
    """No command of the previous episode (a gripper command has no stamp to drop it by) and
    no cycle on its history reaches the new scene: stop, reset, and start only once the
    episode's START event has come; a policy that cannot start fails the episode loudly."""
    graph = FakeGraph()
    run_episode(graph, None, "pick_place", 100_000, "real", record=False)
    START = graph.EpisodeEvent.EVENT_START
    assert [c for c, _ in graph.calls] == ["stop", "reset", "start"]
    assert START not in graph.calls[1][1] and START in graph.calls[2][1]
    with pytest.raises(RuntimeError, match="the policy node did not start: not active"):
        run_episode(FakeGraph(policy_starts=False), None, "pick_place", 100_000, "real", False)


def outcomes(
    successes: list[bool],
    lengths_s: list[float],
    latencies_ms: list[float],
    variant: str = "real",
) -> VariantResult:
    """A VariantResult of episodes with seeds 100000 + k, the latencies spread over them."""
    result = VariantResult(variant)
    for k, (ok, length) in enumerate(zip(successes, lengths_s, strict=True)):
        latencies = latencies_ms[k :: len(successes)]
        result.add(100_000 + k, {"success": ok, "length_s": length, "latencies_ms": latencies})
    return result


def test_variant_figures_from_known_outcomes() -> None:
    """7 successes of 10: rate 0.7, standard error sqrt(0.7 * 0.3 / 10); latencies 1..100 ms:
    p50 50.5 ms, p95 95.05 ms (linear interpolation); the mean episode length; each
    episode's seed, outcome and length, in order."""
    result = outcomes(
        successes=[True] * 7 + [False] * 3,
        lengths_s=[4.0] * 7 + [20.0] * 3,
        latencies_ms=[float(v) for v in range(100, 0, -1)],  # any order
    )
    summary = result.summary()
    assert summary == {
        "variant": "real",
        "episodes": 10,
        "success_rate": pytest.approx(0.7),
        "success_rate_se": pytest.approx(np.sqrt(0.7 * 0.3 / 10)),
        "episode_length_s": pytest.approx(8.8),
        "inference_latency_ms_p50": pytest.approx(50.5),
        "inference_latency_ms_p95": pytest.approx(95.05),
        "outcomes": [
            {"seed": 100_000 + k, "success": k < 7, "length_s": 4.0 if k < 7 else 20.0}
            for k in range(10)
        ],
    }
    assert json.loads(json.dumps(summary)) == summary  # plain numbers, as results.json holds
    perfect = outcomes([True] * 4, [3.0] * 4, [12.0], "real_ood_lighting").summary()
    assert (perfect["success_rate"], perfect["success_rate_se"]) == (1.0, 0.0)
    assert perfect["inference_latency_ms_p95"] == 12.0
    empty = VariantResult("real_ood_background").summary()  # no episode ran
    assert empty["episodes"] == 0 and empty["success_rate"] == 0.0
    assert empty["success_rate_se"] == 0.0 and empty["inference_latency_ms_p50"] == 0.0
    assert empty["outcomes"] == []


def test_a_service_that_never_replies_is_named(tmp_path: Path) -> None:
    import rclpy
    from std_srvs.srv import Trigger

    from simhum.evaluate import EvaluationClient
    from simhum.supervisor import Supervisor

    client = EvaluationClient()
    client.reply_timeout_s = 3.0
    mute = rclpy.create_node("mute_policy")  # serves /simhum_policy/stop, never spun
    mute.create_service(Trigger, "/simhum_policy/stop", lambda request, response: response)
    supervisor = Supervisor([], tmp_path)
    try:
        with pytest.raises(RuntimeError, match="no reply from /simhum_policy/stop in 3 s"):
            client.call(client.stop_client, Trigger.Request(), supervisor)
        # evidence that the request was served stands in for the reply DDS lost
        seen = time.monotonic() + 0.5
        start = time.monotonic()
        reply = client.call(
            client.stop_client,
            Trigger.Request(),
            supervisor,
            took_effect=lambda: time.monotonic() > seen,
        )
        assert reply is None and time.monotonic() - start < 2.0
    finally:
        mute.destroy_node()
        client.close()


def test_an_idempotent_call_whose_reply_is_late_is_asked_again(tmp_path: Path) -> None:
    """As when Fast DDS drops the reply to a client's first request: the stop and start
    services answer their first request late; an idempotent call asks again and takes the
    first reply, any other call waits for its own."""
    import threading

    import rclpy
    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.executors import MultiThreadedExecutor
    from std_srvs.srv import Trigger

    from simhum.evaluate import EvaluationClient
    from simhum.supervisor import Supervisor

    client = EvaluationClient()
    client.retry_after_s, client.reply_timeout_s = 0.5, 10.0
    server = rclpy.create_node("slow_policy")
    served: dict[str, int] = {"stop": 0, "start": 0}

    def slow_first(name: str):
        def serve(request, response):
            served[name] += 1
            number = served[name]
            if number == 1:
                time.sleep(3.0)
            response.success, response.message = True, f"reply to request {number}"
            return response

        return serve

    group = ReentrantCallbackGroup()
    for name in served:
        server.create_service(
            Trigger, f"/simhum_policy/{name}", slow_first(name), callback_group=group
        )
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(server)
    threading.Thread(target=executor.spin, daemon=True).start()
    supervisor = Supervisor([], tmp_path)
    try:
        start = time.monotonic()
        reply = client.call(client.stop_client, Trigger.Request(), supervisor, idempotent=True)
        assert reply.message == "reply to request 2" and time.monotonic() - start < 2.5
        start = time.monotonic()
        reply = client.call(client.start_client, Trigger.Request(), supervisor)
        assert reply.message == "reply to request 1" and time.monotonic() - start >= 2.5
        assert served == {"stop": 2, "start": 1}
    finally:
        executor.shutdown()
        server.destroy_node()
        client.close()


def test_the_report_table_and_plot(tmp_path: Path, capsys) -> None:
    report = {
        "policy": "model.onnx",
        "task": "pick_place",
        "split": "in",
        "variants": [
            outcomes([True] * 7 + [False] * 3, [5.0] * 10, [9.0, 11.0]).summary(),
            outcomes([True, False], [6.0, 30.0], [10.0], "real_ood_lighting").summary(),
        ],
        "recorded_episode": None,
    }
    assert print_report(report, tmp_path) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["variant", "success", "length", "s", "inference", "p50/p95", "ms"]
    assert lines[1].split() == ["real", "70%", "±", "14", "5.0", "10.0", "/", "10.9"]
    assert lines[2].split() == ["real_ood_lighting", "50%", "±", "35", "18.0", "10.0", "/", "10.0"]
    assert lines[3] == f"results: {tmp_path / 'results.json'}, plot: {tmp_path / 'results.png'}"
    plot(report, tmp_path / "results.png")
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class TimedGraph(FakeGraph):
    """An episode that starts at 12 s and times out at 27.5 s of simulated time, with the
    policy's status before, while and after it ran."""

    def call(self, client, request, supervisor, **options):
        if client != self.reset_client:
            return super().call(client, request, supervisor)
        E = self.EpisodeEvent
        for event, t in ((E.EVENT_START, 12.0), (E.EVENT_FAILURE, 27.5)):
            msg = E(event=event, seed=request.seed)
            msg.header.stamp = to_time(t)
            self.events.append(msg)
        self.status.append((time.time() - 60, self.status_msg(0, 99.0)))  # from before
        return self.ResetScene.Response(ok=True)

    def spin_until(self, condition, timeout, supervisor) -> bool:
        now = time.time() + 1
        self.status += [
            (now, self.status_msg(0, 8.0)),
            (now, self.status_msg(1, 0.0)),  # holding: no inference
            (now, self.status_msg(0, 12.5)),
        ]
        return bool(condition())

    @staticmethod
    def status_msg(state: int, latency_ms: float):
        from simhum_msgs.msg import PolicyStatus

        return PolicyStatus(state=state, inference_latency_ms=latency_ms)


def test_an_episode_is_timed_on_simulated_time_and_its_own_inference() -> None:
    """Its length is end minus start in simulated time, its outcome the end event, its
    latencies those of the policy's running cycles during it."""
    outcome = run_episode(TimedGraph(), None, "pick_place", 100_001, "real", record=False)
    assert outcome == {"success": False, "length_s": 15.5, "latencies_ms": [8.0, 12.5]}


def test_the_demo_resumes_past_finished_steps(tmp_path: Path) -> None:
    """A step whose output exists is skipped (its command not even run); the others run and
    a failing one stops the demo."""
    log: list[dict] = []
    out = tmp_path / "out.txt"
    write = [sys.executable, "-c", f"open({str(out)!r}, 'w').write('done')"]
    step("1. write", write, out, log)
    assert out.read_text() == "done"
    fail = [sys.executable, "-c", "raise SystemExit(3)"]
    step("1. write again", fail, out, log)  # done already: skipped
    assert [entry["step"] for entry in log] == ["1. write", "1. write again"]
    assert all(entry["seconds"] >= 0 for entry in log)
    with pytest.raises(subprocess.CalledProcessError):
        step("2. always runs", fail, None, log)
    assert image_size(96) == (96, 72)  # the 640x480 calibration's aspect ratio
    for preset in PRESETS.values():
        assert image_size(preset.image_width)[1] == round(preset.image_width * 3 / 4)
