"""Shared fixtures: a few tiny episodes of every source and the store built from them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from simhum_core.topics import load_topics
from simhum_sim_bridge.generate import main as generate
from simhum_train.convert import DatasetBuilder, find_bags

sys.path.insert(0, str(Path(__file__).parent))
from human_bags import write_human_bag

IMAGE_SIZE = (32, 32)


@pytest.fixture(scope="session")
def topics():
    return load_topics()


@pytest.fixture(scope="session")
def episodes(tmp_path_factory, robot, camera, topics) -> Path:
    """3 sim + 3 real robot episodes (32x32 images) and 3 human episodes."""
    root = tmp_path_factory.mktemp("episodes")
    args = ["--out", str(root / "robot"), "--tasks", "pick_place", "--domains", "sim", "real"]
    assert generate([*args, "-n", "3", "--workers", "1", "--width", "32", "--height", "32"]) == 0
    human = root / "human"
    human.mkdir()
    for i, bag in enumerate(sorted((root / "robot" / "pick_place" / "real").glob("pick*"))):
        write_human_bag(bag, human / f"hand-{i:03d}", robot, camera, topics)
    return root


@pytest.fixture(scope="session")
def store_path(tmp_path_factory, episodes, robot, camera, topics) -> Path:
    """The store of every fixture episode."""
    path = tmp_path_factory.mktemp("store") / "store.zarr"
    builder = DatasetBuilder(path, robot, camera, topics, IMAGE_SIZE)
    report = builder.build(find_bags([episodes]), progress=False)
    assert len(report.added) == 9, report.summary()
    return path


@pytest.fixture(scope="session")
def tiny_config() -> Path:
    """The tiny two-stage experiment config."""
    return Path(__file__).parent / "tiny.yaml"


@pytest.fixture(scope="session")
def two_stage(tmp_path_factory, store_path, tiny_config) -> dict[str, Path]:
    """Final checkpoints of the tiny sim+human -> real experiment."""
    from simhum_train.experiment import load_experiment
    from simhum_train.train import run_experiment

    out = tmp_path_factory.mktemp("runs")
    exp = load_experiment(tiny_config, [f"data.store={store_path}", f"out={out}"])
    return run_experiment(exp, progress=False)
