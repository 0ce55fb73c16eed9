"""`simhum study`: checked requests, disjoint seeds, the smoke preset end to end, resume,
and the training options it relies on (data.episodes, init_from a checkpoint file)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from simhum.cli import main as simhum
from simhum.evaluate import EVAL_SEED_OFFSET
from simhum.study import (
    ABLATION_METHODS,
    COTRAINING_METHODS,
    DIAGNOSTIC_KEYS,
    METHODS,
    PRESETS,
    ROW_KEYS,
    Paths,
    Policy,
    StudyError,
    WorkItem,
    check_seeds,
    evaluation_plan,
    export,
    extended,
    first_episodes,
    generation_seeds,
    merged_rows,
    outcome_fields,
    per_seed_rows,
    percent,
    policy_config,
    pool_seeds,
    preset_sizes,
    pretrain_config,
    run_items,
    select,
    trainings,
    work_items,
    write_results,
)
from simhum.training_pool import Training, next_ready, run_trainings, threads_each
from simhum.variants import evaluation_seeds
from simhum_core.onnx_policy import CONTRACT_VERSION
from simhum_train.experiment import CONFIG_DIR, ConfigError, load_experiment


def study_args(out: Path, *extra: str) -> list[str]:
    """`simhum study --preset smoke` writing under ``out``."""
    return [
        "study",
        "--preset",
        "smoke",
        "--out",
        str(out / "run"),
        "--results-dir",
        str(out / "results"),
        *extra,
    ]


@pytest.mark.parametrize(
    ("flag", "kind"), [("--methods", "method"), ("--tasks", "task"), ("--variants", "variant")]
)
def test_an_unknown_name_fails_before_any_work(tmp_path: Path, capsys, flag, kind) -> None:
    assert simhum(study_args(tmp_path, flag, "nope")) == 2
    assert f"simhum study: unknown {kind} 'nope'; known: [" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_evaluation_seeds_are_disjoint_from_demonstration_seeds(name: str) -> None:
    preset = PRESETS[name]
    check_seeds(preset)
    evaluation = set(evaluation_seeds(preset.episodes))
    assert min(evaluation) == EVAL_SEED_OFFSET and len(evaluation) == preset.episodes
    for seeds in generation_seeds(preset).values():
        assert evaluation.isdisjoint(seeds)
    too_many = replace(preset, sim_episodes=EVAL_SEED_OFFSET + 1)
    with pytest.raises(StudyError, match="also sim demonstration seeds"):
        check_seeds(too_many)


def test_the_plan_adds_the_curve_counts_to_the_table() -> None:
    preset = PRESETS["study"]
    plan = evaluation_plan(preset)
    table = [p for p in plan if p.real_demos == preset.real_demos]
    assert len(table) == len(preset.tasks) * len(preset.methods)
    assert all(plan[p] == preset.variants for p in table)
    assert plan[Policy("simhum", "pick_place", 5)] == preset.curve_variants
    assert Policy("simhum", "push", 5) not in plan  # the curve is on pick_place only
    assert Policy("sim_to_real", "pick_place", 5) not in plan
    # the tables run first, so a run stopped early has whole tables
    order = [p.real_demos == preset.real_demos for p in plan]
    assert order == sorted(order, reverse=True)


def test_no_curve_keeps_only_the_tables() -> None:
    preset = select(PRESETS["study"], ["pick_place"], None, None, curve=False)
    assert not preset.has_curve
    plan = evaluation_plan(preset)
    assert {p.real_demos for p in plan} == {preset.real_demos}
    assert len(plan) == len(preset.methods)


def run_smoke(out: Path) -> int:
    """The smoke study, with single-threaded torch (on a shared 2-core machine, competing
    threads slow a tiny model's steps tenfold)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return simhum(study_args(out))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    """A finished smoke study."""
    out = tmp_path_factory.mktemp("study")
    assert run_smoke(out) == 0
    return out


def test_the_smoke_study_writes_every_row_of_the_contract(smoke: Path) -> None:
    preset = PRESETS["smoke"]
    rows = json.loads((smoke / "results" / "study.json").read_text())
    for row in rows:
        assert set(ROW_KEYS) <= set(row)
        assert isinstance(row["real_demos"], int) and row["episodes"] == preset.episodes
        assert 0.0 <= row["success_rate"] <= 1.0 and row["success_rate_se"] >= 0.0
    expected = {
        (p.method, p.task, v, p.real_demos)
        for p, variants in evaluation_plan(preset).items()
        for v in variants
    }
    assert {(r["method"], r["task"], r["variant"], r["real_demos"]) for r in rows} == expected
    assert len(rows) == len(expected)
    report = (smoke / "results" / "smoke.md").read_text()
    assert "simhum study --preset smoke" in report and "Wall time" in report
    for plot in ("smoke_success.png", "smoke_data_efficiency.png", "smoke_diagnostics.png"):
        assert (smoke / "results" / plot).stat().st_size > 0
    # each episode's outcome, in evaluation-seed order, one list per training seed
    for row in rows:
        (successes,) = row["successes"]
        assert len(successes) == preset.episodes
        assert sum(successes) / preset.episodes == row["success_rate"]
    # the sim + real co-trained policy reports its representation's diagnostics
    for row in rows:
        diagnosed = row["method"] in {"cotrain_sim_real", "simhum"}  # sim + real last stage
        assert all((key in row) == diagnosed for key in DIAGNOSTIC_KEYS), row
        if diagnosed:
            assert row["wasserstein"] > 0 and 0.0 <= row["classifier_accuracy"] <= 1.0


def test_each_training_seed_is_its_own_experiment(tmp_path: Path) -> None:
    """Seed 0 keeps the names and configs of a study without the seed axis (its finished
    work is reused); another seed trains its own pre-training and policies."""
    preset = replace(PRESETS["smoke"], training_seeds=(0, 1))
    paths = Paths(tmp_path / "run", tmp_path / "results")
    plan = evaluation_plan(preset)
    assert len(plan) == 2 * len(evaluation_plan(PRESETS["smoke"]))
    zero, one = Policy("real_only", "pick_place", 2), Policy("real_only", "pick_place", 2, 1)
    assert plan[zero] == plan[one] == preset.variants
    assert (zero.name, one.name) == ("real_only-r2", "real_only-r2-s1")
    exp0, exp1 = policy_config(preset, paths, zero), policy_config(preset, paths, one)
    assert exp0.hash() == policy_config(PRESETS["smoke"], paths, zero).hash()
    assert (exp0.seed, exp1.seed) == (0, 1) and exp0.out_dir != exp1.out_dir
    # a two-stage method's fine-tuning of seed 1 starts from its own seed's pre-training
    pretrain1 = pretrain_config(preset, paths, "simhum", "pick_place", 1)
    assert pretrain1.seed == 1 and pretrain1.name == "simhum-pretrain-s1"
    best = pretrain1.out_dir / "pretrain" / "best.pt"
    best.parent.mkdir(parents=True)
    best.touch()  # (the config checks that the checkpoint it starts from exists)
    finetune1 = policy_config(preset, paths, Policy("simhum", "pick_place", 2, 1))
    assert finetune1.stages[0].init_from == str(best) and finetune1.seed == 1


def test_training_seeds_are_pooled_with_their_spread() -> None:
    def row(seed: int, rate: float) -> dict:
        return dict.fromkeys(ROW_KEYS, 0.0) | {
            "method": "cotrain",
            "task": "pick_place",
            "variant": "real",
            "real_demos": 10,
            "episodes": 20,
            "success_rate": rate,
            "wasserstein": 1.0 + seed,
            "training_seed": seed,
            "seeds": [100000, 100019],
            "config_hash": f"h{seed}",
        }

    (pooled,) = pool_seeds([row(0, 0.15), row(1, 0.6)])
    assert pooled["episodes"] == 40 and pooled["success_rate"] == pytest.approx(0.375)
    # the seeds' spread (sd 0.318 / sqrt 2) exceeds the pooled binomial SE (0.077)
    assert pooled["success_rate_se"] == pytest.approx(0.225, abs=1e-3)
    assert pooled["training_seeds"] == [0, 1] and pooled["wasserstein"] == 1.5
    assert percent(pooled) == "38 ± 23 (15, 60)"  # 37.5 ± 22.5, halves up
    # seeds that agree: the binomial SE over the 20 scenes both played, not over 40 episodes
    (close,) = pool_seeds([row(0, 0.5), row(1, 0.5)])
    assert close["success_rate_se"] == pytest.approx((0.25 / 20) ** 0.5)
    (single,) = pool_seeds([row(0, 0.15)])
    assert single["success_rate_se"] == pytest.approx((0.15 * 0.85 / 20) ** 0.5)
    assert percent(single) == "15 ± 8"


def seed_row(seed: int, successes: list[int]) -> dict:
    """One training seed's result row (diagnostics and episode length by seed)."""
    return {
        "method": "simhum",
        "task": "pick_place",
        "variant": "real",
        "real_demos": 10,
        "wasserstein": 1.0 + seed,
        "classifier_accuracy": 0.5 + seed / 10,
        "episode_length_s": 5.0 + seed,
        "training_seed": seed,
        "config_hash": f"h{seed}",
        **outcome_fields([bool(s) for s in successes], 100000, None),
    }


def test_a_seed_added_to_pooled_rows_pools_as_every_seed_at_once() -> None:
    seeds = [seed_row(0, [1, 0, 0, 1]), seed_row(1, [1, 1, 1, 1]), seed_row(2, [0, 0, 0, 1])]
    (every,) = pool_seeds(seeds)
    (first_two,) = pool_seeds(seeds[:2])
    (third,) = pool_seeds(seeds[2:])
    (added,) = pool_seeds([*per_seed_rows(first_two), *per_seed_rows(third)])
    assert added["training_seeds"] == [0, 1, 2] and added["successes"] == every["successes"]
    assert added["config_hashes"] == ["h0", "h1", "h2"] and added["episodes"] == 12
    assert added["seed_success_rates"] == [0.5, 1.0, 0.25]
    assert added["success_rate"] == pytest.approx(7 / 12)
    assert added["success_rate_se"] == pytest.approx(every["success_rate_se"])
    means = {"wasserstein": 2.0, "classifier_accuracy": 0.6, "episode_length_s": 6.0}
    assert {k: added[k] for k in means} == pytest.approx(means)


def test_adding_seeds_checks_the_earlier_rows_before_any_work(tmp_path: Path, capsys) -> None:
    preset = PRESETS["smoke"]
    results = tmp_path / "results"
    assert simhum(study_args(tmp_path, "--add-to-results")) == 2
    assert "none to add training seeds to" in capsys.readouterr().err
    seeds = evaluation_seeds(preset.episodes)
    rows = [
        {
            **dict(zip(ROW_KEYS[:4], (p.method, p.task, v, p.real_demos), strict=True)),
            "training_seeds": [1],
            "seeds": [seeds.start, seeds.stop - 1],
            "successes": [[True] * preset.episodes],
            "preset": "smoke",
            "sizes": preset_sizes(preset),
        }
        for p, variants in evaluation_plan(preset).items()
        for v in variants
    ]
    results.mkdir()
    for bad, message in (
        ({"training_seeds": [0, 1]}, "already holds training seeds [0]"),
        ({"sizes": {}}, "trained at other sizes"),
        ({"seeds": [seeds.start, seeds.stop]}, "evaluated on seeds"),
    ):
        (results / "study.json").write_text(json.dumps([rows[0] | bad, *rows[1:]]))
        assert simhum(study_args(tmp_path, "--add-to-results")) == 2
        err = capsys.readouterr().err
        assert message in err and f"{rows[0]['method']}/pick_place/real" in err, err
    assert not (tmp_path / "run").exists()


def test_a_rerun_adds_its_seed_to_the_rows_of_earlier_seeds(smoke: Path, tmp_path: Path) -> None:
    preset = PRESETS["smoke"]
    ours = json.loads((smoke / "results" / "study.json").read_text())
    earlier = [r | {"training_seeds": [1], "config_hashes": ["earlier"]} for r in ours]
    (tmp_path / "study.json").write_text(json.dumps(earlier))
    add = ["--results-dir", str(tmp_path), "--add-to-results"]
    assert simhum([*study_args(smoke), *add]) == 0
    pooled = json.loads((tmp_path / "study.json").read_text())
    assert len(pooled) == len(ours)
    for row, mine in zip(pooled, ours, strict=True):
        assert row["training_seeds"] == [0, 1] and row["episodes"] == 2 * preset.episodes
        assert row["successes"] == [*mine["successes"], *mine["successes"]]
        assert row["config_hashes"] == [*mine["config_hashes"], "earlier"]
        assert row["success_rate"] == pytest.approx(mine["success_rate"])
    report = (tmp_path / "smoke.md").read_text()
    assert "(training seeds 0, 1;" in report and "--add-to-results" in report


def test_bad_training_seeds_fail_before_any_work(tmp_path: Path, capsys) -> None:
    assert simhum(study_args(tmp_path, "--training-seeds", "1", "1")) == 2
    assert "--training-seeds must be distinct and >= 0, got [1, 1]" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_results_of_another_preset_are_kept_in_study_json(tmp_path: Path) -> None:
    path = tmp_path / "study.json"
    row = dict.fromkeys(ROW_KEYS, 0.0) | {"method": "simhum", "task": "pick_place"}
    other = row | {"method": "cotrain", "variant": "real", "real_demos": 10}
    path.write_text(json.dumps([row | {"variant": "real", "real_demos": 20}, other]))
    updated = other | {"success_rate": 0.5}
    merged = merged_rows(path, [updated, row | {"variant": "real", "real_demos": 5}])
    assert [(r["method"], r["real_demos"], r["success_rate"]) for r in merged] == [
        ("simhum", 20, 0.0),
        ("cotrain", 10, 0.5),
        ("simhum", 5, 0.0),
    ]


def test_curve_demos_picks_counts_and_the_report_marks_the_rest(tmp_path: Path, capsys) -> None:
    assert simhum(study_args(tmp_path, "--curve-demos", "3")) == 2
    assert "--curve-demos 3 is not a count of this preset's curve: [1, 2]" in (
        capsys.readouterr().err
    )
    assert list(tmp_path.iterdir()) == []
    preset = select(PRESETS["study"], ["pick_place"], ["real_only"], None, curve_demos=[40])
    assert sorted(p.real_demos for p in evaluation_plan(preset)) == [20, 40]
    smoke = PRESETS["smoke"]
    row = dict.fromkeys(ROW_KEYS, 0.0) | {"task": "pick_place"}
    rows = [
        row | {"method": m, "variant": v, "real_demos": smoke.real_demos}
        for m in ("simhum", "real_only")
        for v in smoke.variants
    ]
    rows += [row | {"method": "simhum", "variant": "real", "real_demos": 1}]
    asked = select(smoke, None, ["simhum", "real_only"], None, curve_demos=[2])
    write_results("smoke", asked, rows, {"this_run_s": 1.0, "all_steps_s": 1.0}, "", tmp_path)
    report = (tmp_path / "smoke.md").read_text()
    assert "| simhum | 0 ± 0 | 0 ± 0 |" in report  # N = 1 from rows, N = 2 the table's
    assert "| real_only | not run | 0 ± 0 |" in report
    assert (tmp_path / "smoke_data_efficiency.png").is_file()


def test_rows_of_a_preset_at_other_sizes_are_dropped(tmp_path: Path) -> None:
    preset = PRESETS["smoke"]
    row = dict.fromkeys(ROW_KEYS, 0.0) | {"method": "simhum", "task": "pick_place"}
    wall = {"this_run_s": 1.0, "all_steps_s": 1.0}
    table = [row | {"variant": v, "real_demos": preset.real_demos} for v in preset.variants]
    curve = [row | {"variant": "real", "real_demos": n} for n in preset.curve_demos]
    asked = select(preset, None, ["simhum"], None)
    write_results("smoke", asked, table + curve, wall, "cmd", tmp_path)
    other = dict.fromkeys(ROW_KEYS, 0.0) | {"method": "cotrain", "task": "pick_place"}
    rows = json.loads((tmp_path / "study.json").read_text())
    (tmp_path / "study.json").write_text(json.dumps([*rows, other]))  # no preset: kept
    longer = select(replace(asked, single_steps=asked.single_steps + 1), None, None, None, False)
    table = [r | {"success_rate": 0.5} for r in table]
    write_results("smoke", longer, table, wall, "cmd", tmp_path)
    rows = json.loads((tmp_path / "study.json").read_text())
    # the curve's rows were trained at the old sizes: gone, not mixed into the targets
    assert sorted((r["method"], r["real_demos"]) for r in rows) == sorted(
        [("cotrain", 0.0)] + [("simhum", preset.real_demos)] * len(preset.variants)
    )
    assert all(r["sizes"]["single_steps"] == longer.single_steps for r in rows[1:])


def test_the_report_shows_every_preset_method_study_json_holds(tmp_path: Path) -> None:
    preset = PRESETS["cotraining"]

    def rows(method: str, rate: float, variants: tuple[str, ...]) -> list[dict]:
        return [
            dict.fromkeys(ROW_KEYS, 0.0)
            | {"method": method, "task": "pick_place", "variant": v, "real_demos": 10}
            | {"success_rate": rate, "wasserstein": 1.0, "classifier_accuracy": 0.9}
            for v in variants
        ]

    earlier = rows("cotrain", 0.1, preset.variants) + rows("cotrain_ot", 0.4, ("real",))
    earlier = [r | {"training_seeds": [0, 1]} for r in earlier]  # pooled over two seeds
    (tmp_path / "study.json").write_text(json.dumps(earlier))
    # real_only is not one of the preset's methods: asked for, it is shown all the same
    asked = select(preset, None, ["cfg_adda", "real_only"], None)
    wall = {"this_run_s": 60.0, "all_steps_s": 60.0}
    ran = rows("cfg_adda", 0.3, preset.variants) + rows("real_only", 0.5, preset.variants)
    write_results("cotraining", asked, ran, wall, "cmd", tmp_path)
    report = (tmp_path / "cotraining.md").read_text()
    table = [line for line in report.splitlines() if line.startswith("| cotrain")]
    # cotrain has every variant from an earlier run: shown, and said to be earlier
    assert table[0].startswith("| cotrain | 10 ± 0 |")
    assert "Rows of cotrain come from earlier runs" in report
    # this run's methods have the preset's seed (0); the earlier rows name task and method
    pooled = "Rows pooled over other training seeds: pick_place/cotrain (training seeds 0, 1)."
    assert pooled in report.splitlines()
    # cotrain_ot has only one variant: not in the table
    assert not any(line.startswith("| cotrain_ot |") for line in report.splitlines())
    assert any(line.startswith("| cfg_adda | 30 ± 0 |") for line in report.splitlines())
    assert any(line.startswith("| real_only | 50 ± 0 |") for line in report.splitlines())
    assert len(json.loads((tmp_path / "study.json").read_text())) == 3 * len(preset.variants) + 1


def test_the_report_pairs_simhum_with_each_method_on_the_same_episodes(tmp_path: Path) -> None:
    preset = select(PRESETS["ablation"], ["pick_place"], None, ["real", "outer_grid"])

    def row(method: str, variant: str, per_seed: list[list[int]]) -> dict:
        flat = [s for seed in per_seed for s in seed]
        return dict.fromkeys((*ROW_KEYS, *DIAGNOSTIC_KEYS), 0.0) | {
            "method": method,
            "task": "pick_place",
            "variant": variant,
            "real_demos": preset.real_demos,
            "episodes": len(flat),
            "success_rate": sum(flat) / len(flat),
            "training_seeds": [0, 1],
            "seeds": [100000, 100003],
            "successes": [[bool(s) for s in seed] for seed in per_seed],
        }

    rows = [
        row("simhum", "real", [[1, 1, 0, 1], [1, 0, 1, 1]]),
        row("simhum_no_human", "real", [[0, 1, 0, 1], [0, 0, 0, 0]]),
        row("simhum", "outer_grid", [[1, 1, 1, 1], [1, 1, 1, 1]]),
        row("simhum_no_human", "outer_grid", [[1, 1, 1, 1], [1, 1, 1, 1]]),
    ]
    unpaired = {k: v for k, v in rows[-1].items() if k != "successes"}
    # a curve point of SimHum's from the study: no row of the ablation, which has no curve
    curve_point = row("simhum", "real", [[0, 0, 0, 0], [0, 0, 0, 0]]) | {"real_demos": 5}
    (tmp_path / "study.json").write_text(json.dumps([curve_point]))
    wall = {"this_run_s": 1.0, "all_steps_s": 1.0}
    write_results("ablation", preset, [*rows[:3], unpaired], wall, "cmd", tmp_path)
    report = (tmp_path / "ablation.md").read_text()
    assert "| simhum | pick_place | 20 | 75 ± 0 |" in report  # its diagnostics
    assert "| simhum | pick_place | 5 |" not in report
    assert "## pick_place: SimHum minus each method on the same episodes" in report
    # real: +50 ± 25 points; outer grid: a result without outcomes; the OOD mean: not run
    assert "| simhum_no_human | +50 ± 25 (+2.0 SE) | - | - |" in report
    write_results("ablation", preset, rows, wall, "cmd", tmp_path)
    report = (tmp_path / "ablation.md").read_text()
    assert "| simhum_no_human | +50 ± 25 (+2.0 SE) | +0 ± 0 (+0.0 SE) | - |" in report


def test_the_report_shows_every_preset_task_study_json_holds(tmp_path: Path) -> None:
    preset = PRESETS["study"]

    def rows(task: str, rate: float, demos: int, variants: tuple[str, ...]) -> list[dict]:
        return [
            dict.fromkeys(ROW_KEYS, 0.0)
            | {"method": m, "task": task, "variant": v, "real_demos": demos, "success_rate": rate}
            for m in preset.methods
            for v in variants
        ]

    # pick_place's table and one curve point come from an earlier run
    earlier = rows("pick_place", 0.25, 20, preset.variants) + rows("pick_place", 0.1, 5, ("real",))
    (tmp_path / "study.json").write_text(json.dumps(earlier))
    asked = select(preset, ["push"], None, None, curve=False)
    wall = {"this_run_s": 60.0, "all_steps_s": 60.0}
    write_results("study", asked, rows("push", 0.5, 20, preset.variants), wall, "cmd", tmp_path)
    report = (tmp_path / "study.md").read_text()
    assert "## pick_place, 20 real demonstrations" in report
    assert "## push, 20 real demonstrations" in report
    assert "Rows of pick_place come from earlier runs" in report
    assert "| real_only | 10 ± 0 | not run | 25 ± 0 | not run |" in report  # the curve
    assert "pick_place: SimHum in distribution >= 70 %" in report
    assert "push: SimHum in distribution >= 70 %" in report


def test_fine_tunings_start_from_one_shared_pre_training(smoke: Path) -> None:
    preset, paths = PRESETS["smoke"], Paths(smoke / "run", smoke / "results")
    pretrainings = sorted(p.name for p in (smoke / "run" / "train" / "pick_place").iterdir())
    assert [p for p in pretrainings if p.endswith("pretrain")] == [
        "human_to_real-pretrain",
        "sim_to_real-pretrain",
        "simhum-pretrain",
    ]
    starts = {
        policy_config(preset, paths, Policy("simhum", "pick_place", n)).stages[0].init_from
        for n in preset.curve_demos
    }
    assert starts == {str(smoke / "run/train/pick_place/simhum-pretrain/pretrain/best.pt")}
    finetuned = torch.load(
        smoke / "run/train/pick_place/simhum-r1/finetune/final.pt", weights_only=True
    )
    assert finetuned["origin"]["backbone"] == "backbone"  # loaded, not fresh


def test_an_export_of_an_older_contract_is_redone(smoke: Path) -> None:
    preset, paths = PRESETS["smoke"], Paths(smoke / "run", smoke / "results")
    exp = policy_config(preset, paths, Policy("real_only", "pick_place", 2))
    model = paths.model(Policy("real_only", "pick_place", 2))
    assert not export(exp, model)  # done for this config and contract
    marker = model.with_suffix(".export.json")
    marker.write_text(json.dumps(json.loads(marker.read_text()) | {"contract_version": "3"}))
    assert export(exp, model)
    assert json.loads(marker.read_text())["contract_version"] == CONTRACT_VERSION


def test_a_rerun_skips_every_finished_step(smoke: Path, capsys) -> None:
    run = smoke / "run"
    outputs = [
        *run.glob("train/*/*/*/final.pt"),
        *run.glob("train/*/*/*/best.pt"),
        *run.glob("models/*/*.onnx"),
        *run.glob("eval/*/*/*.json"),
    ]
    before = {path: path.stat().st_mtime_ns for path in outputs}
    capsys.readouterr()
    assert run_smoke(smoke) == 0
    out = capsys.readouterr().out
    steps = out.count("--- study: ")
    assert steps > 0 and out.count("(done already)") == steps
    assert {path: path.stat().st_mtime_ns for path in outputs} == before
    # both runs are on record, with what each did
    runs = [line for line in (smoke / "results" / "smoke.md").read_text().splitlines()]
    runs = [line for line in runs if line.startswith("- ") and "simhum study" in line]
    count = len(evaluation_plan(PRESETS["smoke"]))
    assert f"(data, trainings, {count} exports, {count} policies evaluated)" in runs[-2]
    assert "(results only)" in runs[-1] and len(runs) == 2


def test_every_run_s_work_counts_in_the_folder_s_time(tmp_path: Path) -> None:
    """A step that does work again (another run's trainings under the same label) adds its
    seconds to the earlier ones instead of replacing them; steps done already keep theirs; the
    training step names its training seeds, so each seed's trainings have their own line."""
    timings = tmp_path / "timings.json"
    timings.write_text(json.dumps({"train": 100.0, "export": 2.0}))
    items = [WorkItem("train", lambda: True), WorkItem("export", lambda: False)]
    seconds, ran = run_items(items, timings)
    assert ran == ["train"] and seconds["export"] == 2.0
    assert 100.0 <= seconds["train"] < 110.0
    assert json.loads(timings.read_text()) == seconds
    paths = Paths(tmp_path / "run", tmp_path / "results")
    labels = [
        work_items(replace(PRESETS["smoke"], training_seeds=seeds), paths)[1].label
        for seeds in ((0,), (1, 2))
    ]
    assert "training seeds 0)" in labels[0] and "training seeds 1, 2)" in labels[1]


def test_more_episodes_extend_the_results_and_fewer_read_the_first(
    smoke: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """--episodes 2 evaluates only each variant's second seed, keeping the first's outcome;
    --episodes 1 afterwards evaluates nothing and reports the first seed's (the file keeps
    both)."""
    from simhum import lockstep

    asked: list[list[int]] = []
    original = lockstep.evaluate_lockstep

    def recording(policy, task, variants, seeds, *args, **kwargs):
        asked.append(list(seeds))
        return original(policy, task, variants, seeds, *args, **kwargs)

    monkeypatch.setattr(lockstep, "evaluate_lockstep", recording)
    results = tmp_path / "results"  # (the smoke study's own results stay as they are)
    args = [*study_args(smoke, "--methods", "real_only", "--no-curve")]
    args[args.index("--results-dir") + 1] = str(results)
    policy = Policy("real_only", "pick_place", 2)
    paths = Paths(smoke / "run", results)
    first = {v: json.loads(paths.result(policy, v).read_text()) for v in PRESETS["smoke"].variants}
    assert simhum([*args, "--episodes", "2"]) == 0
    assert asked == [[EVAL_SEED_OFFSET + 1]]  # the second seed alone, every variant at once
    for variant, before in first.items():
        row = json.loads(paths.result(policy, variant).read_text())
        assert row["episodes"] == 2 and row["seeds"] == [EVAL_SEED_OFFSET, EVAL_SEED_OFFSET + 1]
        assert row["successes"][0] == before["successes"][0] and len(row["lengths_s"]) == 2
        assert row["success_rate"] == sum(row["successes"]) / 2
    rows = json.loads((results / "study.json").read_text())
    assert {r["episodes"] for r in rows} == {2}
    capsys.readouterr()
    assert simhum([*args, "--episodes", "1"]) == 0
    assert len(asked) == 1 and "--episodes 1" in (results / "smoke.md").read_text()
    for row in json.loads((results / "study.json").read_text()):
        assert row["episodes"] == 1 and row["seeds"] == [EVAL_SEED_OFFSET, EVAL_SEED_OFFSET]
        assert row["success_rate"] == float(first[row["variant"]]["successes"][0])
        assert json.loads(paths.result(policy, row["variant"]).read_text())["episodes"] == 2


def test_results_written_before_episode_lengths_extend_and_cut() -> None:
    old = {"episodes": 2, "seeds": [7, 8], "successes": [True, False], "episode_length_s": 3.0}
    more = {"episodes": 1, "seeds": [9, 9], "successes": [True], "episode_length_s": 6.0}
    more |= {"lengths_s": [6.0], "config_hash": "h"}
    row = extended(old, more)
    assert row["seeds"] == [7, 9] and row["successes"] == [True, False, True]
    assert row["success_rate"] == pytest.approx(2 / 3) and row["episode_length_s"] == 4.0
    assert "lengths_s" not in row and row["config_hash"] == "h"
    cut = first_episodes(row, 1)
    assert cut["success_rate"] == 1.0 and cut["seeds"] == [7, 7] and "episode_length_s" not in cut
    assert cut["success_rate_se"] == 0.0 and first_episodes(row, 4) is None
    assert first_episodes(extended({**old, "lengths_s": [2.0, 4.0]}, more), 2)[
        "episode_length_s"
    ] == pytest.approx(3.0)


def test_data_episodes_keeps_the_first_episodes_of_a_domain(smoke: Path) -> None:
    from simhum_train.dataset import TrainingData

    store = smoke / "run" / "store.zarr"

    def real_ids(episodes: dict[str, int]) -> list[str]:
        data = TrainingData(store, "relative_ee", 2, 4, 0.5, 0, ["pick_place"], episodes)
        split = data.splits["real"]
        return sorted(data.records[i].episode_id for s in ("train", "val") for i in split[s])

    every = real_ids({})
    assert len(every) >= 2
    assert real_ids({"real": 1}) == every[:1]
    assert real_ids({"sim": 1}) == every


def test_bad_data_episodes_and_init_from_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.episodes: unknown domain\(s\) \['robot'\]"):
        load_experiment("real_only", ["data.episodes={robot: 3}"])
    with pytest.raises(ConfigError, match="counts must be integers >= 1"):
        load_experiment("real_only", ["data.episodes={real: 0}"])
    missing = tmp_path / "missing.pt"
    with pytest.raises(ConfigError, match=f"init_from '{missing}': no such checkpoint file"):
        load_experiment("real_only", [f"stages.0.init_from={missing}"])
    with pytest.raises(ConfigError, match="must name an earlier stage of"):
        load_experiment("real_only", ["stages.0.init_from=pretrain"])


def test_every_packaged_baseline_config_loads() -> None:
    """The packaged configs (base.yaml is their shared base, not an experiment) are exactly
    the study's methods; each loads, is named as its file (so runs never share a folder),
    trains from scratch, stage after stage, and ends on the real domain it is evaluated in."""
    packaged = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml") if p.stem != "base")
    assert packaged == sorted(METHODS + COTRAINING_METHODS + ABLATION_METHODS)
    hashes = set()
    for name in packaged:
        experiment = load_experiment(name)
        assert experiment.name == name and experiment.out_dir.name == name
        assert experiment.data.action_space == "relative_ee"
        stages = experiment.stages
        assert stages[0].init_from is None
        assert all(s.init_from == stages[i].name for i, s in enumerate(stages[1:])), name
        assert "real" in stages[-1].domains, name
        assert load_experiment(name).hash() == experiment.hash()  # stable
        hashes.add(experiment.hash())
        short = load_experiment(name, ["stages.0.steps=7"])
        assert short.stages[0].steps == 7 and short.hash() != experiment.hash()
    assert len(hashes) == len(packaged)
    with pytest.raises(ConfigError, match=r"base\.yaml"):
        load_experiment("base")


def test_robot_demonstrations_are_dart_perturbed(smoke: Path) -> None:
    """Sim and proxy-real robot demonstrations carry corrections (DART); human ones do not."""
    ids = [p.name for p in smoke.rglob("metadata.yaml") for p in [p.parent]]
    robot = [i for i in ids if "-sim-" in i or "-real-" in i]
    human = [i for i in ids if "-human_wild-" in i]
    assert robot and human
    assert all(i.endswith("-dart") for i in robot), robot
    assert not any(i.endswith("-dart") for i in human)


def pool_trainings(smoke: Path, out: Path, *methods: str, **steps: int) -> list[Training]:
    """The trainings of ``methods`` (default SimHum: its pre-training, longer, and its
    fine-tuning) on the smoke study's store, at the smoke preset's ``steps`` changed."""
    paths = Paths(out, out / "results")
    out.mkdir()
    (out / "store.zarr").symlink_to(smoke / "run" / "store.zarr")
    preset = select(PRESETS["smoke"], None, list(methods or ["simhum"]), None, curve=False)
    return trainings(replace(preset, **{"pretrain_steps": 30, **steps}), paths)


def test_a_fine_tuning_starts_after_its_pre_training(smoke: Path, tmp_path: Path, capsys) -> None:
    pretrain, finetune = pool_trainings(smoke, tmp_path / "pool")
    assert finetune.after == pretrain.label
    run_trainings([pretrain, finetune], at_once=2)
    log = capsys.readouterr().out
    # nothing can run beside either: each takes every core
    assert re.search(rf"trained {pretrain.label} in .* \({threads_each(1)} threads\)", log)
    assert re.search(rf"trained {finetune.label} in .* \({threads_each(1)} threads\)", log)
    pretrained = pretrain.make().out_dir / "pretrain" / "final.pt"
    started = finetune.make().out_dir / "config.yaml"  # written as a training starts
    assert started.stat().st_mtime_ns >= pretrained.stat().st_mtime_ns
    origin = torch.load(finetune.make().out_dir / "finetune" / "final.pt", weights_only=True)
    assert origin["origin"]["backbone"] == "backbone"


@pytest.mark.skipif(threads_each(1) == threads_each(2), reason="one core: nothing to share")
def test_the_last_training_takes_the_cores_the_others_free(
    smoke: Path, tmp_path: Path, capsys
) -> None:
    pool = pool_trainings(smoke, tmp_path / "pool", "simhum", "real_only", pretrain_steps=300)
    pretrain, finetune, real = pool
    run_trainings(pool, at_once=2)
    log = capsys.readouterr().out
    # the pre-training and real_only share the cores; once real_only ends, the pre-training
    # (its fine-tuning waiting on it) goes on with every core, set in its training process
    shared, alone = threads_each(2), threads_each(1)
    assert re.search(rf"trained {real.label} in .* \({shared} threads\)", log), log
    assert re.search(rf"trained {pretrain.label} in .* \({shared} then {alone} threads\)", log)
    assert re.search(rf"trained {finetune.label} in .* \({alone} threads\)", log), log


def planned(label: str, steps: int, after: str | None = None) -> Training:
    """A planned training for the pool's order (never made)."""
    return Training(label, lambda: None, steps, after)


def test_the_pool_starts_the_longest_chain_first() -> None:
    cotrain, real = planned("cotrain", 6000), planned("real_only", 3600)
    pretrain, finetune = planned("pretrain", 2400), planned("finetune", 3600, "pretrain")
    waiting = [cotrain, real, pretrain, finetune]
    pending = {t.label for t in waiting}
    assert next_ready(waiting, pending) == cotrain
    waiting.remove(cotrain)  # running: the pre-training, 6000 steps ahead, goes before real_only
    assert next_ready(waiting, pending) == pretrain
    waiting.remove(pretrain)
    assert next_ready(waiting, pending) == real  # the fine-tuning waits on its pre-training


def test_of_equal_chains_the_pool_starts_the_longer_training() -> None:
    # push's step-matched plan: with the pre-trainings first, three 3600-step fine-tunings
    # became ready together with real_only and one ran alone at the end (3600 steps alone);
    # with co-training first the pool ends with 1200 steps alone
    two_stage = ("sim", "human", "simhum")
    waiting = [planned(f"{m}-pretrain", 2400) for m in two_stage]
    waiting += [planned(f"{m}-finetune", 3600, f"{m}-pretrain") for m in two_stage]
    cotrain = planned("cotrain", 6000)
    waiting += [planned("real_only", 3600), cotrain]
    assert next_ready(waiting, {t.label for t in waiting}) == cotrain


def test_trainings_waiting_on_each_other_fail_before_any_work(smoke: Path, tmp_path: Path) -> None:
    pretrain, finetune = pool_trainings(smoke, tmp_path / "pool")
    cycle = [replace(pretrain, after=finetune.label), finetune]
    with pytest.raises(ValueError, match="wait on each other"):
        run_trainings(cycle, at_once=2)
    assert not pretrain.make().out_dir.exists()


def test_real_only_trains_the_fine_tunings_schedule(smoke: Path) -> None:
    preset = replace(PRESETS["smoke"], finetune_steps=2, single_steps=5, real_steps=3)
    paths = Paths(smoke / "run", smoke / "results")
    steps = {
        m: policy_config(preset, paths, Policy(m, "pick_place", 2)).stages[0].steps
        for m in METHODS
    }
    assert steps == {
        "real_only": 3,
        "sim_to_real": 2,
        "human_to_real": 2,
        "cotrain_sim_real": 5,
        "simhum": 2,
    }
    planned = {t.label: t.steps for t in trainings(preset, paths)}
    assert planned["pick_place/real_only-r2"] == 3 and planned["pick_place/simhum-r2"] == 2
