"""Action spaces against independent kinematics, and the batches the loader builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simhum_core.kinematics import IKSolver
from simhum_core.pose_math import (
    invert_pose,
    matrix_from_rot6d,
    transform_points,
    vector_to_pose,
)
from simhum_train import keys
from simhum_train.action_space import action_spaces
from simhum_train.dataset import TrainingData
from simhum_train.experiment import load_experiment
from simhum_train.sampler import WindowSampler
from simhum_train.store import EpisodeStore


@pytest.fixture(scope="module")
def arrays(store_path: Path) -> tuple[EpisodeStore, dict]:
    store = EpisodeStore.open(store_path)
    return store, store.load()


def episode_rows(store: EpisodeStore, domain: str) -> slice:
    index = next(i for i, e in enumerate(store.episodes) if e.domain == domain)
    ends = store.episode_ends
    return slice(int(ends[index - 1]) if index else 0, int(ends[index]))


def test_relative_ee_actions_match_forward_kinematics(arrays, robot) -> None:
    store, data = arrays
    rows = episode_rows(store, "real")
    n = robot.dof
    state, target = data[keys.STATE][rows], data[keys.TARGET][rows]
    q_now, q_cmd = state[:, 10 : 10 + n].astype(float), target[:, 10 : 10 + n].astype(float)
    space = action_spaces("relative_ee", n)[keys.ROBOT]
    anchor, horizon = 20, 6
    chunk = space.actions(state[[anchor]], target[None, anchor : anchor + horizon])[0]
    fk = IKSolver(robot)
    T_now = fk.forward(q_now[anchor])
    for k in range(horizon):
        expected = invert_pose(T_now) @ fk.forward(q_cmd[anchor + k])
        np.testing.assert_allclose(chunk[k, :3], expected[:3, 3], atol=1e-5)
        np.testing.assert_allclose(matrix_from_rot6d(chunk[k, 3:9]), expected[:3, :3], atol=1e-5)
        assert chunk[k, 9] == pytest.approx(robot.aperture(q_cmd[anchor + k]), abs=1e-6)
    proprio = space.proprio(state[anchor])
    np.testing.assert_allclose(vector_to_pose(proprio[:9]), T_now, atol=1e-5)
    joints = action_spaces("joint_positions", n)[keys.ROBOT]
    np.testing.assert_array_equal(
        joints.actions(state[[anchor]], target[None, anchor : anchor + 3])[0],
        target[anchor : anchor + 3, 10 : 10 + n],
    )
    assert (joints.action_dim, joints.proprio_dim, space.action_dim) == (n, 10, 10)


def test_human_actions_are_the_next_hand_pose_in_the_current_wrist_frame(arrays, camera) -> None:
    store, data = arrays
    rows = episode_rows(store, "human")
    state, target = data[keys.STATE][rows], data[keys.TARGET][rows]
    space = action_spaces("relative_ee", 8)[keys.HUMAN]
    anchor = 10
    chunk = space.actions(state[[anchor]], target[None, anchor : anchor + 2])[0]
    T_now, T_next = vector_to_pose(state[anchor, :9]), vector_to_pose(state[anchor + 1, :9])
    np.testing.assert_allclose(T_now @ vector_to_pose(chunk[0, :9]), T_next, atol=1e-5)
    tips_next_base = transform_points(T_next, state[anchor + 1, 9:24].reshape(5, 3))
    tips_from_action = transform_points(T_now, chunk[0, 9:24].reshape(5, 3))
    np.testing.assert_allclose(tips_from_action, tips_next_base, atol=1e-5)
    assert (space.proprio_dim, space.action_dim) == (24, 24)


def test_batches_are_normalised_windows(store_path: Path) -> None:
    data = TrainingData(store_path, "relative_ee", 2, 4, 0.34, seed=0)
    windows = data.windows("sim", "train")
    batch = windows.sample(np.random.default_rng(0), 64)
    assert batch[keys.OBS_IMAGE].shape == (64, 2, 32, 32, 3)
    assert batch[keys.OBS_IMAGE].dtype == np.uint8
    assert batch[keys.OBS_PROPRIO].shape == (64, 2, 10)
    assert batch[keys.ACTION].shape == (64, 4, 10)
    every = data.windows("sim", "train")
    actions = every.batch(every.sampler.anchors)[keys.ACTION]
    # robot statistics span sim and real episodes, so sim alone is only roughly standard
    assert np.abs(actions.mean((0, 1))).max() < 1.5 and 0.1 < actions.std() < 3
    assert set(data.splits) == {"sim", "real", "human"}
    assert all(len(s["val"]) == 1 and len(s["train"]) == 2 for s in data.splits.values())


def test_unknown_action_space_names_the_choices() -> None:
    with pytest.raises(ValueError, match="relative_ee"):
        action_spaces("cartesian_velocity", 8)


def test_sampler_anchors_cover_only_chosen_episodes() -> None:
    sampler = WindowSampler(np.array([3, 7, 10]), np.array([0, 2]), 1, 1)
    np.testing.assert_array_equal(sampler.anchors, [0, 1, 2, 7, 8, 9])
    assert set(sampler.sample(np.random.default_rng(0), 100)) == set(sampler.anchors)


def test_statistics_come_from_the_episodes_the_training_loads(arrays, store_path: Path) -> None:
    store, data = arrays
    robot = [i for i, e in enumerate(store.episodes) if e.embodiment == keys.ROBOT]
    one_real = TrainingData(store_path, "relative_ee", 1, 4, 0.34, 0, None, {"real": 1})
    loaded = set().union(*(p.tolist() for s in one_real.splits.values() for p in s.values()))
    assert loaded & set(robot) < set(robot)  # two of the three real episodes are left out
    frames = WindowSampler(store.episode_ends, np.array(sorted(loaded & set(robot))), 1, 1)
    proprio = data[keys.STATE][frames.anchors, :10].astype(np.float64)
    np.testing.assert_allclose(one_real.normalizers[keys.ROBOT].proprio_mean, proprio.mean(0))
    whole = TrainingData(
        store_path, "relative_ee", 1, 4, 0.34, 0, None, {"real": 1}, statistics="store"
    )
    mean = whole.normalizers[keys.ROBOT].proprio_mean
    np.testing.assert_allclose(mean, store.statistics(keys.ROBOT)["state_mean"][:10])
    assert not np.allclose(mean, proprio.mean(0))


def test_each_rotation_block_is_scaled_as_one(store_path: Path) -> None:
    entry = TrainingData(store_path, "relative_ee", 1, 4, 0.34, 0, rotation_scale="dimension")
    block = TrainingData(store_path, "relative_ee", 1, 4, 0.34, 0)
    rot6d = slice(3, 9)  # in both embodiments' proprio and action layouts
    for e in (keys.ROBOT, keys.HUMAN):
        for name in ("proprio_std", "action_std"):
            per_entry = getattr(entry.normalizers[e], name)
            shared = getattr(block.normalizers[e], name)
            whole = np.sqrt(np.sum(per_entry[rot6d].astype(np.float64) ** 2))
            np.testing.assert_allclose(shared[rot6d], whole, rtol=1e-6)
            np.testing.assert_array_equal(np.delete(shared, rot6d), np.delete(per_entry, rot6d))
            assert np.ptp(per_entry[rot6d]) > 0  # the per-entry scales did differ


def test_unknown_normalisation_settings_name_the_choices() -> None:
    for key, choices in (("statistics", "training"), ("rotation_scale", "block")):
        with pytest.raises(ValueError, match=rf"data\.{key} must be one of .*{choices}"):
            load_experiment("simhum", [f"data.{key}=everything"])
