"""The mixing-ratio guide: its bounds, ``mixing: auto``, and what the training command says."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from simhum_train.dataset import TrainingData
from simhum_train.experiment import ConfigError, load_experiment
from simhum_train.mixing import auto_mixing, guide_line, mixing_range
from simhum_train.train import config_hash_of, run_experiment, with_mixing_guide, written_by


def test_bounds_follow_the_guide() -> None:
    # 10 real, 150 sim: M/N = 15 > 5, so the upper bound is sqrt(N/M)
    lower, upper = mixing_range(10, 150)
    assert lower == pytest.approx(10 / 160) and upper == pytest.approx(math.sqrt(10 / 150))
    # 10 real, 20 sim: M/N = 2, the upper bound is the cap
    assert mixing_range(10, 20) == pytest.approx((1 / 3, 0.5))
    # 1 real, 2 sim: the data's own share is above the cap; the range never inverts
    assert mixing_range(2, 1) == pytest.approx((2 / 3, 2 / 3))
    # many sim: sqrt(N/M) capped at 0.5 never binds, and stays above N/(N+M)
    lower, upper = mixing_range(5, 10_000)
    assert lower < upper < 0.5
    mix = auto_mixing(10, 150)
    assert mix["real"] == pytest.approx((10 / 160 + math.sqrt(10 / 150)) / 2)
    assert mix["real"] + mix["sim"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="needs real and sim"):
        mixing_range(0, 10)


def test_guide_says_whether_a_stage_is_within_it() -> None:
    assert "is within it" in guide_line({"real": 0.1, "sim": 0.9}, 10, 150)
    line = guide_line({"real": 0.5, "sim": 0.5}, 10, 150)
    assert "real share 0.062..0.258" in line and "0.500 is OUTSIDE it" in line


def data_of(store: Path, exp) -> TrainingData:
    tasks = list(exp.data.tasks) if exp.data.tasks else None
    return TrainingData(store, "relative_ee", 1, 4, 0.34, 0, tasks, exp.data.episodes)


def test_auto_mixing_is_resolved_from_the_store(store_path: Path, tiny_config, capsys) -> None:
    exp = load_experiment(
        tiny_config,
        [f"data.store={store_path}", "stages.0.mixing=auto", "stages.0.init_from=null"],
    )
    assert exp.stages[0].domains == ["real", "sim"]
    resolved = with_mixing_guide(exp, data_of(store_path, exp))
    # the fixture store has 3 real and 3 sim episodes
    assert resolved.stages[0].mixing == pytest.approx({"real": 0.5, "sim": 0.5})
    assert "3 real and 3 sim demonstrations" in capsys.readouterr().out
    assert resolved.hash() != exp.hash()


def test_auto_mixing_without_one_of_its_domains_fails_naming_it(
    store_path: Path, tiny_config
) -> None:
    exp = load_experiment(
        tiny_config,
        [f"data.store={store_path}", "stages.0.mixing=auto", "data.tasks=[push]"],
    )
    with pytest.raises(ConfigError, match=r"no \['real', 'sim'\] episodes"):
        with_mixing_guide(exp, data_of(store_path, exp))
    with pytest.raises(ConfigError, match="or 'auto'"):
        load_experiment(tiny_config, ["stages.0.mixing=sometimes"])


def test_a_finished_auto_mixing_training_is_recognised_as_this_configs(
    store_path: Path, tiny_config: Path, tmp_path: Path
) -> None:
    """A study re-run must see a finished ``mixing: auto`` training as finished, though its
    checkpoints carry the hash of the resolved config."""
    overrides = [f"data.store={store_path}", f"out={tmp_path}", "stages.1.mixing=auto"]
    exp = load_experiment(tiny_config, overrides)
    finals = run_experiment(exp, progress=False)
    final = finals["finetune"].with_name("final.pt")
    assert config_hash_of(final) != exp.hash()  # trained with the resolved mixing
    assert written_by(final, exp)
    assert written_by(finals["pretrain"].with_name("final.pt"), exp)
    other = load_experiment(tiny_config, [*overrides, "stages.1.lr=5.0e-4"])
    assert not written_by(final, other)
    fixed = load_experiment(tiny_config, [*overrides[:2], "stages.1.mixing={real: 0.9, sim: 0.1}"])
    assert not written_by(final, fixed)  # the resolved 0.5 / 0.5, not this mixing
