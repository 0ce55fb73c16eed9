"""LeRobot datasets: export -> import round trips, the files and metadata written, bad input,
and Hugging Face's own LeRobotDataset reading the export (and writing a dataset we import)
in .venv-lerobot (scripts/lerobot_env.sh; those tests are skipped, saying why, where that
environment cannot be built; SIMHUM_SKIP_LEROBOT=1 skips them on purpose)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from operator import attrgetter
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from simhum_train import keys, states
from simhum_train import lerobot_format as fmt
from simhum_train.lerobot_cli import main
from simhum_train.lerobot_export import export_store
from simhum_train.lerobot_format import LeRobotFormatError
from simhum_train.lerobot_import import import_dataset
from simhum_train.store import EpisodeStore

ROOT = Path(__file__).resolve().parents[3]
CHECKER = Path(__file__).parent / "lerobot_checker.py"
BUILD_TIMEOUT_S = int(os.environ.get("SIMHUM_LEROBOT_BUILD_TIMEOUT_S", "900"))
LEROBOT_VENV = Path(os.environ.get("SIMHUM_LEROBOT_VENV", ROOT / ".venv-lerobot"))
LOSSLESS_LEVELS = 2  # CRF 0 keeps YUV exactly: what is left is the RGB<->YUV rounding
VIDEO = f"videos/{fmt.CAMERA}/chunk-000/file-000.mp4"


def rows_of(store: EpisodeStore, domains: list[str]) -> dict[str, np.ndarray]:
    """The store's rows of the episodes of ``domains``, in order."""
    arrays, ends = store.load(), store.episode_ends
    starts = np.concatenate([[0], ends[:-1]])
    picked = [i for i, e in enumerate(store.episodes) if e.domain in domains]
    rows = np.concatenate([np.arange(starts[i], ends[i]) for i in picked])
    return {name: arrays[name][rows] for name in (keys.IMAGE, keys.STATE, keys.TARGET)}


@pytest.fixture(scope="module")
def exports(tmp_path_factory, store_path) -> dict[str, Path]:
    """The fixture store's robot episodes (sim and real) and its human ones, exported; and
    the robot ones again with tiny file-size limits, so that each episode gets files of its
    own (file-000, file-001, ... as lerobot rolls over past 100 MB of rows, 200 MB of video)."""
    out = tmp_path_factory.mktemp("lerobot")
    exported = {
        name: export_store(store_path, out / name, domains=domains, progress=False).out
        for name, domains in {"robot": ["sim", "real"], "human": ["human"]}.items()
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fmt, "DATA_FILES_MB", 1e-6)
        patch.setattr(fmt, "VIDEO_FILES_MB", 1e-6)
        rolled = export_store(store_path, out / "rolled", domains=["sim", "real"], progress=False)
    return exported | {"rolled": rolled.out}


def empty_copy(store_path: Path, path: Path) -> EpisodeStore:
    """A new empty store with the facts of the one at ``store_path``, opened to read (the
    writer that made it is gone, so an import may write)."""
    EpisodeStore.create(path, EpisodeStore.open(store_path).info)
    return EpisodeStore.open(path)


@pytest.mark.parametrize("domain", ["real", "human"])
def test_export_then_import_gives_the_same_episodes(store_path, tmp_path, domain):
    source = EpisodeStore.open(store_path)
    export_store(store_path, tmp_path / "ds", domains=[domain], progress=False)
    empty_copy(store_path, tmp_path / "copy.zarr")
    summary = import_dataset(tmp_path / "ds", tmp_path / "copy.zarr", domain, progress=False)
    copy = EpisodeStore.open(tmp_path / "copy.zarr")
    before, after = rows_of(source, [domain]), copy.load()
    assert np.array_equal(after[keys.STATE], before[keys.STATE])  # padding included
    assert np.array_equal(after[keys.TARGET], before[keys.TARGET])
    error = np.abs(after[keys.IMAGE].astype(int) - before[keys.IMAGE].astype(int))
    assert error.max() <= LOSSLESS_LEVELS
    originals = [e for e in source.episodes if e.domain == domain]
    fields = attrgetter("frames", "task", "domain", "embodiment", "actions")
    assert [fields(e) for e in copy.episodes] == [fields(e) for e in originals]
    period_ns = 1e9 / source.info.control_hz
    assert np.allclose(np.diff(after[keys.TIMESTAMP][: originals[0].frames]), period_ns)
    assert summary.added == len(originals)
    again = import_dataset(tmp_path / "ds", tmp_path / "copy.zarr", domain, progress=False)
    assert (again.added, again.already_in_store) == (0, len(originals))


def test_export_writes_lerobot_v3_files_and_metadata(store_path, exports):
    root, store = exports["robot"], EpisodeStore.open(store_path)
    info = json.loads((root / fmt.INFO).read_text())
    chosen = [e for e in store.episodes if e.domain in ("sim", "real")]
    frames = sum(e.frames for e in chosen)
    assert info["codebase_version"] == "v3.0"
    assert (info["fps"], info["total_episodes"], info["total_frames"]) == (10, len(chosen), frames)
    assert info["splits"] == {"train": f"0:{len(chosen)}"}
    width = max(stop for _, _, stop in store.info.layouts[keys.ROBOT])
    state = info["features"][fmt.STATE]
    assert state["shape"] == [width] and state["names"][-len(store.info.joint_names) :] == list(
        store.info.joint_names
    )
    assert info["features"][fmt.ACTION]["names"] == state["names"]
    camera = info["features"][fmt.CAMERA]
    assert camera["dtype"] == "video" and camera["shape"] == [32, 32, 3]
    for path in (
        "data/chunk-000/file-000.parquet",
        "meta/episodes/chunk-000/file-000.parquet",
        "meta/tasks.parquet",
        fmt.STATS,
        VIDEO,
    ):
        assert (root / path).is_file(), path
    assert fmt.read_tasks(root) == ["pick_place"]

    rows = rows_of(store, ["sim", "real"])
    data = pq.read_table(root / "data/chunk-000/file-000.parquet").to_pydict()
    assert np.array_equal(np.array(data[fmt.STATE], np.float32), rows[keys.STATE][:, :width])
    assert np.array_equal(np.array(data[fmt.ACTION], np.float32), rows[keys.TARGET][:, :width])
    assert data["index"] == list(range(frames))
    assert np.allclose(data["timestamp"], np.array(data["frame_index"]) / 10)

    episodes = fmt.read_episodes(root)
    ends = np.cumsum([e.frames for e in chosen])
    assert [e["length"] for e in episodes] == [e.frames for e in chosen]
    assert [e["dataset_to_index"] for e in episodes] == ends.tolist()
    to = [e[f"videos/{fmt.CAMERA}/to_timestamp"] for e in episodes]
    assert np.allclose(to, ends / 10)
    with av.open(str(root / VIDEO)) as video:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in video.decode(video=0)])
    assert np.abs(decoded.astype(int) - rows[keys.IMAGE]).max() <= LOSSLESS_LEVELS

    stats = json.loads((root / fmt.STATS).read_text())
    states_ = rows[keys.STATE][:, :width]
    assert np.allclose(stats[fmt.STATE]["mean"], states_.mean(0), atol=1e-6)
    assert np.allclose(
        stats[fmt.STATE]["q50"], np.quantile(states_, 0.5, 0, method="inverted_cdf")
    )
    assert stats[fmt.STATE]["count"] == [frames]
    assert np.asarray(stats[fmt.CAMERA]["mean"]).shape == (3, 1, 1)
    channel_means = rows[keys.IMAGE].reshape(-1, 3).mean(0) / 255
    assert np.allclose(np.ravel(stats[fmt.CAMERA]["mean"]), channel_means)
    assert set(stats[fmt.CAMERA]) == {"min", "max", "mean", "std", "count", *fmt.QUANTILE_KEYS}


def test_episodes_in_files_of_their_own_import_as_they_were(store_path, exports, tmp_path):
    root = exports["rolled"]
    episodes = fmt.read_episodes(root)
    assert [e["data/file_index"] for e in episodes] == list(range(6))
    assert [e[f"videos/{fmt.CAMERA}/file_index"] for e in episodes] == list(range(6))
    assert all(e[f"videos/{fmt.CAMERA}/from_timestamp"] == 0 for e in episodes)
    assert (root / f"videos/{fmt.CAMERA}/chunk-000/file-005.mp4").is_file()
    empty_copy(store_path, tmp_path / "copy.zarr")
    import_dataset(root, tmp_path / "copy.zarr", "sim", progress=False)
    before = rows_of(EpisodeStore.open(store_path), ["sim", "real"])
    after = EpisodeStore.open(tmp_path / "copy.zarr").load()
    assert np.array_equal(after[keys.STATE], before[keys.STATE])
    assert np.abs(after[keys.IMAGE].astype(int) - before[keys.IMAGE]).max() <= LOSSLESS_LEVELS


def test_an_existing_target_is_kept_unless_overwritten(store_path, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(LeRobotFormatError, match="already exists; pass --overwrite"):
        export_store(store_path, out, domains=["real"], progress=False)
    assert (out / "mine.txt").read_text() == "keep me"
    export_store(store_path, out, domains=["real"], overwrite=True, progress=False)
    assert not (out / "mine.txt").exists() and (out / fmt.INFO).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no staging left behind


@pytest.mark.parametrize(
    ("domains", "message"),
    [
        (["real", "moon"], "no episodes of domain moon; the store's domains: human, real, sim"),
        (None, "2 embodiments (human: human 3; robot: real 3, sim 3)"),
    ],
)
def test_an_export_of_unknown_or_mixed_domains_is_refused(store_path, tmp_path, domains, message):
    with pytest.raises(LeRobotFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        export_store(store_path, tmp_path / "ds", domains=domains, progress=False)
    assert list(tmp_path.iterdir()) == []


def drop_camera(info: dict) -> None:
    del info["features"][fmt.CAMERA]


def old_version(info: dict) -> None:
    info["codebase_version"] = "v2.1"


def foreign_joint(info: dict) -> None:
    for key in (fmt.STATE, fmt.ACTION):
        names = info["features"][key]["names"]
        names[names.index("elbow_joint")] = "elbow"


def odd_rate(info: dict) -> None:
    info["fps"] = 15


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (drop_camera, "no image feature .*; its features: observation.state, action, timestamp"),
        (old_version, "codebase_version 'v2.1', but only LeRobot's 'v3.0'"),
        (foreign_joint, r"do not name the robot's joints \(.*; missing elbow_joint\)"),
        (odd_rate, "recorded at 15 fps, not a whole multiple of the store's 10.0 Hz"),
    ],
)
def test_a_bad_dataset_is_refused_and_the_store_untouched(
    store_path, exports, tmp_path, edit, message
):
    dataset = tmp_path / "ds"
    shutil.copytree(exports["robot"], dataset)
    info = json.loads((dataset / fmt.INFO).read_text())
    edit(info)
    (dataset / fmt.INFO).write_text(json.dumps(info))
    empty_copy(store_path, tmp_path / "copy.zarr")
    with pytest.raises(LeRobotFormatError, match=message):
        import_dataset(dataset, tmp_path / "copy.zarr", "real", progress=False)
    assert EpisodeStore.open(tmp_path / "copy.zarr").episodes == []


def test_an_import_makes_a_new_store_at_the_given_size(store_path, exports, tmp_path):
    new = tmp_path / "new.zarr"
    with pytest.raises(LeRobotFormatError, match="no store there; give --image-size W H"):
        import_dataset(exports["robot"], new, "real", progress=False)
    assert not new.exists()
    summary = import_dataset(exports["robot"], new, "real", image_size=(16, 12), progress=False)
    store, source = EpisodeStore.open(new), EpisodeStore.open(store_path)
    assert (store.info.image_width, store.info.image_height) == (16, 12)
    assert store.info.control_hz == source.info.control_hz  # the dataset's rate
    assert store.info.layouts == source.info.layouts
    before = rows_of(source, ["sim", "real"])
    assert summary.added == len(store.episodes) > 0
    assert np.array_equal(store.load()[keys.STATE], before[keys.STATE])


def test_the_command_line_runs_both_ways_and_names_bad_input(store_path, tmp_path, capsys):
    out, store = tmp_path / "ds", tmp_path / "copy.zarr"
    assert (
        main(["export", "--store", str(store_path), "--out", str(out), "--domains", "real"]) == 0
    )
    assert "exported 3 robot episodes (real;" in capsys.readouterr().out
    assert main(["export", "--store", str(store_path), "--out", str(out)]) == 2
    assert f"error: {out}: already exists; pass --overwrite" in capsys.readouterr().err
    empty_copy(store_path, store)
    args = ["import", "--dataset", str(out), "--store", str(store), "--domain", "sim"]
    assert main([*args, "--task", "stack"]) == 0
    assert "imported 3 episodes" in capsys.readouterr().out
    assert {(e.domain, e.task) for e in EpisodeStore.open(store).episodes} == {("sim", "stack")}
    assert (
        main(["import", "--dataset", str(tmp_path), "--store", str(store), "--domain", "sim"]) == 2
    )
    assert "not a LeRobot dataset (no meta/info.json)" in capsys.readouterr().err


# --- lerobot's own LeRobotDataset, in its own environment ---------------------------------


@pytest.fixture(scope="session")
def lerobot_python() -> Path:
    """The Python of .venv-lerobot (or $SIMHUM_LEROBOT_VENV), built by scripts/lerobot_env.sh
    when absent (minutes and GBs the first time, instant after); skipped, saying why, without
    it."""
    if os.environ.get("SIMHUM_SKIP_LEROBOT"):
        pytest.skip("SIMHUM_SKIP_LEROBOT is set: lerobot's loader check not run")
    build = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "lerobot_env.sh")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so that a timeout stops pip too
    )
    try:
        output, _ = build.communicate(timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(build.pid, signal.SIGTERM)
        build.communicate()
        pytest.skip(
            f"scripts/lerobot_env.sh did not build {LEROBOT_VENV} within {BUILD_TIMEOUT_S} s "
            "(SIMHUM_LEROBOT_BUILD_TIMEOUT_S); lerobot's loader check not run"
        )
    if build.returncode != 0:
        tail = " | ".join(output.strip().splitlines()[-6:])
        pytest.skip(
            f"scripts/lerobot_env.sh could not build {LEROBOT_VENV} (no package index reachable "
            f"or an install failed); lerobot's loader check not run. Its output ends: {tail}"
        )
    return LEROBOT_VENV / "bin" / "python"


def run_checker(python: Path, *args: str, home: Path) -> None:
    """lerobot_checker.py in .venv-lerobot: offline, with none of SimHum's Python paths."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env |= {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(
        [str(python), str(CHECKER), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.timeout(BUILD_TIMEOUT_S + 300)
@pytest.mark.parametrize("export", ["robot", "rolled"])
def test_lerobot_loads_the_export(lerobot_python, store_path, exports, tmp_path, export):
    root, store = exports[export], EpisodeStore.open(store_path)
    rows = rows_of(store, ["sim", "real"])
    total = len(rows[keys.STATE])
    picked = [0, 1, total // 2, total - 1]
    out = tmp_path / "read"
    run_checker(
        lerobot_python,
        "load",
        str(root),
        "simhum/robot",
        str(out),
        *map(str, picked),
        home=tmp_path,
    )
    read, facts = np.load(f"{out}.npz"), json.loads(Path(f"{out}.json").read_text())
    width = read["state"].shape[1]
    assert np.array_equal(read["state"], rows[keys.STATE][picked, :width])
    assert np.array_equal(read["action"], rows[keys.TARGET][picked, :width])
    frames = np.round(read["image"].transpose(0, 2, 3, 1) * 255).astype(int)
    assert np.abs(frames - rows[keys.IMAGE][picked]).max() <= LOSSLESS_LEVELS
    info = json.loads((root / fmt.INFO).read_text())
    assert (facts["len"], facts["num_episodes"], facts["fps"]) == (total, 6, 10)
    assert facts["names"][fmt.STATE] == info["features"][fmt.STATE]["names"]
    assert facts["tasks"] == ["pick_place"] and set(facts["task_of_items"]) == {"pick_place"}
    assert facts["camera_keys"] == facts["video_keys"] == [fmt.CAMERA]
    assert facts["video_info_read"] == facts["video_info_stored"]
    assert facts["camera_stats_shape"] == [3, 1, 1]
    assert set(facts["stats"][fmt.STATE]) >= set(fmt.QUANTILE_KEYS)
    assert facts["episode_lengths"] == [e.frames for e in store.episodes if e.domain != "human"]
    assert np.allclose(read["timestamp"], read["frame_index"] / 10)


@pytest.mark.timeout(BUILD_TIMEOUT_S + 300)
@pytest.mark.parametrize(
    ("storage", "worst_mean_error"),
    [("video", 3.0), ("image", 0.0)],  # AV1 at CRF 30 (lerobot's default); PNG, lossless
)
def test_a_dataset_lerobot_wrote_imports_by_joint_name(
    lerobot_python, store_path, robot, tmp_path, storage, worst_mean_error
):
    store = empty_copy(store_path, tmp_path / "copy.zarr")
    joints = json.dumps(list(store.info.joint_names))
    made, fed = tmp_path / "made", tmp_path / "fed"
    run_checker(
        lerobot_python, "make", str(made), "test/made", str(fed), joints, storage, home=tmp_path
    )
    fed = np.load(f"{fed}.npz")
    summary = import_dataset(made, tmp_path / "copy.zarr", "real", progress=False)
    assert (summary.added, summary.step) == (2, 2)  # 20 fps into a 10 Hz store
    copy = EpisodeStore.open(tmp_path / "copy.zarr")
    kept = np.arange(0, len(fed["state"]), 2)
    columns = [list(fed["names"]).index(j) for j in store.info.joint_names]
    expect = {
        name: states.pad(
            states.robot_rows(robot, fed[name][kept][:, columns].astype(float)),
            store.info.state_width,
        )
        for name in ("state", "action")
    }
    arrays = copy.load()
    assert np.allclose(arrays[keys.STATE], expect["state"], atol=1e-6)
    assert np.allclose(arrays[keys.TARGET], expect["action"], atol=1e-6)
    size = (store.info.image_width, store.info.image_height)
    resized = np.stack(
        [np.asarray(Image.fromarray(im).resize(size, Image.BILINEAR)) for im in fed["image"][kept]]
    )
    error = np.abs(arrays[keys.IMAGE].astype(int) - resized)
    assert error.mean() <= worst_mean_error, error.mean()
    assert [e.task for e in copy.episodes] == ["task 0", "task 1"]
    assert [e.frames for e in copy.episodes] == [15, 15]
