"""``simhum render``: generated bags and a store built from them, rendered to MP4 and GIF,
with the paths drawn where forward kinematics and the one camera calibration put them; bad
input refused with nothing written."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from simhum.cli import main
from simhum.overlay import COMMANDED, MEASURED, canvas_size, default_scale, project
from simhum.render import write_video
from simhum_core.kinematics import pinocchio_tool_pose
from simhum_core.topics import load_topics
from simhum_human_capture.proxy_human import main as generate_human
from simhum_sim_bridge.generate import main as generate
from simhum_train.convert import DEFAULT_TOLERANCE_S, DatasetBuilder, find_bags
from simhum_train.episodes import align_episode, read_episode
from simhum_train.store import EpisodeStore

BAG_SIZE = (64, 48)  # the generated bags' frames: drawn 8x, 512 px wide
STORE_SIZE = (32, 24)  # the store's frames: drawn 15x, 480 px wide
MP4_TOLERANCE = 40  # per channel, after H.264's lossy 4:2:0 coding


@pytest.fixture(scope="module")
def bags(tmp_path_factory) -> dict[str, Path]:
    """One proxy-real robot and one proxy-human pick_place episode, written by the project's
    own generators."""
    root = tmp_path_factory.mktemp("render_bags")
    common = ["-n", "1", "--workers", "1", "--tasks", "pick_place"]
    common += ["--width", str(BAG_SIZE[0]), "--height", str(BAG_SIZE[1])]
    assert generate(["--out", str(root / "robot"), "--domains", "real", *common]) == 0
    assert generate_human(["--out", str(root / "human"), *common]) == 0
    (robot,) = find_bags([root / "robot"])
    (human,) = find_bags([root / "human"])
    return {"robot": robot, "human": human}


@pytest.fixture(scope="module")
def store(tmp_path_factory, bags, robot, camera) -> Path:
    """Both episodes in a store (robot first)."""
    path = tmp_path_factory.mktemp("render_store") / "demos.zarr"
    builder = DatasetBuilder(path, robot, camera, load_topics(), STORE_SIZE)
    report = builder.build([bags["robot"], bags["human"]], progress=False)
    assert len(report.added) == 2, report.summary()
    return path


def aligned(bag: Path, robot, embodiment: str):
    """The bag's episode at its own resolution, as the dataset reader aligns it."""
    raw = read_episode(bag, load_topics(), robot, BAG_SIZE)
    return align_episode(raw, DEFAULT_TOLERANCE_S, embodiment)


def pixels_of(camera, size: tuple[int, int], points_camera: np.ndarray) -> np.ndarray:
    """Pinhole projection [N, 2] of optical-frame points, the intrinsics scaled to ``size``."""
    uvw = points_camera @ camera.resized(*size).K.T
    return uvw[:, :2] / uvw[:, 2:]


def tool_pixels(robot, camera, q: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Where the tool frame of each joint vector in ``q`` appears in an image of ``size``."""
    tool = np.array([pinocchio_tool_pose(robot, qi)[:, 3] for qi in q])  # homogeneous
    in_camera = tool @ np.linalg.inv(camera.T_base_camera).T
    return pixels_of(camera, size, in_camera[:, :3])


def farthest_apart(measured: np.ndarray, commanded: np.ndarray) -> int:
    """The frame whose commanded point lies farthest from the measured path drawn so far,
    at least 12 px from it (the command leads the arm by centimetres)."""
    dense = np.linspace(measured[:-1], measured[1:], 8, axis=1).reshape(-1, 2)  # 8 per frame
    gaps = [np.linalg.norm(dense[: 8 * i + 1] - c, axis=1).min() for i, c in enumerate(commanded)]
    assert max(gaps) > 12
    return int(np.argmax(gaps))


def mp4_frames(path: Path) -> tuple[list[np.ndarray], float]:
    with av.open(str(path)) as container:
        rate = float(container.streams.video[0].average_rate)
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)], rate


def gif_frames(path: Path) -> tuple[list[np.ndarray], int]:
    """The frames and the first frame's duration (ms)."""
    frames = []
    with Image.open(path) as gif:
        duration = gif.info["duration"]
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB")))
    return frames, duration


def colour_at(frame: np.ndarray, uv: np.ndarray) -> np.ndarray:
    u, v = np.round(uv).astype(int)
    return frame[v, u].astype(int)


def off_by(colour: np.ndarray, expected: tuple[int, int, int]) -> int:
    return int(np.abs(colour - np.array(expected)).max())


def test_projection_matches_a_hand_computation(camera):
    fx, fy, cx, cy = camera.K[0, 0], camera.K[1, 1], camera.K[0, 2], camera.K[1, 2]
    on_axis = (camera.T_base_camera @ [0.0, 0.0, 0.8, 1.0])[:3]
    assert project(camera, on_axis) == pytest.approx([cx, cy])
    # at a tenth of the size, pixel centres scale: c -> (c + 0.5) / 10 - 0.5
    small = camera.resized(camera.width // 10, camera.height // 10)
    expected = [(cx + 0.5) / 10 - 0.5, (cy + 0.5) / 10 - 0.5]
    assert project(small, on_axis) == pytest.approx(expected)
    off_axis = (camera.T_base_camera @ [0.1, -0.05, 1.0, 1.0])[:3]
    assert project(camera, off_axis) == pytest.approx([cx + 0.1 * fx, cy - 0.05 * fy])
    behind = (camera.T_base_camera @ [0.0, 0.0, -0.5, 1.0])[:3]
    assert np.isnan(project(camera, behind)).all()
    assert [default_scale(w, 480) for w in (64, 96, 100, 640)] == [8, 5, 5, 1]


def test_bag_renders_to_mp4_and_gif_with_the_paths_where_fk_puts_them(
    bags, robot, camera, tmp_path
):
    episode = aligned(bags["robot"], robot, "robot")
    n, scale = len(episode.stamps), 8
    size = (BAG_SIZE[0] * scale, BAG_SIZE[1] * scale)
    measured = tool_pixels(robot, camera, episode.joint_positions, size)
    commanded = tool_pixels(robot, camera, episode.joint_targets, size)
    apart = farthest_apart(measured, commanded)

    mp4, gif = tmp_path / "episode.mp4", tmp_path / "episode.gif"
    assert main(["render", "--bag", str(bags["robot"]), "--out", str(mp4)]) == 0
    assert main(["render", "--bag", str(bags["robot"]), "--out", str(gif)]) == 0
    video, rate = mp4_frames(mp4)
    frames, duration = gif_frames(gif)
    assert rate == pytest.approx(10.0) and duration == 100  # the camera's 10 Hz, real time
    width, height = canvas_size(*BAG_SIZE, scale)
    for decoded, tolerance in ((frames, 0), (video, MP4_TOLERANCE)):
        assert len(decoded) == n
        assert decoded[0].shape == (height, width, 3)
        for i in (n // 2, n - 1):
            assert off_by(colour_at(decoded[i], measured[i]), MEASURED) <= tolerance
        assert off_by(colour_at(decoded[apart], commanded[apart]), COMMANDED) <= tolerance
    # the camera frame itself has other colours there: the drawing put them in
    u, v = np.round(measured[-1] / scale - 0.5).astype(int)
    assert off_by(episode.images[-1][v, u].astype(int), MEASURED) > 100

    # every second frame, still in real time
    halves = tmp_path / "halves.gif"
    assert main(["render", "--bag", str(bags["robot"]), "--out", str(halves), "--every", "2"]) == 0
    frames, duration = gif_frames(halves)
    assert (len(frames), duration) == ((n + 1) // 2, 200)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "episode.gif",
        "episode.mp4",
        "halves.gif",
    ]


def test_human_bag_draws_the_wrist_path(bags, robot, camera, tmp_path):
    episode = aligned(bags["human"], robot, "human")
    scale = default_scale(BAG_SIZE[0], 480)
    size = (BAG_SIZE[0] * scale, BAG_SIZE[1] * scale)
    wrist = pixels_of(camera, size, episode.hand_keypoints[:, 0])
    out = tmp_path / "hand.gif"
    assert main(["render", "--bag", str(bags["human"]), "--out", str(out)]) == 0
    frames, _ = gif_frames(out)
    assert len(frames) == len(episode.stamps)
    seen = np.flatnonzero(np.all((wrist > 8) & (wrist < np.array(size) - 8), axis=1))
    assert len(seen) > len(frames) // 2  # the hand starts above the picture
    for i in seen[[0, len(seen) // 2, -1]]:
        assert off_by(colour_at(frames[i], wrist[i]), MEASURED) == 0


def test_store_episodes_render_by_id_and_index(store, robot, camera, tmp_path):
    records = EpisodeStore.open(store).episodes
    robot_id = records[0].episode_id
    # by id, to the default output beside the store
    assert main(["render", "--store", str(store), "--episode", robot_id]) == 0
    default = store.parent / f"demos-{robot_id}.mp4"
    video, _ = mp4_frames(default)
    assert len(video) == records[0].frames
    assert video[0].shape[1::-1] == canvas_size(*STORE_SIZE, 15)

    # by index: the tool paths where FK of the stored joints puts them
    out = tmp_path / "robot.gif"
    assert main(["render", "--store", str(store), "--episode", "0", "--out", str(out)]) == 0
    frames, _ = gif_frames(out)
    opened = EpisodeStore.open(store)
    rows = {k: v[: records[0].frames] for k, v in opened.load().items()}
    _, start, stop = next(s for s in opened.info.layouts["robot"] if s[0] == "joints")
    size = (STORE_SIZE[0] * 15, STORE_SIZE[1] * 15)
    measured, commanded = (
        tool_pixels(robot, camera, rows[key][:, start:stop].astype(np.float64), size)
        for key in ("data/state", "data/target")
    )
    apart = farthest_apart(measured, commanded)
    assert off_by(colour_at(frames[apart], measured[apart]), MEASURED) == 0
    assert off_by(colour_at(frames[apart], commanded[apart]), COMMANDED) == 0

    human = tmp_path / "human.mp4"
    assert main(["render", "--store", str(store), "--episode", "-1", "--out", str(human)]) == 0
    assert len(mp4_frames(human)[0]) == records[1].frames


def test_bad_input_is_refused_and_nothing_is_written(bags, store, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    for key in ("no-such-episode", "2"):
        assert main(["render", "--store", str(store), "--episode", key, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"no episode '{key}'" in err and str(store) in err and "index from 0 to 1" in err
    missing = tmp_path / "absent-bag"
    assert main(["render", "--bag", str(missing), "--out", str(out)]) == 2
    assert f"{missing}: bag not found" in capsys.readouterr().err
    assert main(["render", "--bag", str(bags["robot"]), "--out", str(tmp_path / "x.avi")]) == 2
    assert "must end in .mp4 or .gif" in capsys.readouterr().err
    assert main(["render", "--bag", str(bags["robot"]), "--episode", "0"]) == 2
    assert "--episode goes with --store" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []

    out.write_bytes(b"keep me")
    assert main(["render", "--bag", str(bags["robot"]), "--out", str(out)]) == 2
    assert f"{out}: already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert main(["render", "--bag", str(bags["robot"]), "--out", str(out), "--overwrite"]) == 0
    assert len(mp4_frames(out)[0]) > 0


def test_a_failure_while_writing_leaves_nothing(tmp_path):
    def frames():
        yield from np.zeros((100, 48, 64, 3), np.uint8)  # past the encoder's look-ahead
        raise RuntimeError("decoder broke")

    for name in ("broken.mp4", "broken.gif"):
        with pytest.raises(RuntimeError, match="decoder broke"):
            write_video(frames(), tmp_path / name, 10.0)
    assert list(tmp_path.iterdir()) == []
