"""Fault injection: the store writer killed at every file-system write step of a build.

A forked child runs a real conversion and calls ``os._exit`` just before its k-th mutation
of the store's folder (a rename, a replace, a delete), for every k in turn; the store left
behind must hold a prefix of the episodes, each exactly as a clean build writes it, and a
re-run must complete it.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import zarr

from simhum_train import keys
from simhum_train.convert import DatasetBuilder, find_bags
from simhum_train.episodes import AlignedEpisode
from simhum_train.store import COMMIT, EpisodeStore, StoreError

IMAGE_SIZE = (32, 32)
KILLED = 77  # the child's exit status when the fault fired
MUTATIONS = ("replace", "rename", "link", "unlink", "remove", "rmdir")


def hook_mutations(root: Path, on_step: Callable[[int], None]) -> Callable[[], None]:
    """Call ``on_step(k)`` before the k-th mutation of a path under ``root``; returns the
    function that removes the hooks."""
    lock, count = threading.Lock(), [0]
    originals = {name: getattr(os, name) for name in MUTATIONS}
    originals["rmtree"] = shutil.rmtree

    def wrap(function):
        def hooked(path, *args, **kwargs):
            if str(path).startswith(f"{root}{os.sep}"):
                with lock:
                    count[0] += 1
                    on_step(count[0])
            return function(path, *args, **kwargs)

        return hooked

    for name in MUTATIONS:
        setattr(os, name, wrap(originals[name]))
    shutil.rmtree = wrap(originals["rmtree"])

    def restore() -> None:
        for name in MUTATIONS:
            setattr(os, name, originals[name])
        shutil.rmtree = originals["rmtree"]

    return restore


class ReadOnceBuilder(DatasetBuilder):
    """The real builder, decoding each bag once per test session (forked children inherit
    the decoded episodes): the store writer is what runs hundreds of times here."""

    decoded: ClassVar[dict[Path, AlignedEpisode]] = {}

    def _read(self, bag: Path) -> AlignedEpisode:
        if bag not in self.decoded:
            self.decoded[bag] = super()._read(bag)
        return self.decoded[bag]


def build(store: Path, bags: list[Path], robot, camera, topics) -> None:
    ReadOnceBuilder(store, robot, camera, topics, IMAGE_SIZE).build(bags, progress=False)


def count_steps(store: Path, bags: list[Path], robot, camera, topics) -> int:
    """How many mutations a clean build of ``bags`` makes under the store's folder."""
    steps = []
    restore = hook_mutations(store.parent, steps.append)
    try:
        build(store, bags, robot, camera, topics)
    finally:
        restore()
    return len(steps)


def killed_build(store: Path, bags: list[Path], step: int, robot, camera, topics) -> int:
    """Exit status of a forked child building ``bags``, killed before mutation ``step``."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            hook_mutations(store.parent, lambda k: os._exit(KILLED) if k == step else None)
            build(store, bags, robot, camera, topics)
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def assert_prefix_of(store_path: Path, reference: EpisodeStore) -> int:
    """The store is consistent and holds the reference's first episodes exactly; returns
    how many."""
    store = EpisodeStore.open(store_path)
    records, arrays = store.episodes, store.load()
    ends = arrays[keys.EPISODE_ENDS]
    assert records == reference.episodes[: len(records)]
    assert len(ends) == len(records)
    want = reference.load()
    rows = int(ends[-1]) if len(ends) else 0
    np.testing.assert_array_equal(ends, want[keys.EPISODE_ENDS][: len(ends)])
    for name in (keys.IMAGE, keys.TIMESTAMP, keys.STATE, keys.TARGET):
        assert len(arrays[name]) == rows
        np.testing.assert_array_equal(arrays[name], want[name][:rows])
    for embodiment in {r.embodiment for r in records}:
        stats, want_stats = store.statistics(embodiment), reference.statistics(embodiment)
        if len(records) == len(reference.episodes):
            for name, value in stats.items():
                np.testing.assert_allclose(value, want_stats[name], rtol=1e-6)
    return len(records)


@pytest.fixture(scope="module")
def bags(episodes: Path) -> list[Path]:
    """A robot and a human episode: the build creates the store, then appends twice."""
    return [find_bags([episodes / "robot"])[0], find_bags([episodes / "human"])[0]]


def test_a_kill_at_every_write_step_loses_nothing(
    tmp_path: Path, bags: list[Path], robot, camera, topics
) -> None:
    reference = tmp_path / "reference" / "store.zarr"
    steps = count_steps(reference, bags, robot, camera, topics)
    full = EpisodeStore.open(reference)
    assert len(full.episodes) == len(bags) and steps > 0
    injected = 0
    for step in range(1, steps + 1):
        store = tmp_path / f"kill-{step}" / "store.zarr"
        assert killed_build(store, bags, step, robot, camera, topics) == KILLED
        injected += 1
        if store.exists():  # no store at all is fine before the create completes
            assert_prefix_of(store, full)
        build(store, bags, robot, camera, topics)  # the re-run
        assert assert_prefix_of(store, full) == len(bags)
    print(f"store fault injection: {injected} kills at {steps} write steps, nothing lost")
    assert injected == steps


def test_rows_and_ends_past_the_commit_are_ignored(tmp_path: Path, store_path: Path) -> None:
    """What an append killed after resizing the ends (their value still 0) leaves behind:
    the committed episodes read as before, nothing is truncated."""
    copy = tmp_path / "store.zarr"
    shutil.copytree(store_path, copy)
    before = EpisodeStore.open(copy).load()
    store = EpisodeStore.open(copy, mode="a")
    store.group[keys.IMAGE].append(np.full((5, 32, 32, 3), 255, np.uint8), axis=0)
    store.group[keys.EPISODE_ENDS].resize((len(before[keys.EPISODE_ENDS]) + 1,))
    del store  # the interrupted writer is gone, and its lock with it
    for mode in ("a", "r"):
        after = EpisodeStore.open(copy, mode=mode).load()
        for name, rows in before.items():
            np.testing.assert_array_equal(after[name], rows)


def test_a_store_from_before_the_commit_file_opens_and_appends(
    tmp_path: Path, bags: list[Path], robot, camera, topics
) -> None:
    """Older stores kept the episodes and sums in the group attributes."""
    reference = tmp_path / "reference.zarr"
    build(reference, bags, robot, camera, topics)
    legacy = tmp_path / "legacy.zarr"
    build(legacy, bags[:1], robot, camera, topics)
    commit = json.loads((legacy / COMMIT).read_text())
    (legacy / COMMIT).unlink()
    zarr.open_group(legacy, mode="a").attrs.update(commit)
    assert EpisodeStore.open(legacy).episodes == EpisodeStore.open(reference).episodes[:1]
    build(legacy, bags, robot, camera, topics)
    assert (legacy / COMMIT).is_file()
    assert assert_prefix_of(legacy, EpisodeStore.open(reference)) == len(bags)


def test_a_second_writer_is_refused_while_the_first_lives(tmp_path: Path, store_path: Path):
    """Two conversions into one store would write over each other's rows: the second writer
    is refused, naming the store, from another process as from this one; readers are not."""
    copy = tmp_path / "store.zarr"
    shutil.copytree(store_path, copy)
    episodes = EpisodeStore.open(copy).episodes
    writer = EpisodeStore.open(copy, mode="a")
    with pytest.raises(StoreError, match=rf"{copy}: another writer holds"):
        EpisodeStore.open(copy, mode="a")
    pid = os.fork()
    if pid == 0:  # another process: refused too
        try:
            EpisodeStore.open_or_create(copy, writer.info)
            os._exit(0)
        except StoreError:
            os._exit(KILLED)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == KILLED
    assert EpisodeStore.open(copy).episodes == episodes  # reading is never locked
    del writer  # the writer is done: the next one may append
    assert EpisodeStore.open(copy, mode="a").episodes == episodes
