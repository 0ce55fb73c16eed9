"""The evaluation episode loop against a stand-in for the live graph."""

from __future__ import annotations

import pytest

from simhum.evaluate import run_episode


class FakeGraph:
    """Answers the services run_episode calls; a reset starts an episode that succeeds."""

    def __init__(self) -> None:
        from simhum_msgs.msg import EpisodeEvent
        from simhum_msgs.srv import Record, ResetScene

        self.EpisodeEvent, self.Record, self.ResetScene = EpisodeEvent, Record, ResetScene
        self.reset_client, self.record_client = "reset", "record"
        self.events: list = []
        self.status: list = []
        self.record_requests: list = []

    def call(self, client, request, supervisor):
        if client == self.reset_client:
            for event in (self.EpisodeEvent.EVENT_START, self.EpisodeEvent.EVENT_SUCCESS):
                self.events.append(self.EpisodeEvent(event=event, seed=request.seed))
            return self.ResetScene.Response(ok=True)
        self.record_requests.append(request)
        return self.Record.Response(ok=True, bag_path="bag")

    def spin_until(self, condition, timeout, supervisor) -> bool:
        return bool(condition())


@pytest.mark.parametrize(
    ("variant", "domain"),
    [("real", "real"), ("real_ood_lighting", "real"), ("sim", "sim")],
)
def test_recorded_episode_is_labelled_with_the_evaluated_domain(variant, domain) -> None:
    """Proxy-real variants are recorded as the source domain 'real' (what the metadata and
    the dataset accept), with the variant itself in the note."""
    graph = FakeGraph()
    outcome = run_episode(graph, None, "pick_place", 100_000, variant, record=True)
    assert outcome["success"] and outcome["bag"] == "bag"
    start, stop = graph.record_requests
    assert (start.action, stop.action) == (start.ACTION_START, stop.ACTION_STOP)
    assert start.domain == domain
    assert f"variant {variant}," in start.note
