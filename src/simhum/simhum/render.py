"""``simhum render``: one episode, from a rosbag2 bag or a training store, as an MP4 or GIF
with its paths drawn over the camera frames.

    simhum render --bag runs/demos/pick_place/real/pick_place-real-in-000000
    simhum render --store runs/store.zarr --episode 3 --out episode.gif

Robot episodes show the measured and the commanded tool path (forward kinematics of the
measured and of the commanded joint positions, on the robot's URDF) and the gripper's state;
human episodes show the wrist's path and the fingertips. The one camera calibration, scaled
to the frames' resolution, projects them into the image.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from simhum.overlay import (
    COMMANDED,
    INKS,
    KEYPOINTS,
    MEASURED,
    Scene,
    Trail,
    default_scale,
    draw_frames,
)
from simhum_core.calibration import CameraCalibration, load_calibration
from simhum_core.paths import default_calibration, default_urdf
from simhum_core.pose_math import transform_points, vector_to_pose
from simhum_core.robot import RobotDescription, load_robot
from simhum_core.topics import Topics, load_topics

if TYPE_CHECKING:  # simhum_train is imported where used: other commands need not load it
    from simhum_train.states import Layout
    from simhum_train.store import EpisodeRecord

FORMATS = (".mp4", ".gif")
MIN_WIDTH = 480  # default upscaling makes frames at least this wide
MAX_SCALE = 16
FALLBACK_FPS = 10.0  # for a one-frame episode, which has no frame period
VIDEO_CODEC = "h264"  # libx264, which PyAV's wheels bundle
# x264's veryfast preset: about 3x faster than its default here, and no larger at these sizes
ENCODER_OPTIONS = {"preset": "veryfast"}
GIF_COLOURS = 128
PALETTE_FRAMES = 8  # frames, evenly spaced, that the GIF's palette is taken from
OPEN_APERTURE = 0.5  # a gripper opened at least this far of its range reads as open


class RenderError(ValueError):
    """An episode that cannot be rendered as asked; the message names the input at fault."""


def bag_scene(
    bag: Path, robot: RobotDescription, camera: CameraCalibration, topics: Topics
) -> tuple[Scene, float]:
    """The scene of a bag episode at its frames' own resolution, and its camera rate."""
    from simhum_core.episode_bag import read_metadata
    from simhum_train import states
    from simhum_train.convert import DEFAULT_TOLERANCE_S
    from simhum_train.episodes import align_episode, camera_period_s, read_episode
    from simhum_train.keys import EMBODIMENTS, ROBOT

    bag = Path(bag)
    if not bag.is_dir():
        raise RenderError(f"{bag}: bag not found (no such folder)")
    meta = read_metadata(bag)
    if meta.embodiment not in EMBODIMENTS:
        raise RenderError(f"{bag}: embodiment '{meta.embodiment}' is not one of {EMBODIMENTS}")
    raw = read_episode(bag, topics, robot, _bag_image_size(bag, topics))
    episode = align_episode(raw, DEFAULT_TOLERANCE_S, meta.embodiment)
    for issue in episode.issues:
        print(f"simhum render: {bag}: drawn although misaligned: {issue}", file=sys.stderr)
    seconds = (episode.stamps - episode.stamps[0]) / 1e9
    layout = states.layouts(robot)[meta.embodiment]
    if meta.embodiment == ROBOT:
        if episode.joint_positions is None:
            raise RenderError(f"{bag}: no joint states on {topics.joint_states}")
        scene = robot_scene(
            meta.episode_id,
            episode.images,
            seconds,
            robot,
            layout,
            episode.joint_positions,
            episode.joint_targets,
        )
    else:
        if episode.hand_keypoints is None:
            raise RenderError(f"{bag}: no hand poses on {topics.hand_pose}")
        rows = states.human_rows(episode.hand_keypoints, camera.T_base_camera)
        scene = human_scene(meta.episode_id, episode.images, seconds, layout, rows)
    return scene, _rate(camera_period_s(episode.stamps))


def store_scene(store_path: Path, episode: str, robot: RobotDescription) -> tuple[Scene, float]:
    """The scene of one episode of a training store (by id or row index), and its rate; a
    robot episode whose targets are not commands (MEASURED_FUTURE) has no commanded path."""
    from simhum_train import keys
    from simhum_train.episodes import camera_period_s
    from simhum_train.sampler import episode_bounds
    from simhum_train.store import MEASURED_FUTURE, EpisodeStore

    store = EpisodeStore.open(Path(store_path))
    index = episode_index(store.episodes, episode, store.path)
    record, info = store.episodes[index], store.info
    starts, ends = episode_bounds(store.episode_ends)
    rows = slice(int(starts[index]), int(ends[index]))
    images = np.asarray(store.group[keys.IMAGE][rows])
    stamps = np.asarray(store.group[keys.TIMESTAMP][rows])
    state = np.asarray(store.group[keys.STATE][rows], dtype=np.float64)
    target = np.asarray(store.group[keys.TARGET][rows], dtype=np.float64)
    seconds = (stamps - stamps[0]) / 1e9
    layout = info.layouts[record.embodiment]
    if record.embodiment == keys.ROBOT:
        if tuple(info.joint_names) != robot.joint_names:
            raise RenderError(
                f"{store.path}: stored joints {info.joint_names} differ from {robot.source}'s "
                f"{list(robot.joint_names)}; pass the store's robot with --urdf"
            )
        scene = robot_scene(
            record.episode_id,
            images,
            seconds,
            robot,
            layout,
            columns(state, layout, "joints"),
            None if record.actions == MEASURED_FUTURE else columns(target, layout, "joints"),
        )
    else:
        scene = human_scene(record.episode_id, images, seconds, layout, state)
    return scene, _rate(camera_period_s(stamps))


def episode_index(records: list[EpisodeRecord], key: str, store: Path) -> int:
    """Row index of the episode whose id is ``key``, else whose index ``key`` is."""
    ids = [r.episode_id for r in records]
    if key in ids:
        return ids.index(key)
    if key.lstrip("-").isdigit() and -len(ids) <= int(key) < len(ids):
        return int(key) % len(ids)
    shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
    raise RenderError(
        f"{store}: no episode '{key}'; give one of its {len(ids)} episode ids ({shown}) or an "
        f"index from 0 to {len(ids) - 1}"
    )


def columns(rows: np.ndarray, layout: Layout, name: str) -> np.ndarray:
    """The ``name`` columns of state or target rows, as the layout places them."""
    from simhum_train.states import layout_slice

    return rows[:, layout_slice(layout, name)]


def robot_scene(
    title: str,
    images: np.ndarray,
    seconds: np.ndarray,
    robot: RobotDescription,
    layout: Layout,
    measured_q: np.ndarray,
    commanded_q: np.ndarray | None,
) -> Scene:
    """Measured and (when there are commands) commanded tool paths from joint positions,
    the measured one on top, and the gripper's state per frame."""
    from simhum_train.states import robot_rows

    measured = robot_rows(robot, measured_q)
    trails = [Trail("measured tool", MEASURED, columns(measured, layout, "position")[:, None])]
    status = [_gripper(a) for a in columns(measured, layout, "gripper")[:, 0]]
    if commanded_q is not None:
        commanded = robot_rows(robot, commanded_q)
        path = columns(commanded, layout, "position")[:, None]
        trails.insert(0, Trail("commanded tool", COMMANDED, path))
        wanted = columns(commanded, layout, "gripper")[:, 0]
        status = [f"{s}, commanded {a:.2f}" for s, a in zip(status, wanted, strict=True)]
    return Scene(title, images, seconds, tuple(trails), tuple(status))


def human_scene(
    title: str,
    images: np.ndarray,
    seconds: np.ndarray,
    layout: Layout,
    rows: np.ndarray,
) -> Scene:
    """The wrist's path (on top) and the current fingertips, from human state rows (base
    frame)."""
    wrist = np.concatenate([columns(rows, layout, "position"), columns(rows, layout, "rot6d")], 1)
    tips = columns(rows, layout, "fingertips").reshape(len(rows), -1, 3)
    trails = (
        Trail("fingertips", KEYPOINTS, transform_points(vector_to_pose(wrist), tips), False),
        Trail("wrist", MEASURED, wrist[:, None, :3]),
    )
    return Scene(title, images, seconds, trails)


def write_video(frames: Iterable[np.ndarray], out: Path, fps: float) -> int:
    """``frames`` encoded into ``out`` (MP4 or GIF by its suffix) through a hidden file
    beside it renamed into place, so ``out`` is complete or absent; the frame count."""
    partial = out.with_name(f".{out.name}.partial")
    writer = _write_mp4 if out.suffix.lower() == ".mp4" else _write_gif
    try:
        count = writer(frames, partial, fps)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _write_mp4(frames: Iterable[np.ndarray], path: Path, fps: float) -> int:
    """H.264 (yuv420p) in an MP4 container."""
    import av

    count = 0
    with av.open(str(path), "w", format="mp4") as container:
        rate = Fraction(fps).limit_denominator(1000)
        stream = container.add_stream(VIDEO_CODEC, rate=rate, options=ENCODER_OPTIONS)
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            if count == 0:
                stream.height, stream.width = frame.shape[:2]
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            count += 1
        container.mux(stream.encode())
    return count


def _write_gif(frames: Iterable[np.ndarray], path: Path, fps: float) -> int:
    """An endlessly looping GIF on one small shared palette (see ``_gif_palette``)."""
    rgb = list(frames)
    palette = _gif_palette(rgb)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in rgb]
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=round(1000 / fps),
        loop=0,
    )
    return len(images)


def _gif_palette(frames: list[np.ndarray]) -> Image.Image:
    """A palette image of GIF_COLOURS: the overlay's inks exactly, the rest taken from
    frames across the episode (one small palette keeps sensor noise from bloating the file)."""
    sample = np.concatenate(frames[:: -(-len(frames) // PALETTE_FRAMES)])
    taken = GIF_COLOURS - len(INKS)
    colours = Image.fromarray(sample).quantize(taken, dither=Image.Dither.NONE).getpalette()
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours[: 3 * taken] + [c for ink in INKS for c in ink])
    return palette


def default_output(args: argparse.Namespace, episode_id: str | None = None) -> Path:
    """The video beside the input: ``<bag>.mp4``, or ``<store>-<episode>.mp4``."""
    if args.bag is not None:
        return args.bag.parent / f"{args.bag.name}.mp4"
    return args.store.parent / f"{args.store.stem}-{episode_id}.mp4"


def render(args: argparse.Namespace) -> Path:
    """Render the episode the options name; the video written."""
    if args.out is not None:
        _check_output(args.out, args.overwrite)
    if args.scale is not None and not 1 <= args.scale <= MAX_SCALE:
        raise RenderError(f"--scale must be 1 to {MAX_SCALE}, got {args.scale}")
    if args.fps is not None and not args.fps > 0:
        raise RenderError(f"--fps must be positive, got {args.fps}")
    if args.every < 1:
        raise RenderError(f"--every must be 1 or more, got {args.every}")
    robot = load_robot(args.urdf, tool_frame=args.tool_frame)
    camera = load_calibration(args.calibration)
    if args.bag is not None:
        scene, rate = bag_scene(args.bag, robot, camera, load_topics())
    else:
        scene, rate = store_scene(args.store, args.episode, robot)
    out = args.out
    if out is None:
        out = default_output(args, scene.title)
        _check_output(out, args.overwrite)
    width = scene.images.shape[2]
    scale = args.scale or default_scale(width, MIN_WIDTH)
    frames = draw_frames(scene, camera, scale, args.every)
    write_video(frames, out, args.fps or rate / args.every)
    return out


def _check_output(out: Path, overwrite: bool) -> None:
    """An error for an output of another format, in a missing folder, or that exists."""
    if out.suffix.lower() not in FORMATS:
        raise RenderError(f"{out}: the output must end in {' or '.join(FORMATS)}")
    if not out.parent.is_dir():
        raise RenderError(f"{out}: folder {out.parent} not found")
    if out.exists() and not overwrite:
        raise RenderError(f"{out}: already exists; pass --overwrite to replace it")


def _bag_image_size(bag: Path, topics: Topics) -> tuple[int, int]:
    """(width, height) of the bag's first camera frame."""
    from rosbags.rosbag2 import Reader

    from simhum_core.episode_bag import decode_image, typestore

    wanted = (topics.camera_image, topics.camera_image_compressed)
    with Reader(bag) as reader:
        connections = [c for c in reader.connections if c.topic in wanted]
        for conn, _, raw in reader.messages(connections=connections):
            msg = typestore().deserialize_cdr(raw, conn.msgtype)
            if conn.topic == topics.camera_image:
                return int(msg.width), int(msg.height)
            height, width = decode_image(msg.data, msg.format).shape[:2]
            return width, height
    raise RenderError(f"{bag}: no camera frames on {' or '.join(wanted)}")


def _gripper(aperture: float) -> str:
    """The measured gripper's state in words and its opening (0 closed .. 1 open)."""
    return f"gripper {'open' if aperture >= OPEN_APERTURE else 'closed'} {aperture:.2f}"


def _rate(period_s: float) -> float:
    return 1.0 / period_s if period_s > 0 else FALLBACK_FPS


def add_render_command(commands) -> None:
    """The `simhum render` sub-command."""
    parser = commands.add_parser(
        "render", help="an episode (bag or store) as an MP4 or GIF with its tool path drawn"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bag", type=Path, help="a rosbag2 episode folder")
    source.add_argument("--store", type=Path, help="a training store (*.zarr)")
    parser.add_argument(
        "--episode", help="with --store: the episode's id, or its row index (-1: the last)"
    )
    parser.add_argument(
        "--out", type=Path, help="FILE.mp4 or FILE.gif (default: an MP4 beside the input)"
    )
    parser.add_argument(
        "--fps",
        type=float,
        metavar="N",
        help="playback frame rate (default: real time, the camera's rate)",
    )
    parser.add_argument(
        "--every", type=int, default=1, metavar="K", help="keep every K-th frame (a smaller GIF)"
    )
    parser.add_argument(
        "--scale",
        type=int,
        metavar="K",
        help=f"whole upscaling factor (default: to {MIN_WIDTH} px wide)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--urdf", default=str(default_urdf()))
    parser.add_argument("--tool-frame", default="tcp")
    parser.add_argument("--calibration", default=str(default_calibration()))
    parser.set_defaults(run=_render_main)


def _render_main(args: argparse.Namespace) -> int:
    if (args.store is not None) != (args.episode is not None):
        print("simhum render: --episode goes with --store (and only with it)", file=sys.stderr)
        return 2
    try:
        out = render(args)
    except (ValueError, OSError) as err:
        print(f"simhum render: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
