"""``simhum_dataset``: rosbag2 episodes of every source -> one zarr training store.

    simhum_dataset --episodes runs/demos runs/human --out runs/store.zarr --image-size 64

Finds every bag under the given folders (skipping hidden ones such as ``.staging``), reads
and aligns each to the camera clock, and appends it. Bags already in the store are skipped,
so re-running after new recordings only adds the new ones; so are copied or moved bags,
recognised by their content identity (episodes.content_identity). Misaligned episodes,
corrupt bags and (by default) failed episodes are reported and left out; the rest is built.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from simhum_core.calibration import CameraCalibration, load_calibration
from simhum_core.errors import DescriptionError
from simhum_core.paths import default_calibration, default_urdf
from simhum_core.robot import RobotDescription, load_robot
from simhum_core.topics import Topics, load_topics
from simhum_train import states
from simhum_train.episodes import (
    AlignedEpisode,
    AlignmentIssue,
    align_episode,
    camera_period_s,
    content_identity,
    read_episode,
)
from simhum_train.errors import SimhumTrainError
from simhum_train.keys import DOMAINS, ROBOT
from simhum_train.store import EpisodeRecord, EpisodeStore, StoreInfo

DEFAULT_TOLERANCE_S = 0.015
MAX_IMAGE_SIDE = 1024  # a store chunk of 64 frames is then at most 192 MiB in memory


@dataclass
class ConversionReport:
    """What a build did with each bag."""

    added: list[str] = field(default_factory=list)
    already_in_store: list[str] = field(default_factory=list)
    copies: dict[str, str] = field(default_factory=dict)  # bag -> stored bag, same content
    unsuccessful: list[str] = field(default_factory=list)
    misaligned: dict[str, list[AlignmentIssue]] = field(default_factory=dict)
    corrupt: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """Human-readable lines: counts, then every rejected bag and why."""
        lines = [
            f"added {len(self.added)}, already in store {len(self.already_in_store)}, "
            f"skipped: {len(self.copies)} copied or moved, {len(self.unsuccessful)} "
            f"unsuccessful, {len(self.misaligned)} misaligned, {len(self.corrupt)} corrupt"
        ]
        lines += [
            f"  copied or moved {bag}: same recording as {stored}, already in the store"
            for bag, stored in self.copies.items()
        ]
        lines += [
            f"  misaligned {bag}: {'; '.join(map(str, issues))}"
            for bag, issues in self.misaligned.items()
        ]
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
    ) -> None:
        self.store_path = Path(store_path)
        self.robot, self.camera, self.topics = robot, camera, topics
        self.image_size = image_size
        self.tolerance_s = tolerance_s
        self.successful_only = successful_only
        self._store: EpisodeStore | None = None

    def build(self, bags: list[Path], progress: bool = True) -> ConversionReport:
        """Convert ``bags`` into the store and report what happened to each."""
        report = ConversionReport()
        stored = EpisodeStore.open(self.store_path).episodes if self.store_path.exists() else []
        sources = {r.source for r in stored}
        identities = {r.identity: r.source for r in stored if r.identity}
        for bag in tqdm(bags, desc="converting", unit="bag", disable=not progress):
            key = str(Path(bag).resolve())
            if key in sources:
                report.already_in_store.append(key)
                continue
            try:
                identity = content_identity(Path(bag))
                if identity in identities:
                    report.copies[key] = identities[identity]
                    continue
                episode = self._read(Path(bag))
            except Exception as err:  # any decoder failure: the bag is corrupt
                report.corrupt[key] = f"{type(err).__name__}: {err}"
                continue
            meta = episode.raw.metadata
            if self.successful_only and not meta.success:
                report.unsuccessful.append(key)
            elif episode.issues:
                report.misaligned[key] = episode.issues
            else:
                self._append(key, identity, episode)
                identities[identity] = key
                report.added.append(key)
        return report

    def _read(self, bag: Path) -> AlignedEpisode:
        raw = read_episode(bag, self.topics, self.robot, self.image_size)
        meta = raw.metadata
        if meta.domain not in DOMAINS:
            raise ValueError(f"unknown domain '{meta.domain}' (expected one of {DOMAINS})")
        episode = align_episode(raw, self.tolerance_s, meta.embodiment)
        missing = [
            name
            for name, stream in [
                ("joint_states", episode.joint_positions),
                ("joint_trajectory", episode.joint_targets),
            ]
            if meta.embodiment == ROBOT and stream is None
        ]
        if meta.embodiment != ROBOT and episode.hand_keypoints is None:
            missing.append("hand_pose")
        if missing:
            raise ValueError(f"no messages on {missing} for a {meta.embodiment} episode")
        return episode

    def _append(self, key: str, identity: str, episode: AlignedEpisode) -> None:
        if self._store is None:
            self._store = EpisodeStore.open_or_create(self.store_path, self._info(episode))
        meta = episode.raw.metadata
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
            key,
            len(episode.stamps),
            identity,
        )
        self._store.append(
            record,
            episode.images,
            episode.stamps,
            states.pad(state, width),
            states.pad(target, width),
        )

    def _info(self, first: AlignedEpisode) -> StoreInfo:
        width, height = self.image_size
        return StoreInfo(
            joint_names=list(self.robot.joint_names),
            tool_frame=self.robot.tool_frame,
            base_frame=self.robot.base_frame,
            image_width=width,
            image_height=height,
            control_hz=round(1.0 / camera_period_s(first.stamps), 3),
            tolerance_s=self.tolerance_s,
            layouts=states.layouts(self.robot),
            state_width=states.state_width(self.robot),
        )


def main(argv: list[str] | None = None) -> int:
    """Build or extend a store; exit status 2 for bad arguments, 1 if nothing usable."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=Path, nargs="+", required=True, help="bag folders")
    parser.add_argument("--out", type=Path, required=True, help="store path (*.zarr)")
    parser.add_argument("--image-size", type=int, nargs="+", default=[64], help="W [H]")
    parser.add_argument("--tolerance-ms", type=float, default=DEFAULT_TOLERANCE_S * 1e3)
    parser.add_argument("--include-failures", action="store_true", help="keep failed episodes")
    parser.add_argument("--urdf", default=str(default_urdf()))
    parser.add_argument("--tool-frame", default="tcp")
    parser.add_argument("--calibration", default=str(default_calibration()))
    args = parser.parse_args(argv)
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
    except DescriptionError as err:
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
        counts = np.unique([e.domain for e in store.episodes], return_counts=True)
        per_domain = ", ".join(f"{d} {c}" for d, c in zip(*counts, strict=True))
        print(f"store: {len(store.episodes)} episodes ({per_domain}), {store.rows} frames")
    return 0 if report.added or report.already_in_store or report.copies else 1


if __name__ == "__main__":
    sys.exit(main())
