"""One long recording, several episodes: split by time ranges, EpisodeEvent messages or gaps.

Times are the bag's (log) times in ns; ranges count seconds from the bag's start (its first
message, the start `ros2 bag info` shows). An episode holds the camera frames logged in its
[start, stop).

- ranges: as given; one starting after the bag's end is an error;
- events (simhum_msgs/EpisodeEvent on topics.yaml's episode_events topic): START opens an
  episode, STOP closes it (a START while one is open closes that one first, and one still
  open at the end of the bag ends there); SUCCESS or FAILURE while it is open is its
  outcome; the START's task, domain and embodiment, where set, are the episode's;
- gaps: a camera frame more than ``gap`` seconds after the one before starts a new episode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simhum_core.episode_bag import EVENTS
from simhum_train.bag_sources import EpisodeError

END = 2**63 - 1  # past any bag's end


@dataclass(frozen=True)
class Piece:
    """One episode's span of a recording and what the recording itself says about it."""

    start_ns: int  # bag time, included
    stop_ns: int  # bag time, excluded
    says: Mapping[str, object] = field(default_factory=dict)  # task, domain, ... success


def by_ranges(
    bag: Path, ranges: tuple[tuple[float, float], ...], start_ns: int, end_ns: int
) -> list[Piece]:
    """One piece per (start, stop) range, seconds from ``start_ns`` (the bag's start)."""
    pieces = []
    for a, b in ranges:
        if start_ns + a * 1e9 >= end_ns:
            raise EpisodeError(
                f"{bag}: episode range {a:g}:{b:g} s starts after the bag's end "
                f"({(end_ns - start_ns) / 1e9:.3f} s from its start)"
            )
        pieces.append(Piece(start_ns + round(a * 1e9), start_ns + round(b * 1e9)))
    return pieces


def by_events(events: list[tuple[int, object]]) -> list[Piece]:
    """Pieces from (bag time, EpisodeEvent) pairs; none when no START is among them."""
    pieces: list[Piece] = []
    start, says = None, {}
    for t, msg in sorted(events, key=lambda e: e[0]):
        if msg.event == EVENTS["start"]:
            if start is not None:
                pieces.append(Piece(start, t, says))
            start = t
            says = {
                k: getattr(msg, k) for k in ("task", "domain", "embodiment") if getattr(msg, k)
            }
        elif start is not None and msg.event in (EVENTS["success"], EVENTS["failure"]):
            says = {**says, "success": msg.event == EVENTS["success"]}
        elif start is not None and msg.event == EVENTS["stop"]:
            pieces.append(Piece(start, t + 1, says))  # a frame logged with the STOP is in
            start = None
    if start is not None:
        pieces.append(Piece(start, END, says))
    return pieces


def by_gaps(frame_ns: np.ndarray, gap_s: float) -> list[Piece]:
    """Pieces of camera frames (bag times ``frame_ns``) no more than ``gap_s`` apart."""
    t = np.sort(np.asarray(frame_ns, dtype=np.int64))
    if len(t) == 0:
        return []
    breaks = np.flatnonzero(np.diff(t) > gap_s * 1e9) + 1
    firsts = np.concatenate([[0], breaks])
    lasts = np.concatenate([breaks - 1, [len(t) - 1]])
    return [Piece(int(t[a]), int(t[b]) + 1) for a, b in zip(firsts, lasts, strict=True)]
