"""``simhum_dataset``: rosbag2 recordings of every source -> one zarr training store.

    simhum_dataset --episodes runs/demos runs/human --out runs/store.zarr --image-size 64
    simhum_dataset --episodes ~/bags --out runs/mine.zarr --task pick_place --domain real
    simhum_dataset --out runs/mine.zarr --list

Finds every bag under the given folders (skipping hidden ones such as ``.staging``). SimHum's
own bags are read as recorded; any other rosbag2 recording (MCAP or sqlite3, as `ros2 bag
record` writes it) is mapped by flags, a topics file or a sidecar in its folder (see
``--help``; ingest). Every new bag is checked first: if one lacks a stream, does not match
the robot description or lacks metadata, each such problem is printed and nothing is
written. Then each episode is read, aligned to the camera clock and appended. Episodes
already in the store are skipped, so re-running after new recordings only adds the new ones;
so are copied or moved bags, recognised by their content identity
(episodes.content_identity). Misaligned episodes, corrupt bags and (by default) failed
episodes are reported and left out; the rest is built.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from simhum_core.calibration import CameraCalibration, load_calibration
from simhum_core.errors import DescriptionError
from simhum_core.paths import default_calibration, default_urdf
from simhum_core.robot import RobotDescription, load_robot
from simhum_core.topics import Topics, load_topics
from simhum_train import states
from simhum_train.bag_sources import DRIVER_CAMERA_TOPICS, EpisodeError
from simhum_train.episodes import (
    AlignedEpisode,
    AlignmentIssue,
    align_covered,
    align_episode,
    camera_period_s,
    read_episode,
    select_frames,
)
from simhum_train.errors import SimhumTrainError
from simhum_train.ingest import BagPlan, PlannedEpisode, plan_bag
from simhum_train.ingest_options import (
    NO_COMMAND,
    SIDECAR,
    TOPIC_KEYS,
    IngestOptions,
    OptionError,
    parse_bool,
    parse_names,
    parse_ranges,
    parse_seconds,
    read_options,
)
from simhum_train.keys import DOMAINS, EMBODIMENTS, ROBOT
from simhum_train.store import EpisodeRecord, EpisodeStore, StoreInfo

DEFAULT_TOLERANCE_S = 0.015
MAX_IMAGE_SIDE = 1024  # a store chunk of 64 frames is then at most 192 MiB in memory
MIN_FRAMES = 2  # an episode needs a camera rate

EPILOG = f"""\
Recordings not made by SimHum (plain `ros2 bag record` bags):
  topics   --image-topic (sensor_msgs/Image rgb8/bgr8 or CompressedImage, told apart by the
           bag's type), --joint-states-topic, --command-topic, --gripper-topic, or the same
           keys in a YAML file (--topics-file: image_topic, joint_states_topic, ...).
           Defaults: topics.yaml's names; for the image, the first in the bag of
           {", ".join(DRIVER_CAMERA_TOPICS)}
           (each raw, then /compressed); for the commands, the bag's only JointTrajectory.
  commands trajectory_msgs/JointTrajectory (joints by name), or a forward position
           controller's std_msgs/Float64MultiArray whose values are in --command-joints
           order (default: the URDF's joints without the mimic ones, in URDF order).
           --command-topic {NO_COMMAND} (or no command topic in the bag): each frame's action is
           the measured joint state one control step (camera frame) later, the last frame
           holding its own; the store tags such episodes actions=measured_future.
  joints   matched to the URDF by name in any order; joints not in the URDF are ignored; a
           mimic joint left out follows its leader. URDF joints missing are an error.
  metadata --task and --domain are needed, --embodiment (default: the domain's) and
           --success (default: true) are optional; or the same keys in a sidecar file
           <bag>/{SIDECAR}, which may hold any of these keys (topics and
           splitting too) for that bag and overrides the flags. EpisodeEvent messages in
           the bag override both.
  episodes one per bag, or split: --episode-ranges 0:12.5,14:30 (seconds from the bag's
           start), --split-gap SECONDS (a pause in the camera stream), or else by the bag's
           simhum_msgs/EpisodeEvent messages (START ... SUCCESS|FAILURE ... STOP). Parts get
           the ids <bag>-000, <bag>-001, ... Frames at the start or end of an episode that a
           stream does not cover yet (or any more) are left out and counted.
"""


class IngestError(SimhumTrainError):
    """Bags that do not match the robot or the options; raised before anything is written."""


@dataclass
class ConversionReport:
    """What a build did with each bag (or part of one)."""

    added: list[str] = field(default_factory=list)
    already_in_store: list[str] = field(default_factory=list)
    copies: dict[str, str] = field(default_factory=dict)  # bag -> stored bag, same content
    unsuccessful: list[str] = field(default_factory=list)
    misaligned: dict[str, list[AlignmentIssue]] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)  # reads, but is not an episode
    corrupt: dict[str, str] = field(default_factory=dict)
    trimmed: dict[str, tuple[int, int]] = field(default_factory=dict)  # (left out, of frames)
    streams: dict[str, list[str]] = field(default_factory=dict)  # topics used -> bags

    def summary(self) -> str:
        """Human-readable lines: counts, the topics read, then every rejected bag and why."""
        lines = [
            f"added {len(self.added)}, already in store {len(self.already_in_store)}, "
            f"skipped: {len(self.copies)} copied or moved, {len(self.unsuccessful)} "
            f"unsuccessful, {len(self.misaligned)} misaligned, {len(self.rejected)} rejected, "
            f"{len(self.corrupt)} corrupt"
        ]
        lines += [f"  {len(bags)} bag(s) read from: {how}" for how, bags in self.streams.items()]
        lines += [
            f"  trimmed {source}: {n} of {total} frames at its edges, not covered by a stream"
            for source, (n, total) in self.trimmed.items()
        ]
        lines += [
            f"  copied or moved {bag}: same recording as {stored}, already in the store"
            for bag, stored in self.copies.items()
        ]
        lines += [
            f"  misaligned {bag}: {'; '.join(map(str, issues))}"
            for bag, issues in self.misaligned.items()
        ]
        lines += [f"  rejected {bag}: {error}" for bag, error in self.rejected.items()]
        lines += [f"  corrupt {bag}: {error}" for bag, error in self.corrupt.items()]
        return "\n".join(lines)


def find_bags(roots: list[Path]) -> list[Path]:
    """Every rosbag2 bag folder (one holding metadata.yaml) under ``roots``, sorted, skipping
    folders whose name starts with '.'."""
    found = set()
    for root in roots:
        for meta in Path(root).rglob("metadata.yaml"):
            relative = meta.parent.relative_to(root).parts
            if not any(part.startswith(".") for part in relative):
                found.add(meta.parent)
    return sorted(found)


class DatasetBuilder:
    """Appends aligned episodes to a store; one instance per build."""

    def __init__(
        self,
        store_path: Path,
        robot: RobotDescription,
        camera: CameraCalibration,
        topics: Topics,
        image_size: tuple[int, int],
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        successful_only: bool = True,
        options: IngestOptions | None = None,
    ) -> None:
        self.store_path = Path(store_path)
        self.robot, self.camera, self.topics = robot, camera, topics
        self.image_size = image_size
        self.tolerance_s = tolerance_s
        self.successful_only = successful_only
        self.options = options or IngestOptions()
        self._store: EpisodeStore | None = None
        self._plans: dict[Path, BagPlan] = {}

    def build(self, bags: list[Path], progress: bool = True) -> ConversionReport:
        """Convert ``bags`` into the store and report what happened to each; an IngestError
        (nothing written) if any does not match the robot or the options."""
        report = ConversionReport()
        stored = EpisodeStore.open(self.store_path).episodes if self.store_path.exists() else []
        sources = {r.source for r in stored}
        identities = {r.identity: r.source for r in stored if r.identity}
        plans = self._plan(bags, sources, report)
        for plan in tqdm(plans, desc="converting", unit="bag", disable=not progress):
            pending = []
            for planned in plan.episodes:
                if planned.source in sources:
                    report.already_in_store.append(planned.source)
                elif planned.identity in identities:
                    report.copies[planned.source] = identities[planned.identity]
                else:
                    pending.append(planned)
            if not pending:
                continue
            key = str(plan.bag.resolve())
            try:
                episodes = self._read(plan.bag)
            except EpisodeError as err:
                report.rejected[key] = str(err)
                continue
            except Exception as err:  # any decoder failure: the bag is corrupt
                report.corrupt[key] = f"{type(err).__name__}: {err}"
                continue
            for planned, episode in zip(plan.episodes, episodes, strict=True):
                if planned in pending:
                    self._add(planned, episode, plan.actions, report)
                    identities[planned.identity] = planned.source
        return report

    def _plan(
        self, bags: list[Path], sources: set[str], report: ConversionReport
    ) -> list[BagPlan]:
        """The plan of each bag not in the store yet; an IngestError listing every bag that
        does not match (corrupt ones are reported and left out)."""
        plans, problems = [], []
        for bag in bags:
            key = str(Path(bag).resolve())
            if key in sources:
                report.already_in_store.append(key)
                continue
            try:
                plan = plan_bag(Path(bag), self.options, self.topics, self.robot)
            except EpisodeError as err:
                problems.append(str(err))
                continue
            except Exception as err:  # any reader failure: the bag is corrupt
                report.corrupt[key] = f"{type(err).__name__}: {err}"
                continue
            self._plans[plan.bag] = plan
            report.streams.setdefault(plan.streams.describe(), []).append(key)
            plans.append(plan)
        if problems:
            raise IngestError(
                f"{len(problems)} bag(s) cannot be converted as given; nothing was written:\n  "
                + "\n  ".join(problems)
            )
        return plans

    def _read(self, bag: Path) -> list[AlignedEpisode]:
        """Each planned episode of ``bag``, read and aligned to the camera clock."""
        plan = self._plans[bag]
        raw = read_episode(
            bag, self.topics, self.robot, self.image_size, plan.streams, plan.metadata
        )
        # SimHum's recorder covers every frame; other recordings may start before a driver
        align: Callable = align_episode if plan.recorded_by_simhum else align_covered
        episodes = []
        for planned in plan.episodes:
            part = raw
            if plan.split:
                log = raw.image_log_ns
                part = select_frames(raw, (log >= planned.start_ns) & (log < planned.stop_ns))
            part = replace(part, metadata=planned.metadata)
            episode = align(part, self.tolerance_s, planned.metadata.embodiment, plan.actions)
            missing = [
                name
                for name, stream in [
                    ("joint_states", episode.joint_positions),
                    ("joint_trajectory", episode.joint_targets),
                ]
                if planned.metadata.embodiment == ROBOT and stream is None
            ]
            if planned.metadata.embodiment != ROBOT and episode.hand_keypoints is None:
                missing.append("hand_pose")
            if missing:
                raise EpisodeError(
                    f"{bag}: no messages on {missing} for a {planned.metadata.embodiment} episode"
                )
            episodes.append(episode)
        return episodes

    def _add(
        self,
        planned: PlannedEpisode,
        episode: AlignedEpisode,
        actions: str,
        report: ConversionReport,
    ) -> None:
        """Append one episode, or report why it is left out."""
        source, frames = planned.source, len(episode.stamps)
        if episode.trimmed:
            report.trimmed[source] = (episode.trimmed, frames + episode.trimmed)
        if self.successful_only and not planned.metadata.success:
            report.unsuccessful.append(source)
        elif episode.issues:
            report.misaligned[source] = episode.issues
        elif frames < MIN_FRAMES:
            report.rejected[source] = f"{frames} camera frame(s): too short for an episode"
        else:
            self._append(planned, episode, actions)
            report.added.append(source)

    def _append(self, planned: PlannedEpisode, episode: AlignedEpisode, actions: str) -> None:
        if self._store is None:
            self._store = EpisodeStore.open_or_create(self.store_path, self._info(episode))
        meta = planned.metadata
        if meta.embodiment == ROBOT:
            state = states.robot_rows(self.robot, episode.joint_positions)
            target = states.robot_rows(self.robot, episode.joint_targets)
        else:
            state = states.human_rows(episode.hand_keypoints, self.camera.T_base_camera)
            target = states.human_targets(state)
        width = self._store.info.state_width
        record = EpisodeRecord(
            meta.episode_id,
            meta.task,
            meta.domain,
            meta.embodiment,
            planned.source,
            len(episode.stamps),
            planned.identity,
            actions,
        )
        self._store.append(
            record,
            episode.images,
            episode.stamps,
            states.pad(state, width),
            states.pad(target, width),
        )

    def _info(self, first: AlignedEpisode) -> StoreInfo:
        rate = 1.0 / camera_period_s(first.stamps)
        return store_info(self.robot, self.image_size, rate, self.tolerance_s)


def store_info(
    robot: RobotDescription, image_size: tuple[int, int], control_hz: float, tolerance_s: float
) -> StoreInfo:
    """The facts a new store is built with: the robot's joints, frames and row layouts, the
    image size (W, H), the rate episodes are stored at and the alignment tolerance."""
    width, height = image_size
    return StoreInfo(
        joint_names=list(robot.joint_names),
        tool_frame=robot.tool_frame,
        base_frame=robot.base_frame,
        image_width=width,
        image_height=height,
        control_hz=round(control_hz, 3),
        tolerance_s=tolerance_s,
        layouts=states.layouts(robot),
        state_width=states.state_width(robot),
    )


def describe_store(path: Path) -> str:
    """The store's shared facts and one line per episode (what ``--list`` prints)."""
    store = EpisodeStore.open(path)
    info = store.info
    rows = [("episode", "task", "domain", "embodiment", "frames", "actions", "source")]
    rows += [
        (e.episode_id, e.task, e.domain, e.embodiment, str(e.frames), e.actions, e.source)
        for e in store.episodes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    table = [
        "  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]) for r in rows
    ]
    return "\n".join(
        [
            f"{path}: {len(store.episodes)} episodes, {store.rows} frames at "
            f"{info.control_hz:g} Hz, {info.image_width}x{info.image_height} images, "
            f"joints {info.joint_names}",
            *table,
        ]
    )


def _counts(values: list[str]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(Counter(values).items()))


def _flag(parse: Callable) -> Callable:
    """``parse`` as an argparse type (its OptionError as argparse's usage error)."""

    def convert(text: str):
        try:
            return parse(text)
        except OptionError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return convert


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--episodes", type=Path, nargs="+", help="folders holding bags")
    parser.add_argument("--out", type=Path, required=True, help="store path (*.zarr)")
    parser.add_argument("--list", action="store_true", help="print the store's episodes, exit")
    parser.add_argument("--image-size", type=int, nargs="+", default=[64], help="W [H]")
    parser.add_argument("--tolerance-ms", type=float, default=DEFAULT_TOLERANCE_S * 1e3)
    parser.add_argument("--include-failures", action="store_true", help="keep failed episodes")
    parser.add_argument("--urdf", default=str(default_urdf()))
    parser.add_argument("--tool-frame", default="tcp")
    parser.add_argument("--calibration", default=str(default_calibration()))
    foreign = parser.add_argument_group("recordings not made by SimHum (see below)")
    foreign.add_argument("--topics-file", type=Path, help="YAML file of the topic keys")
    foreign.add_argument("--image-topic", help="Image or CompressedImage topic")
    foreign.add_argument("--joint-states-topic", help="sensor_msgs/JointState topic")
    foreign.add_argument(
        "--command-topic",
        help=f"JointTrajectory or Float64MultiArray topic; '{NO_COMMAND}': the actions are the "
        "measured joints one frame later (tagged measured_future)",
    )
    foreign.add_argument(
        "--command-joints",
        type=_flag(parse_names),
        help="NAME,NAME,...: the joints of a Float64MultiArray command's values, in order",
    )
    foreign.add_argument("--gripper-topic", help="the gripper controller's Float64MultiArray")
    foreign.add_argument("--task", help="the task shown (e.g. pick_place)")
    foreign.add_argument("--domain", choices=DOMAINS, help="where the images come from")
    foreign.add_argument("--embodiment", choices=EMBODIMENTS, help="default: the domain's")
    foreign.add_argument("--success", type=_flag(parse_bool), help="true (default) or false")
    foreign.add_argument("--operator", help="who recorded it")
    foreign.add_argument("--note", help="free text kept with each episode's metadata")
    split = foreign.add_mutually_exclusive_group()
    split.add_argument(
        "--episode-ranges",
        type=_flag(parse_ranges),
        metavar="START:STOP,...",
        help="one episode per range, seconds from the bag's start",
    )
    split.add_argument(
        "--split-gap",
        type=_flag(parse_seconds),
        metavar="SECONDS",
        help="a new episode after each pause of the camera longer than this",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Build or extend a store (or list it); exit status 2 for bad arguments or bags that
    do not match, 1 if nothing usable."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        if not args.out.exists():
            print(f"error: {args.out}: no such store", file=sys.stderr)
            return 2
        print(describe_store(args.out))
        return 0
    if not args.episodes:
        parser.error("--episodes is required (or --list to print the store)")
    if len(args.image_size) not in (1, 2) or not all(
        8 <= side <= MAX_IMAGE_SIDE for side in args.image_size
    ):
        sides = " ".join(map(str, args.image_size))
        print(
            f"error: --image-size takes W or W H, each 8 to {MAX_IMAGE_SIDE} pixels, got {sides}",
            file=sys.stderr,
        )
        return 2
    width, height = args.image_size[0], args.image_size[-1]
    missing = [str(folder) for folder in args.episodes if not folder.is_dir()]
    if missing:
        print(f"error: episodes folder not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        robot = load_robot(args.urdf, tool_frame=args.tool_frame)
        camera = load_calibration(args.calibration)
        options = IngestOptions(
            **{f: getattr(args, f) for f in IngestOptions.__dataclass_fields__}
        )
        if args.topics_file:
            options = options.over(read_options(args.topics_file, TOPIC_KEYS))
    except (DescriptionError, OptionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    bags = find_bags(args.episodes)
    print(f"{len(bags)} bag(s) under {', '.join(map(str, args.episodes))} -> {args.out}")
    builder = DatasetBuilder(
        args.out,
        robot,
        camera,
        load_topics(),
        (width, height),
        tolerance_s=args.tolerance_ms / 1e3,
        successful_only=not args.include_failures,
        options=options,
    )
    try:
        report = builder.build(bags)
    except SimhumTrainError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the store cannot be written where --out says
        print(f"error: {args.out}: cannot write the store ({err})", file=sys.stderr)
        return 2
    print(report.summary())
    if args.out.exists():
        store = EpisodeStore.open(args.out)
        print(
            f"store: {len(store.episodes)} episodes ({_counts([e.domain for e in store.episodes])}"
            f"), {store.rows} frames; actions: {_counts([e.actions for e in store.episodes])}"
        )
    return 0 if report.added or report.already_in_store or report.copies else 1


if __name__ == "__main__":
    sys.exit(main())
