"""Plan one bag's conversion: its streams, its episodes and what each is, before any is read.

A bag recorded by SimHum (metadata.yaml's custom_data holds 'simhum_episode') is one episode
with that metadata, read from topics.yaml's topics. Any other rosbag2 recording is mapped by
the options (ingest_options, bag_sources): what the recording says itself (EpisodeEvent
messages) comes first, then its sidecar, then the flags. Its task and domain must be given
somewhere; its embodiment defaults to the domain's (keys.EMBODIMENT_OF), its success to
true. It is one episode unless split (episode_split): by the ranges or the gap asked for,
else by its EpisodeEvent messages when it has some.

An episode of a split bag has the id ``<bag name>-<index>`` (000, 001, ...), the source
``<bag>#<start>-<stop>`` (seconds from the bag's start) and a content identity of the bag's
and of its span, so a re-run with the same split adds nothing twice.

The first message of each of a recording's streams is decoded here, so that one whose image
encoding, joint names or commands do not fit fails before anything is written (SimHum's own
bags are read as recorded). Every problem found is an EpisodeError naming the bag and what
fixes it; a bag that does not read raises whatever its reader raises (a corrupt bag, for the
caller to report).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from simhum_core.episode_bag import EPISODE_EVENT, EpisodeMetadata, find_metadata, typestore
from simhum_core.robot import RobotDescription
from simhum_core.topics import Topics
from simhum_train.bag_sources import (
    EpisodeError,
    StreamTopics,
    choose_streams,
    image_topic,
    present_topics,
)
from simhum_train.episode_split import END, Piece, by_events, by_gaps, by_ranges
from simhum_train.episodes import (
    command_targets,
    content_identity,
    frame_rgb,
    joint_rows,
    sent_commands,
)
from simhum_train.ingest_options import SIDECAR, IngestOptions, OptionError, bag_options
from simhum_train.keys import DOMAINS, EMBODIMENT_OF, EMBODIMENTS
from simhum_train.store import COMMANDED, MEASURED_FUTURE

WHOLE = Piece(0, END)  # all of a recording
# what a recording must be told, and the flag that tells it
REQUIRED = {"task": "--task NAME", "domain": f"--domain {'|'.join(DOMAINS)}"}


@dataclass(frozen=True)
class PlannedEpisode:
    """One store episode a bag holds."""

    source: str  # the store record's source: the bag, or "<bag>#<start>-<stop>" for a part
    identity: str  # content identity: the bag's, and its span's for a part
    metadata: EpisodeMetadata
    start_ns: int  # bag time span of its camera frames
    stop_ns: int


@dataclass(frozen=True)
class BagPlan:
    """How one bag is read and which episodes it holds."""

    bag: Path
    metadata: EpisodeMetadata  # the bag's (a split bag's first episode's)
    streams: StreamTopics
    actions: str  # COMMANDED or MEASURED_FUTURE
    episodes: tuple[PlannedEpisode, ...]
    recorded_by_simhum: bool

    @property
    def split(self) -> bool:
        """Whether the episodes are parts of the recording (rather than all of it)."""
        return self.episodes[0].source != str(self.bag.resolve())


def plan_bag(bag: Path, flags: IngestOptions, topics: Topics, robot: RobotDescription) -> BagPlan:
    """The plan of ``bag``, with ``flags`` for a recording not made by SimHum."""
    bag = Path(bag)
    identity, key = content_identity(bag), str(bag.resolve())
    present = present_topics(bag)
    recorded = find_metadata(bag)
    if recorded:
        _check_domain(bag, recorded.domain)
        streams = choose_streams(bag, present, IngestOptions(), topics, robot, recorded.embodiment)
        planned = PlannedEpisode(key, identity, recorded, 0, END)
        return BagPlan(bag, recorded, streams, _actions(streams), (planned,), True)
    try:
        options = bag_options(bag, flags)
    except OptionError as err:
        raise EpisodeError(str(err)) from None
    from rosbags.rosbag2 import Reader

    with Reader(bag) as reader:
        pieces = _pieces(bag, reader, present, options, topics)
        split = pieces != [WHOLE]
        metadata = [_metadata(bag, options, p.says, i, split) for i, p in enumerate(pieces)]
        embodiments = sorted({m.embodiment for m in metadata})
        if len(embodiments) > 1:
            raise EpisodeError(f"{bag}: episodes of several embodiments {embodiments} in one bag")
        streams = choose_streams(bag, present, options, topics, robot, embodiments[0])
        _decode_first_messages(bag, reader, streams, robot)
        start, end = reader.start_time, reader.end_time
    if split:
        episodes = tuple(
            _part(key, identity, m, p, start, end) for m, p in zip(metadata, pieces, strict=True)
        )
    else:
        episodes = (PlannedEpisode(key, identity, metadata[0], 0, END),)
    return BagPlan(bag, metadata[0], streams, _actions(streams), episodes, False)


def _actions(streams: StreamTopics) -> str:
    """How the targets are obtained: from commands, or else from the next measured state."""
    return COMMANDED if streams.command else MEASURED_FUTURE


def _check_domain(bag: Path, domain: str) -> None:
    if domain not in DOMAINS:
        raise EpisodeError(f"{bag}: unknown domain '{domain}' (expected one of {DOMAINS})")


def _pieces(
    bag: Path, reader, present: dict[str, str], options: IngestOptions, topics: Topics
) -> list[Piece]:
    """The spans of a recording's episodes: asked-for ranges or gaps, else its events."""
    if options.episode_ranges:
        return by_ranges(bag, options.episode_ranges, reader.start_time, reader.end_time)
    if options.split_gap:
        camera_topic = image_topic(bag, present, options.image_topic, topics)
        camera = [c for c in reader.connections if c.topic == camera_topic]
        frames = [t for _, t, _ in reader.messages(connections=camera)]
        return by_gaps(frames, options.split_gap)
    if present.get(topics.episode_events) == EPISODE_EVENT:
        store = typestore()
        events = [c for c in reader.connections if c.topic == topics.episode_events]
        pieces = by_events(
            [(t, store.deserialize_cdr(raw, c.msgtype)) for c, t, raw in reader.messages(events)]
        )
        if pieces:
            return pieces
    return [WHOLE]


def _metadata(
    bag: Path, options: IngestOptions, says: dict, index: int, split: bool
) -> EpisodeMetadata:
    """An episode's metadata: what the recording says, else its options; an error naming
    the flags that give what is missing."""
    values = {k: getattr(options, k) for k in ("task", "domain", "embodiment", "success")}
    values.update(says)
    missing = [flag for key, flag in REQUIRED.items() if not values[key]]
    if missing:
        raise EpisodeError(
            f"{bag}: a recording without SimHum metadata needs its {' and '.join(REQUIRED)}: "
            f"pass {' '.join(missing)}, or write them in {bag / SIDECAR}"
        )
    _check_domain(bag, values["domain"])
    embodiment = values["embodiment"] or EMBODIMENT_OF[values["domain"]]
    if embodiment not in EMBODIMENTS:
        raise EpisodeError(f"{bag}: unknown embodiment '{embodiment}' (expected {EMBODIMENTS})")
    return EpisodeMetadata(
        episode_id=f"{bag.name}-{index:03d}" if split else bag.name,
        task=str(values["task"]),
        domain=str(values["domain"]),
        embodiment=embodiment,
        seed=-1,
        success=True if values["success"] is None else bool(values["success"]),
        operator=options.operator or "",
        note=options.note or "",
    )


def _part(
    key: str, identity: str, metadata: EpisodeMetadata, piece: Piece, start: int, end: int
) -> PlannedEpisode:
    """A planned part of a recording (its span clipped to the bag)."""
    a, b = max(piece.start_ns, start) - start, min(piece.stop_ns, end) - start
    span = hashlib.sha256(f"{identity}#{a}-{b}".encode()).hexdigest()
    return PlannedEpisode(
        f"{key}#{a / 1e9:.3f}-{b / 1e9:.3f}", span, metadata, piece.start_ns, piece.stop_ns
    )


def _decode_first_messages(
    bag: Path, reader, streams: StreamTopics, robot: RobotDescription
) -> None:
    """Decode the first message of each stream as the full read will (of joint states, as
    many as name every joint, when publishers split them): an error for an unsupported
    image encoding, other joints, or commands of another width or lacking joints (the
    gripper's, without the gripper's commands)."""
    store = typestore()
    first: dict[str, list] = {}
    wanted = set(robot.joint_names) - set(robot.mimic)
    for topic in {streams.image, streams.joint_states, streams.command, streams.gripper}:
        connections = [c for c in reader.connections if c.topic == topic]
        named: set[str] = set()
        # (an empty list would read every connection)
        for conn, t, raw in reader.messages(connections=connections) if connections else ():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            first.setdefault(topic, []).append((t, msg))
            if topic != streams.joint_states or wanted <= named.union(msg.name):
                break
            named.update(msg.name)
    frame_rgb(first[streams.image][0][1], bag, (8, 8))
    if streams.joint_states:
        joint_rows(first[streams.joint_states], robot, bag, streams.joint_states)
    if streams.command:
        sent = sent_commands(first[streams.command], streams, bag)
        gripper = first.get(streams.gripper, [])
        command_targets(sent, gripper, robot, bag, streams.gripper)
