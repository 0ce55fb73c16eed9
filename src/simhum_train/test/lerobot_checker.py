"""Runs in .venv-lerobot (scripts/lerobot_env.sh), with Hugging Face's `lerobot` 0.4.4 itself.

    python lerobot_checker.py load ROOT REPO_ID OUT INDEX...
        LeRobotDataset(REPO_ID, root=ROOT) reads the given frames (a decoded video frame
        each) and what it knows of the dataset; written to OUT.json and OUT.npz.
    python lerobot_checker.py make ROOT REPO_ID OUT JOINTS_JSON video|image
        LeRobotDataset.create writes a small dataset of its own (frames as a video in
        lerobot's default codec, or as PNG images in the parquet; state and action named by
        the given joints plus one foreign entry, in reverse order; 20 fps); the arrays it
        was given are written to OUT.npz.

test_lerobot.py runs it and compares with SimHum's side. Offline: the datasets are local.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from lerobot.datasets.video_utils import get_video_info

CAMERA = "observation.images.camera"
MADE_FPS, MADE_SIZE, MADE_EPISODES, MADE_FRAMES = 20, (64, 48), 2, 30


def load(root: str, repo_id: str, out: str, indices: list[int]) -> None:
    """What lerobot reads of the dataset at ``root``."""
    # torchcodec needs FFmpeg's shared libraries, which this machine lacks; lerobot's other
    # backend decodes through PyAV
    dataset = LeRobotDataset(repo_id, root=root, video_backend="pyav")
    meta = dataset.meta
    items = [dataset[i] for i in indices]
    arrays = {
        "state": np.stack([item["observation.state"].numpy() for item in items]),
        "action": np.stack([item["action"].numpy() for item in items]),
        "image": np.stack([item[CAMERA].numpy() for item in items]),  # [N, C, H, W] in [0, 1]
        "timestamp": np.array([item["timestamp"].item() for item in items]),
        "episode_index": np.array([item["episode_index"].item() for item in items]),
        "frame_index": np.array([item["frame_index"].item() for item in items]),
    }
    first_video = Path(root) / meta.get_video_file_path(0, CAMERA)
    facts = {
        "len": len(dataset),
        "num_episodes": dataset.num_episodes,
        "fps": dataset.fps,
        "camera_keys": meta.camera_keys,
        "video_keys": meta.video_keys,
        "names": meta.names,
        "shapes": {k: list(v) for k, v in meta.shapes.items()},
        "tasks": [str(t) for t in meta.tasks.index],
        "task_of_items": [item["task"] for item in items],
        "stats": {k: sorted(v) for k, v in meta.stats.items()},
        "camera_stats_shape": list(np.asarray(meta.stats[CAMERA]["mean"]).shape),
        "state_stats_mean": np.asarray(meta.stats["observation.state"]["mean"]).tolist(),
        "video_info_read": get_video_info(first_video),
        "video_info_stored": meta.features[CAMERA]["info"],
        "episode_lengths": [int(row["length"]) for row in meta.episodes],
    }
    np.savez(out + ".npz", **arrays)
    Path(out + ".json").write_text(json.dumps(facts))


def make(root: str, repo_id: str, out: str, joints: list[str], storage: str) -> None:
    """A dataset written by lerobot: known frames (``storage``: video or image), states and
    actions."""
    names = [*reversed(joints), "foreign.pos"]
    width, height = MADE_SIZE
    features = {
        CAMERA: {
            "dtype": storage,
            "shape": (height, width, 3),
            "names": ["height", "width", "channels"],
        },
        "observation.state": {"dtype": "float32", "shape": (len(names),), "names": names},
        "action": {"dtype": "float32", "shape": (len(names),), "names": names},
    }
    dataset = LeRobotDataset.create(
        repo_id,
        MADE_FPS,
        features,
        root=root,
        robot_type="test_arm",
        use_videos=storage == "video",
    )
    rng = np.random.default_rng(0)
    fed = {"image": [], "state": [], "action": [], "task": []}
    for episode in range(MADE_EPISODES):
        task = f"task {episode}"
        for i in range(MADE_FRAMES):
            # smooth frames (codecs keep them well): a gradient that moves with the frame
            y, x = np.mgrid[0:height, 0:width]
            image = np.stack([(x * 4 + i * 3) % 256, (y * 5 + episode * 60) % 256, x + y], -1)
            state = (rng.uniform(-0.5, 0.5, len(names))).astype(np.float32)
            action = (state + 0.01).astype(np.float32)
            frame = {CAMERA: image.astype(np.uint8), "observation.state": state, "action": action}
            dataset.add_frame({**frame, "task": task})
            for key, value in (("image", frame[CAMERA]), ("state", state), ("action", action)):
                fed[key].append(value)
            fed["task"].append(task)
        dataset.save_episode()
    dataset.finalize()
    np.savez(out + ".npz", names=np.array(names), **{k: np.stack(v) for k, v in fed.items()})


if __name__ == "__main__":
    command, root, repo_id, out, *rest = sys.argv[1:]
    if command == "load":
        load(root, repo_id, out, [int(i) for i in rest])
    else:
        make(root, repo_id, out, json.loads(rest[0]), rest[1])
