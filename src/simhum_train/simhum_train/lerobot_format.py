"""The LeRobotDataset on-disk format, codebase_version v3.0 (lerobot 0.4), with pyarrow and
PyAV, the libraries lerobot itself writes it with (lerobot cannot share SimHum's venv).

    meta/info.json                            version, fps, counts, path templates, features
    meta/stats.json                           per feature: min max mean std count q01..q99
    meta/tasks.parquet                        task strings (the pandas index) -> task_index
    meta/episodes/chunk-000/file-000.parquet  a row per episode: length, tasks, where its
                                              rows and video frames lie, its own stats
    data/chunk-000/file-000.parquet           a row per frame: vectors and indices
    videos/<key>/chunk-000/file-000.mp4       episodes back to back, each from its
                                              videos/<key>/from_timestamp

Files roll over to file-001, ... past a size limit, and to the next chunk after 1000 files.
Statistics are exact (lerobot estimates quantiles from histograms and samples frames).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simhum_train.errors import SimhumTrainError
from simhum_train.states import Layout

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk folder
DATA_FILES_MB = 100
VIDEO_FILES_MB = 200
INFO = "meta/info.json"
STATS = "meta/stats.json"
TASKS = "meta/tasks.parquet"
CARD = "README.md"
_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
EPISODES_PATH = "meta/episodes/" + _FILE + ".parquet"
DATA_PATH = "data/" + _FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + _FILE + ".mp4"

# Feature keys (lerobot.utils.constants) and SimHum's one camera.
STATE = "observation.state"
ACTION = "action"
CAMERA = "observation.images.camera"
# a column of SimHum's exports in meta/episodes: how the store obtained the episode's actions
ACTIONS_ORIGIN = "simhum/actions"
IMAGE_NAMES = ["height", "width", "channels"]
JOINTS = "joints"  # the robot layout's joint slice (states.robot_layout), named by joint
VISUAL_DTYPES = ("video", "image")
# Every frame's indices (lerobot's DEFAULT_FEATURES), after the data features.
INDEX_FEATURES = {
    "timestamp": "float32",
    "frame_index": "int64",
    "episode_index": "int64",
    "index": "int64",
    "task_index": "int64",
}
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f"q{round(q * 100):02d}" for q in QUANTILES)

# H.264 (lerobot's "h264" codec option) with full chroma (yuv444p, which lerobot allows for
# h264 but not for its default AV1 or for HEVC): at SimHum's 96x72, 4:2:0 subsampling smears
# a few-pixel cube (errors up to 124 levels even at CRF 0). CRF 0 is H.264's lossless mode:
# frames come back within 2 levels (the RGB<->YUV rounding); a higher CRF trades fidelity for
# size (README, LeRobot datasets). A keyframe every 2 frames, as lerobot does, so that a
# random frame decodes fast.
VIDEO_CODEC = "libx264"
VIDEO_CODEC_NAME = "h264"
PIX_FMT = "yuv444p"
GOP = 2
LOSSLESS_CRF = 0


class LeRobotFormatError(SimhumTrainError):
    """A LeRobot dataset that cannot be written or read; the message names it."""


def file_location(n: int) -> dict[str, int]:
    """The chunk and file indices of the ``n``-th file of a kind."""
    return {"chunk_index": n // CHUNKS_SIZE, "file_index": n % CHUNKS_SIZE}


def info_json(fps: int, features: dict, robot_type: str, episodes: int, frames: int, tasks: int):
    """meta/info.json's content, as lerobot's create_empty_dataset_info lays it out."""
    return {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": episodes,
        "total_frames": frames,
        "total_tasks": tasks,
        "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": DATA_FILES_MB,
        "video_files_size_in_mb": VIDEO_FILES_MB,
        "fps": fps,
        "splits": {"train": f"0:{episodes}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH,
        "features": features,
    }


def video_feature(width: int, height: int, fps: int) -> dict:
    """A camera's feature entry, with the stream facts lerobot's get_video_info records."""
    return {
        "dtype": "video",
        "shape": [height, width, 3],
        "names": IMAGE_NAMES,
        "info": {
            "video.height": height,
            "video.width": width,
            "video.codec": VIDEO_CODEC_NAME,
            "video.pix_fmt": PIX_FMT,
            "video.is_depth_map": False,
            "video.fps": fps,
            "video.channels": 3,
            "has_audio": False,
        },
    }


def vector_feature(names: list[str]) -> dict:
    """A float32 vector feature whose entries are ``names``."""
    return {"dtype": "float32", "shape": [len(names)], "names": names}


def index_features() -> dict:
    """The per-frame index features, each one scalar."""
    return {
        key: {"dtype": dtype, "shape": [1], "names": None} for key, dtype in INDEX_FEATURES.items()
    }


def row_names(layout: Layout, joint_names: list[str]) -> list[str]:
    """A name for each entry of a state/target row of ``layout``: the joint slice by the
    robot's joint names, a 3-vector as .x .y .z, a single entry by its slice's name, any
    other slice as .0, .1, ..."""
    names: list[str] = []
    for name, start, stop in layout:
        if name == JOINTS:
            names += list(joint_names)
        elif stop - start == 1:
            names.append(name)
        elif stop - start == 3:
            names += [f"{name}.{axis}" for axis in "xyz"]
        else:
            names += [f"{name}.{i}" for i in range(stop - start)]
    return names


def data_schema(features: dict) -> pa.Schema:
    """The data parquet's columns for the non-visual ``features``, typed as `datasets`
    types them (a vector is a fixed-length list, which `datasets` reads back as its feature
    without the 'huggingface' schema metadata lerobot also writes)."""
    fields = []
    for key, feature in features.items():
        if feature["dtype"] in VISUAL_DTYPES:
            continue
        value = pa.from_numpy_dtype(np.dtype(feature["dtype"]))
        shape = list(feature["shape"])
        fields.append(pa.field(key, value if shape == [1] else pa.list_(value, shape[0])))
    return pa.schema(fields)


def vector_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Per-column statistics of ``values`` [N, D] (or [N] for a scalar feature, kept 1-D)."""
    rows = values.reshape(len(values), -1)
    stats = {
        "min": rows.min(0),
        "max": rows.max(0),
        "mean": rows.mean(0, dtype=np.float64),
        "std": rows.std(0, dtype=np.float64),
        "count": np.array([len(rows)]),
    }
    quantiles = np.quantile(rows, QUANTILES, axis=0, method="inverted_cdf")
    return stats | dict(zip(QUANTILE_KEYS, quantiles, strict=True))


def pixel_histogram(images: np.ndarray) -> np.ndarray:
    """Counts [3, 256] of each channel's values in uint8 ``images`` [N, H, W, 3]."""
    return np.stack([np.bincount(images[..., c].ravel(), minlength=256) for c in range(3)])


def image_stats(histogram: np.ndarray, frames: int) -> dict[str, np.ndarray]:
    """Per-channel statistics [3, 1, 1] of pixels in [0, 1] (lerobot's image convention) from
    their value ``histogram`` [3, 256]; the count is the number of frames."""
    values = np.arange(256) / 255.0
    pixels = histogram.sum(1)
    mean = histogram @ values / pixels
    std = np.sqrt(np.maximum(histogram @ values**2 / pixels - mean**2, 0.0))
    cumulative = np.cumsum(histogram, axis=1)
    present = [np.flatnonzero(channel) for channel in histogram]
    stats = {
        "min": values[[p[0] for p in present]],
        "max": values[[p[-1] for p in present]],
        "mean": mean,
        "std": std,
    }
    for key, q in zip(QUANTILE_KEYS, QUANTILES, strict=True):
        # the smallest value with at least q of the pixels at or below it (as inverted_cdf)
        stats[key] = values[[np.searchsorted(cumulative[c], q * pixels[c]) for c in range(3)]]
    out = {key: value.reshape(3, 1, 1) for key, value in stats.items()}
    return out | {"count": np.array([frames])}


def jsonable(stats: dict[str, dict[str, np.ndarray]]) -> dict:
    """``stats`` with arrays as (nested) lists."""
    return {key: {s: v.tolist() for s, v in feature.items()} for key, feature in stats.items()}


def write_json(path: Path, content: dict) -> None:
    """``content`` as indented JSON at ``path`` (folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=4, ensure_ascii=False))


def write_tasks(root: Path, tasks: list[str]) -> None:
    """meta/tasks.parquet as pandas writes lerobot's DataFrame(task_index, index=task): the
    index as column __index_level_0__, named in the schema's pandas metadata (lerobot reads
    it with pandas and looks tasks up by that index)."""
    index = "__index_level_0__"
    pandas_meta = {
        "index_columns": [index],
        "column_indexes": [],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": None,
                "field_name": index,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
    }
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), index: tasks})
    table = table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)})
    path = root / TASKS
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def read_info(root: Path) -> dict:
    """meta/info.json of the v3.0 dataset at ``root``; an error naming what is wrong."""
    path = Path(root) / INFO
    if not path.is_file():
        raise LeRobotFormatError(f"{root}: not a LeRobot dataset (no {INFO})")
    try:
        info = json.loads(path.read_text())
    except ValueError as err:
        raise LeRobotFormatError(f"{path}: unreadable ({err})") from None
    version = info.get("codebase_version")
    if version != CODEBASE_VERSION:
        raise LeRobotFormatError(
            f"{path}: codebase_version {version!r}, but only LeRobot's {CODEBASE_VERSION!r} "
            "format is read; convert it with lerobot's "
            "lerobot.datasets.v30.convert_dataset_v21_to_v30 first"
        )
    return info


def read_tasks(root: Path) -> list[str]:
    """Task strings in task_index order, from meta/tasks.parquet (the task is the pandas
    index, whatever its column is called)."""
    table = pq.read_table(Path(root) / TASKS)
    pandas_meta = json.loads((table.schema.metadata or {}).get(b"pandas", b"{}"))
    columns = [c for c in pandas_meta.get("index_columns", []) if isinstance(c, str)]
    column = columns[0] if columns else "task"
    if column not in table.column_names:
        raise LeRobotFormatError(f"{root / TASKS}: no task column (has {table.column_names})")
    tasks = table.column(column).to_pylist()
    return [tasks[i] for i in np.argsort(table.column("task_index").to_numpy())]


def read_episodes(root: Path) -> list[dict]:
    """Every episode's row of meta/episodes (without its stats), by episode_index."""
    paths = sorted((Path(root) / "meta" / "episodes").glob("*/*.parquet"))
    if not paths:
        raise LeRobotFormatError(f"{root}: no meta/episodes/*/*.parquet")
    rows = []
    for path in paths:
        table = pq.read_table(path)
        keep = [c for c in table.column_names if not c.startswith("stats/")]
        rows += table.select(keep).to_pylist()
    return sorted(rows, key=lambda row: row["episode_index"])
