"""``simhum study``: every method trained on every task and evaluated in closed loop, in and
out of distribution, with a data-efficiency curve; resumable, with a progress display.

    simhum study --preset study                   # the whole study, sized for 2 cores
    simhum study --preset study_long --tasks pick_place --no-curve   # one piece, longer
    simhum study --preset gpu --workers 16        # larger, for a CUDA machine
    simhum study --preset smoke --out /tmp/smoke  # a tiny end-to-end check
    simhum study --preset cotraining              # the co-training analysis' methods
    simhum study --preset ablation --training-seeds 0 1 2   # SimHum without human data
    simhum study --preset study --methods simhum real_only --tasks pick_place

1. demonstrations into one episode folder and one store: simulation (whole placement grid,
   sim looks), proxy-human (many looks, inner grid) and proxy-real robot episodes (the lab
   look, inner grid; generated once for the largest real-demonstration count, a training
   with N of them reads the first N of each task: ``data.episodes``);
2. per task, each two-stage method's pre-training once, fine-tuned from that checkpoint for
   every real-demonstration count; the single-stage methods per count; each training its own
   experiment folder (the packaged configs define the methods); ``--trainings N`` of them
   at once, each in its own process with its share of the CPU threads (simhum.training_pool);
3. ONNX export of every policy (parity-checked against torch);
4. lock-step closed-loop evaluation of every policy on its variants with seeds
   EVAL_SEED_OFFSET + k, disjoint from every demonstration seed (checked before any work);
5. results: study.json (one row per method, task, variant and real-demonstration count,
   pooled over the training seeds; rows of other presets' methods already there are kept),
   <preset>.md (tables with standard errors, SimHum's paired differences to every other
   method on the same episodes, wall time, the command) and plots. A policy
   co-trained on sim and real data also reports its representation's sim-real alignment
   (2-Wasserstein distance) and discernibility (held-out domain-classifier accuracy) at the
   selected checkpoint.

Every policy is trained once per training seed (``--training-seeds``, default 0: one
seed), each its own experiment, export and evaluation; the rows pool the seeds' episodes,
their standard error the larger of the pooled binomial one and the seeds' spread (sample
standard deviation / sqrt(seeds)), since one recipe's success varies from seed to seed more
than 20 episodes resolve. ``--add-to-results`` pools the seeds of this run with those of the
results folder's rows of the same preset, sizes and evaluation seeds (to add a seed to a
committed study whose work folder is gone):

    simhum study --preset study_matched --tasks pick_place --no-curve --episodes 40 \\
        --training-seeds 2 --add-to-results --results-dir docs/results/study_matched

Finished trainings (final checkpoints of the same config), exports and evaluations (one
result file per policy, seed and variant, written atomically) are skipped on a re-run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING

from simhum.study_targets import (
    OOD_MEAN,
    SIMHUM,
    binomial_se,
    difference_in_se,
    paired_difference,
    paired_rows,
    points,
    signed_points,
    target_checks,
)
from simhum.training_pool import Training, run_trainings
from simhum.variants import VARIANTS, evaluation_seeds

if TYPE_CHECKING:
    from simhum_train.experiment import ExperimentConfig

SEED_BASES = {"sim": 0, "human": 20_000, "real": 50_000}  # first seed of each source
REAL_MARGIN = 2  # proxy-real episodes generated at most per demonstration needed (failures)
# The keys of a study.json row (a contract scripts rely on): which policy and variant, then
# the evaluator's numbers.
ROW_KEYS = (
    "method",
    "task",
    "variant",
    "real_demos",
    "episodes",
    "success_rate",
    "success_rate_se",
)


@dataclass(frozen=True)
class Preset:
    """Sizes of a study run."""

    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    variants: tuple[str, ...]
    sim_episodes: int  # per task
    human_episodes: int  # per task
    real_demos: int  # per task: the count of the method x variant table
    curve_demos: tuple[int, ...]  # the data-efficiency curve's real-demonstration counts
    curve_methods: tuple[str, ...]
    curve_tasks: tuple[str, ...]
    curve_variants: tuple[str, ...]
    episodes: int  # evaluation episodes per variant
    image_width: int  # the height follows the calibrated camera's aspect ratio
    pretrain_steps: int
    finetune_steps: int
    single_steps: int  # single-stage methods mixing sources: pretrain + finetune steps
    real_steps: int  # single-stage methods on real data alone (real_only)
    batch_size: int
    workers: int
    overrides: tuple[str, ...] = ()  # more experiment overrides (e.g. a smaller model)
    training_seeds: tuple[int, ...] = (0,)  # each policy trained once per seed
    trainings: int = 1  # trainings at once, each with its share of the CPU threads

    @property
    def has_curve(self) -> bool:
        """Whether the study draws a data-efficiency curve."""
        return bool(self.curve_methods and self.curve_tasks and self.curve_variants)

    @property
    def max_real_demos(self) -> int:
        """The most real demonstrations any training reads (per task)."""
        return max((self.real_demos, *self.curve_demos))


METHODS = ("real_only", "sim_to_real", "human_to_real", "cotrain_sim_real", "simhum")
# The co-training analysis' methods (arXiv 2604.13645) over the same sim + real data.
COTRAINING_METHODS = ("cotrain", "cotrain_ot", "cotrain_adda", "cotrain_cfg", "cfg_adda")
# Ablations of SimHum, trained like the study's methods (``--methods``).
ABLATION_METHODS = ("simhum_no_human",)
# A co-trained policy's diagnostics that its study rows carry (the sim-real pair of eval.csv).
DIAGNOSTIC_KEYS = ("wasserstein", "classifier_accuracy")
ALL_VARIANTS = tuple(VARIANTS)
TINY_MODEL = (
    "model.backbone_widths=[8, 16]",
    "model.backbone_stride=4",
    "model.groups=4",
    "model.keypoints=4",
    "model.d_model=32",
    "model.heads=2",
    "model.encoder_layers=1",
    "model.decoder_layers=1",
    "model.mlp_ratio=2",
    "model.chunk_length=4",
    "model.num_sampling_steps=4",
)
# The normalisation the committed study, ablation and co-training results were trained with
# (the default until session 31; docs/learning_record.md): pinned in those presets so that
# their documented commands reproduce them. Without it they train with the current default.
RESULTS_NORMALISATION = ("data.statistics=store", "data.rotation_scale=dimension")
# The CPU study (2 cores), sized to fit 150 minutes: 96x72 images, 2400 pre-training and
# 1800 fine-tuning steps, single-stage methods mixing sources 4200 (the same compute),
# real_only 1800 (a policy without pre-training: the fine-tuning's data and schedule),
# two trainings at once. Work: 2 tasks x 5 methods at 20 real demos, plus simhum and
# real_only at 5, 10, 40 on pick_place = 6 pre-trainings, 9 fine-tunings, 7 single-stage
# trainings (48,000 steps), 16 exports, 1,120 evaluation episodes, 680 demonstrations.
# Both cuts were chosen on validation episodes (docs/learning_record.md, 2026-12-04,
# session 22): real_only at 2400 and 5600 steps 0/30 each, SimHum at 2400 + 1800 12/30
# against 9/30 at 3200 + 2400. Projected on the Intel Xeon 2-core machine of that entry
# (two trainings at once 0.29 s a step each, 1.9 s a lock-step episode with one worker):
# about 122 min of training, 20 of evaluation, 6 of data and exports. Measured piece: the
# pick_place table (`--tasks pick_place --no-curve`) 60.3 min (81.2 at study_long).
STUDY = Preset(
    tasks=("pick_place", "push"),
    methods=METHODS,
    variants=ALL_VARIANTS,
    sim_episodes=150,
    human_episodes=150,
    real_demos=20,
    curve_demos=(5, 10, 20, 40),
    curve_methods=("simhum", "real_only"),
    curve_tasks=("pick_place",),
    curve_variants=("real",),
    episodes=20,
    image_width=96,
    pretrain_steps=2400,
    finetune_steps=1800,
    single_steps=4200,
    real_steps=1800,
    batch_size=64,
    workers=2,
    trainings=2,
    overrides=RESULTS_NORMALISATION,
)
PRESETS = {
    "study": STUDY,
    # The study at the main job's recipe (3200 + 2400 steps, single-stage methods 5600,
    # real_only too), which produced the results in docs/results/study.md (sessions 19-21, one
    # training at a time, in resumable pieces): 80,000 steps, about 3.8 h on 2 cores one
    # training at a time (the pick_place table 81 min, 0.154 s a training step with
    # validation, 0.9 s a lock-step episode with two workers). At 600 + 600 steps
    # (2026-12-02) no method learned either task.
    "study_long": replace(
        STUDY, pretrain_steps=3200, finetune_steps=2400, single_steps=5600, real_steps=5600
    ),
    # The study step-matched at the fine-tune that validation favoured (docs/learning_record.md,
    # session 35): SimHum 2400 + 3600 steps, single-stage methods mixing sources 6000,
    # real_only 3600, with the package's default normalisation. 76,800 steps, about 200 min of
    # training on 2 cores two at a time: beyond the 150-minute budget, so run in resumable
    # pieces (`--tasks pick_place --no-curve`, one training seed a run).
    "study_matched": replace(
        STUDY, finetune_steps=3600, single_steps=6000, real_steps=3600, overrides=()
    ),
    # For one CUDA GPU and 16 cores (not measured here): 3 tasks, the curve on two tasks and
    # every variant; 201,000 training steps (a few hours at ~30 ms a step), 6,750 evaluation
    # episodes (~20 min with 16 workers), 6,120 demonstrations (~10 min).
    "gpu": Preset(
        tasks=("pick_place", "push", "stack"),
        methods=METHODS,
        variants=ALL_VARIANTS,
        sim_episodes=1000,
        human_episodes=1000,
        real_demos=20,
        curve_demos=(5, 10, 20, 40),
        curve_methods=("simhum", "real_only"),
        curve_tasks=("pick_place", "push"),
        curve_variants=ALL_VARIANTS,
        episodes=50,
        image_width=128,
        pretrain_steps=10_000,
        finetune_steps=3000,
        single_steps=13_000,
        real_steps=3000,
        batch_size=128,
        workers=16,
    ),
    # SimHum against its ablation without the human half of the pre-training, at the study's
    # sizes (run in the study's work folder, SimHum's trainings and evaluations are reused).
    "ablation": replace(STUDY, methods=("simhum", *ABLATION_METHODS), curve_methods=()),
    # The co-training analysis' methods on pick_place with 10 proxy-real and 150 sim
    # demonstrations (no human data), each one stage of the base model at 96x72 (the
    # resolution the learning probes used). 3000 steps: at 1500 no method learned
    # (2026-12-01), sim + real co-training through the shared adaptor did at 2500-4000 in the
    # learning probes. Measured on an AMD 2-core machine: 26 min training and 4.5-5 min
    # evaluation per method, 2.6 min demonstrations and store (about 2.6 h for all five).
    "cotraining": Preset(
        tasks=("pick_place",),
        methods=COTRAINING_METHODS,
        variants=("real", "real_ood_background", "real_ood_distractors", "real_ood_lighting"),
        sim_episodes=150,
        human_episodes=0,
        real_demos=10,
        curve_demos=(),
        curve_methods=(),
        curve_tasks=(),
        curve_variants=(),
        episodes=20,
        image_width=96,
        pretrain_steps=0,
        finetune_steps=0,
        single_steps=3000,
        real_steps=3000,
        batch_size=64,
        workers=2,
        trainings=2,
        overrides=RESULTS_NORMALISATION,
    ),
    # A tiny end-to-end check (the test's): a tiny model, a few episodes and steps.
    "smoke": Preset(
        tasks=("pick_place",),
        methods=METHODS,
        variants=ALL_VARIANTS,
        sim_episodes=3,
        human_episodes=3,
        real_demos=2,
        curve_demos=(1, 2),
        curve_methods=("simhum", "real_only"),
        curve_tasks=("pick_place",),
        curve_variants=("real",),
        episodes=1,
        image_width=32,
        pretrain_steps=3,
        finetune_steps=2,
        single_steps=5,
        real_steps=5,
        batch_size=8,
        workers=2,
        trainings=2,
        overrides=TINY_MODEL,
    ),
}


class StudyError(ValueError):
    """A study that cannot run as asked; the message says why."""


@dataclass(frozen=True)
class Policy:
    """One trained policy of the study."""

    method: str
    task: str
    real_demos: int
    seed: int = 0  # its training seed

    @property
    def name(self) -> str:
        """Its experiment and model name (seed 0 unmarked, as before the seed axis)."""
        return f"{self.method}-r{self.real_demos}" + seed_suffix(self.seed)


@dataclass(frozen=True)
class Paths:
    """Where a study writes."""

    out: Path
    results: Path

    @property
    def episodes(self) -> Path:
        """Every demonstration (rosbag2 episodes)."""
        return self.out / "episodes"

    @property
    def store(self) -> Path:
        """The training store of every demonstration."""
        return self.out / "store.zarr"

    @property
    def data(self) -> Path:
        """The sizes the store was built for (written when it is complete)."""
        return self.out / "data.json"

    @property
    def timings(self) -> Path:
        """Seconds each finished step took (summed over resumed runs)."""
        return self.out / "timings.json"

    def train(self, task: str) -> Path:
        """The experiments' ``out`` of a task."""
        return self.out / "train" / task

    def model(self, policy: Policy) -> Path:
        """The exported policy's encoder graph."""
        return self.out / "models" / policy.task / f"{policy.name}.onnx"

    def result(self, policy: Policy, variant: str) -> Path:
        """The evaluation result of a policy on a variant."""
        return self.out / "eval" / policy.task / policy.name / f"{variant}.json"


def seed_suffix(seed: int) -> str:
    """What a training seed adds to an experiment's name: nothing for seed 0."""
    return f"-s{seed}" if seed else ""


# -- the plan ------------------------------------------------------------------------------


def known_methods() -> list[str]:
    """The packaged experiment configs a study can train."""
    from simhum_train.experiment import CONFIG_DIR

    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml") if p.stem != "base")


def known_tasks() -> list[str]:
    """The simulated tasks."""
    from simhum_sim_bridge.tasks import TASKS

    return sorted(TASKS)


def select(
    preset: Preset,
    tasks: list[str] | None,
    methods: list[str] | None,
    variants: list[str] | None,
    curve: bool = True,
    curve_demos: list[int] | None = None,
) -> Preset:
    """``preset`` restricted to the asked tasks, methods, variants and curve counts (each
    checked), and without its data-efficiency curve unless ``curve``."""
    for kind, asked, known in (
        ("task", tasks, known_tasks()),
        ("method", methods, known_methods()),
        ("variant", variants, list(ALL_VARIANTS)),
    ):
        unknown = [name for name in asked or () if name not in known]
        if unknown:
            raise StudyError(f"unknown {kind} '{unknown[0]}'; known: {known}")
    unknown = [n for n in curve_demos or () if n not in preset.curve_demos]
    if unknown:
        raise StudyError(
            f"--curve-demos {unknown[0]} is not a count of this preset's curve: "
            f"{list(preset.curve_demos)}"
        )
    tasks = tuple(tasks or preset.tasks)
    methods = tuple(methods or preset.methods)
    variants = tuple(variants or preset.variants)
    return replace(
        preset,
        tasks=tasks,
        methods=methods,
        variants=variants,
        curve_methods=tuple(m for m in preset.curve_methods if m in methods and curve),
        curve_tasks=tuple(t for t in preset.curve_tasks if t in tasks),
        curve_variants=tuple(v for v in preset.curve_variants if v in variants),
        curve_demos=tuple(n for n in preset.curve_demos if n in (curve_demos or [n])),
    )


def evaluation_plan(preset: Preset) -> dict[Policy, tuple[str, ...]]:
    """Every policy of the study (each training seed its own) and the variants it is
    evaluated on, in run order: every task's method x variant table, then the
    data-efficiency curves (so that a run stopped early has whole tables)."""
    plan: dict[Policy, tuple[str, ...]] = {}
    for task in preset.tasks:  # the method x variant tables first
        for method in preset.methods:
            for seed in preset.training_seeds:
                plan[Policy(method, task, preset.real_demos, seed)] = preset.variants
    for task in preset.curve_tasks if preset.has_curve else ():  # then the curves' points
        for method in preset.curve_methods:
            for n in preset.curve_demos:
                for seed in preset.training_seeds:
                    policy = Policy(method, task, n, seed)
                    extra = [v for v in preset.curve_variants if v not in plan.get(policy, ())]
                    plan[policy] = (*plan.get(policy, ()), *extra)
    return plan


def generation_seeds(preset: Preset) -> dict[str, range]:
    """The seeds every demonstration may use, per source (training and validation alike)."""
    counts = {
        "sim": preset.sim_episodes,
        "human": preset.human_episodes,
        "real": REAL_MARGIN * preset.max_real_demos,
    }
    return {
        source: range(SEED_BASES[source], SEED_BASES[source] + n) for source, n in counts.items()
    }


def check_seeds(preset: Preset) -> None:
    """Evaluation seeds must be disjoint from every demonstration seed."""
    evaluation = set(evaluation_seeds(preset.episodes))
    for source, seeds in generation_seeds(preset).items():
        shared = evaluation.intersection(seeds)
        if shared:
            raise StudyError(
                f"evaluation seeds {min(shared)}..{max(shared)} are also {source} "
                "demonstration seeds; use fewer demonstrations or evaluation episodes"
            )


def check_methods(preset: Preset) -> None:
    """Each method is one stage, or a pre-training without real data and a fine-tuning
    from it (what the study shares across real-demonstration counts)."""
    for method in preset.methods:
        stages = load_method(method).stages
        shared = (
            len(stages) == 2
            and "real" not in stages[0].domains
            and stages[1].init_from == stages[0].name
        )
        if len(stages) != 1 and not shared:
            raise StudyError(
                f"method '{method}': a study needs one stage, or a pre-training without real "
                "data and a fine-tuning that starts from it"
            )


def load_method(method: str) -> ExperimentConfig:
    """A method's packaged experiment config, as is."""
    from simhum_train.experiment import load_experiment

    return load_experiment(method)


# -- experiments ---------------------------------------------------------------------------


def base_overrides(preset: Preset, paths: Paths, task: str, seed: int) -> list[str]:
    """What every experiment of a task and training seed shares: store, task, folder, seed,
    model."""
    return [
        f"data.store={paths.store}",
        f"data.tasks=[{task}]",
        f"out={paths.train(task)}",
        f"seed={seed}",
        *preset.overrides,
    ]


def pretrain_config(
    preset: Preset, paths: Paths, method: str, task: str, seed: int = 0
) -> ExperimentConfig:
    """A two-stage method's pre-training alone (shared by every real-demonstration count of
    its training seed)."""
    from simhum_train.experiment import load_experiment

    exp = load_experiment(method, base_overrides(preset, paths, task, seed))
    stage = replace(exp.stages[0], steps=preset.pretrain_steps, batch_size=preset.batch_size)
    return replace(exp, name=pretrain_name(method, seed), stages=(stage,))


def pretrain_name(method: str, seed: int) -> str:
    """The experiment name of a two-stage method's shared pre-training."""
    return f"{method}-pretrain{seed_suffix(seed)}"


def policy_steps(preset: Preset, method: str) -> int:
    """Optimiser steps of a policy's own training: its fine-tuning, its single stage on real
    data alone, or its single stage mixing sources."""
    stages = load_method(method).stages
    if len(stages) == 2:
        return preset.finetune_steps
    return preset.real_steps if set(stages[0].domains) == {"real"} else preset.single_steps


def policy_config(preset: Preset, paths: Paths, policy: Policy) -> ExperimentConfig:
    """The experiment of a policy: its single stage, or its fine-tuning starting from the
    shared pre-training's selected checkpoint (which must exist)."""
    from simhum_train.checkpoint import BEST
    from simhum_train.experiment import load_experiment

    overrides = [
        *base_overrides(preset, paths, policy.task, policy.seed),
        f"data.episodes={{real: {policy.real_demos}}}",
    ]
    exp = load_experiment(policy.method, overrides)
    if len(exp.stages) == 1:
        stage = replace(
            exp.stages[0], steps=policy_steps(preset, policy.method), batch_size=preset.batch_size
        )
    else:
        pretrain = pretrain_config(preset, paths, policy.method, policy.task, policy.seed)
        stage = replace(
            exp.stages[1],
            steps=policy_steps(preset, policy.method),
            batch_size=preset.batch_size,
            init_from=str(pretrain.out_dir / pretrain.stages[0].name / BEST),
        )
    return replace(exp, name=policy.name, stages=(stage,))


def trained(exp: ExperimentConfig) -> bool:
    """Every stage of ``exp`` has its final checkpoint, written by this very config."""
    from simhum_train.checkpoint import FINAL
    from simhum_train.train import written_by

    finals = [exp.out_dir / stage.name / FINAL for stage in exp.stages]
    return all(f.is_file() and written_by(f, exp) for f in finals)


def selected_checkpoint(exp: ExperimentConfig) -> Path:
    """The checkpoint a trained experiment exports: its last stage's best.pt."""
    from simhum_train.checkpoint import BEST

    return exp.out_dir / exp.stages[-1].name / BEST


def export(exp: ExperimentConfig, model: Path) -> bool:
    """Export the experiment's policy to ``model`` unless done for this config and contract
    version, checking torch/onnxruntime parity; True when it ran."""
    from simhum_core.onnx_policy import CONTRACT_VERSION
    from simhum_train.export import PARITY_TOLERANCE, export_onnx, parity

    marker = model.with_suffix(".export.json")
    done = {"config_hash": exp.hash(), "contract_version": CONTRACT_VERSION}
    if marker.is_file() and done.items() <= json.loads(marker.read_text()).items():
        return False
    checkpoint = selected_checkpoint(exp)
    encoder = export_onnx(checkpoint, model.parent, model.stem)
    diff = parity(checkpoint, encoder)
    if diff >= PARITY_TOLERANCE:
        raise StudyError(f"{encoder}: torch/onnxruntime parity {diff:.2e} >= {PARITY_TOLERANCE}")
    write_json(marker, {**done, "checkpoint": str(checkpoint), "parity": diff})
    return True


def selected_diagnostics(exp: ExperimentConfig) -> dict[str, float]:
    """The sim-real alignment and discernibility of f(o) that the last stage's evaluation
    logged at its selected checkpoint; empty when that stage did not see both domains."""
    import torch

    from simhum_train.metrics import read_csv

    if not {"sim", "real"} <= set(exp.stages[-1].domains):
        return {}
    stage_dir = exp.out_dir / exp.stages[-1].name
    step = torch.load(selected_checkpoint(exp), map_location="cpu", weights_only=True)["step"]
    logged = {int(r["step"]): r for r in read_csv(stage_dir / "eval.csv")}[step]
    return {key: float(logged[f"{key}/real-sim"]) for key in DIAGNOSTIC_KEYS}


# -- evaluation ----------------------------------------------------------------------------


def write_json(path: Path, data: object) -> None:
    """Write JSON atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def stored_result(path: Path, config_hash: str) -> dict | None:
    """A result file's row when it is of this policy's config, else None."""
    if not path.is_file():
        return None
    row = json.loads(path.read_text())
    return row if row["config_hash"] == config_hash else None


LENGTH_KEYS = ("episode_length_s", "lengths_s")


def outcome_fields(successes: list[bool], first_seed: int, lengths: list[float] | None) -> dict:
    """A result row's figures from its episodes' outcomes (consecutive evaluation seeds from
    ``first_seed``); the episode length only where each episode's is known."""
    episodes = len(successes)
    rate = sum(successes) / episodes
    fields = {
        "episodes": episodes,
        "success_rate": rate,
        "success_rate_se": binomial_se(rate, episodes),
        "seeds": [first_seed, first_seed + episodes - 1],
        "successes": successes,
    }
    if lengths is not None:
        fields |= {"episode_length_s": sum(lengths) / episodes, "lengths_s": lengths}
    return fields


def without_lengths(row: dict) -> dict:
    """A result row without its episode lengths."""
    return {k: v for k, v in row.items() if k not in LENGTH_KEYS}


def first_episodes(row: dict, episodes: int) -> dict | None:
    """A result row cut to its first ``episodes`` evaluation seeds (a file may hold more
    than a study asks: a study asking fewer reads the first ones), None when it holds fewer.
    The episode length needs each episode's (``lengths_s``) to be cut; else it is left out."""
    if row["episodes"] == episodes:
        return row
    if row["episodes"] < episodes or "successes" not in row:
        return None
    lengths = row["lengths_s"][:episodes] if "lengths_s" in row else None
    return without_lengths(row) | outcome_fields(
        row["successes"][:episodes], row["seeds"][0], lengths
    )


def extended(row: dict | None, more: dict) -> dict:
    """A result row followed by ``more``, the row of the next evaluation seeds."""
    if row is None:
        return more
    lengths = row["lengths_s"] + more["lengths_s"] if "lengths_s" in row else None
    out = without_lengths(more) | outcome_fields(
        row["successes"] + more["successes"], row["seeds"][0], lengths
    )
    if lengths is None:  # (results written before lengths were stored): the mean of both
        total = sum(r["episode_length_s"] * r["episodes"] for r in (row, more))
        out["episode_length_s"] = total / out["episodes"]
    return out


def evaluate(
    preset: Preset, paths: Paths, policy: Policy, variants: tuple[str, ...], config_hash: str
) -> bool:
    """Evaluate the exported policy on the evaluation seeds each variant's result does not
    hold yet (a result of fewer seeds is extended; one lock-step run per set of missing
    seeds), writing one result file per variant; True when any ran."""
    from simhum.lockstep import evaluate_lockstep

    seeds = evaluation_seeds(preset.episodes)
    todo: dict[range, list[str]] = {}
    stored = {v: stored_result(paths.result(policy, v), config_hash) for v in variants}
    for variant, row in stored.items():
        held = row["episodes"] if row and "successes" in row else 0
        if row is None or first_episodes(row, len(seeds)) is None:
            todo.setdefault(seeds[held:], []).append(variant)
    diagnostics = selected_diagnostics(policy_config(preset, paths, policy)) if todo else {}
    for missing, todo_variants in todo.items():
        report = evaluate_lockstep(
            paths.model(policy), policy.task, todo_variants, missing, preset.workers
        )
        for variant, summary in zip(todo_variants, report, strict=True):
            which = (policy.method, policy.task, variant, policy.real_demos)
            outcomes = summary["outcomes"]  # in seed order
            more = {
                **dict(zip(ROW_KEYS[:4], which, strict=True)),
                **diagnostics,
                "training_seed": policy.seed,
                **outcome_fields(
                    [bool(o["success"]) for o in outcomes],
                    missing.start,
                    [o["length_s"] for o in outcomes],
                ),
                "config_hash": config_hash,
            }
            held = stored[variant] if missing.start > seeds.start else None
            write_json(paths.result(policy, variant), extended(held, more))
    return bool(todo)


# -- data ----------------------------------------------------------------------------------


def run_command(title: str, command: list[str]) -> None:
    """Run one of the project's commands, showing it."""
    from simhum.demo import step

    step(title, command, None, [])


def generation(preset: Preset, paths: Paths, source: str, count: int) -> None:
    """``count`` demonstrations per task of one source (finished ones are skipped)."""
    from simhum.demo import image_size
    from simhum_sim_bridge.rollout import DEMO_LATENCY_S, DEMO_PERTURB_M

    width, height = image_size(preset.image_width)
    module, domain = {
        "sim": ("simhum_sim_bridge.generate", "sim"),
        "human": ("simhum_human_capture.proxy_human", "human_wild"),
        "real": ("simhum_sim_bridge.generate", "real"),
    }[source]
    run_command(
        f"{source} demonstrations",
        [
            sys.executable,
            "-m",
            module,
            "--out",
            str(paths.episodes),
            "--tasks",
            *preset.tasks,
            "--domains",
            domain,
            "-n",
            str(count),
            "--seed",
            str(SEED_BASES[source]),
            "--width",
            str(width),
            "--height",
            str(height),
            "--workers",
            str(preset.workers),
            *(
                ["--perturb", str(DEMO_PERTURB_M), "--latency", str(DEMO_LATENCY_S)]
                if source != "human"
                else []
            ),
        ],
    )


def convert(preset: Preset, paths: Paths) -> dict[str, int]:
    """Add new episodes to the store; returns the real episodes per task it holds."""
    from simhum.demo import image_size
    from simhum_train.store import EpisodeStore

    width, height = image_size(preset.image_width)
    run_command(
        "training store",
        [
            sys.executable,
            "-m",
            "simhum_train.convert",
            "--episodes",
            str(paths.episodes),
            "--out",
            str(paths.store),
            "--image-size",
            str(width),
            str(height),
        ],
    )
    records = EpisodeStore.open(paths.store).episodes
    return {t: sum(r.task == t and r.domain == "real" for r in records) for t in preset.tasks}


def build_data(preset: Preset, paths: Paths) -> bool:
    """Every demonstration and the store, with at least ``max_real_demos`` successful real
    ones per task (more are generated, up to REAL_MARGIN times as many, when some fail);
    skipped (False) when the store was built for these sizes."""
    sizes = {
        "tasks": list(preset.tasks),
        "image_width": preset.image_width,
        **{f"{s}_seeds": [r.start, r.stop] for s, r in generation_seeds(preset).items()},
        "real_demos": preset.max_real_demos,
    }
    if paths.data.is_file() and json.loads(paths.data.read_text()) == sizes:
        return False
    for source in ("sim", "human"):
        count = getattr(preset, f"{source}_episodes")
        if count:
            generation(preset, paths, source, count)
    need = count = preset.max_real_demos
    while True:
        generation(preset, paths, "real", count)
        short = {t: need - n for t, n in convert(preset, paths).items() if n < need}
        if not short:
            write_json(paths.data, sizes)
            return True
        if count >= REAL_MARGIN * need:
            raise StudyError(f"too few successful real demonstrations: {short} short of {need}")
        count = min(REAL_MARGIN * need, count + max(short.values()))


# -- the run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkItem:
    """One resumable step of the study; ``run`` returns whether it did any work."""

    label: str
    run: Callable[[], bool]


def export_policy(preset: Preset, paths: Paths, policy: Policy) -> bool:
    """Export a trained policy unless it is exported."""
    return export(policy_config(preset, paths, policy), paths.model(policy))


def evaluate_policy(
    preset: Preset, paths: Paths, policy: Policy, variants: tuple[str, ...]
) -> bool:
    """Evaluate an exported policy on the variants without a result."""
    return evaluate(preset, paths, policy, variants, policy_config(preset, paths, policy).hash())


def trainings(preset: Preset, paths: Paths) -> list[Training]:
    """Every training of the study in plan order, a two-stage method's shared pre-training
    before its first fine-tuning (which runs after it)."""
    out: list[Training] = []
    for policy in evaluation_plan(preset):
        after = None
        if len(load_method(policy.method).stages) == 2:
            make = partial(pretrain_config, preset, paths, policy.method, policy.task, policy.seed)
            after = f"{policy.task}/{pretrain_name(policy.method, policy.seed)}"
            if after not in {t.label for t in out}:
                out.append(Training(after, make, preset.pretrain_steps))
        steps = policy_steps(preset, policy.method)
        make = partial(policy_config, preset, paths, policy)
        out.append(Training(f"{policy.task}/{policy.name}", make, steps, after))
    return out


def train_all(preset: Preset, paths: Paths) -> bool:
    """Every training not finished yet, ``preset.trainings`` at a time; True when any ran.
    A training after one that is not finished is not finished either."""
    finished: set[str] = set()
    todo = []
    for t in trainings(preset, paths):
        if (t.after is None or t.after in finished) and trained(t.make()):
            finished.add(t.label)
        else:
            todo.append(t)
    run_trainings(todo, preset.trainings)
    return bool(todo)


def work_items(preset: Preset, paths: Paths) -> list[WorkItem]:
    """Every step of the study in order: data, every training, then per policy its export
    and evaluation."""
    count = len(trainings(preset, paths))
    items = [
        WorkItem("demonstrations and store", partial(build_data, preset, paths)),
        WorkItem(
            f"train {count} experiments (training seeds "
            f"{', '.join(map(str, preset.training_seeds))}), {preset.trainings} at a time",
            partial(train_all, preset, paths),
        ),
    ]
    for policy, variants in evaluation_plan(preset).items():
        where = f"{policy.task}/{policy.name}"
        items += [
            WorkItem(f"export {where}", partial(export_policy, preset, paths, policy)),
            WorkItem(
                f"evaluate {where}: {', '.join(variants)}",
                partial(evaluate_policy, preset, paths, policy, variants),
            ),
        ]
    return items


def run_items(items: list[WorkItem], timings_path: Path) -> tuple[dict[str, float], list[str]]:
    """Run the steps with a progress bar, adding the seconds of each that did work to what
    earlier runs in the work folder recorded under its label (another run's trainings of the
    same count and seeds: every run's work counts); returns the seconds of every step done so
    far and the labels of the steps that did work in this run."""
    from tqdm import tqdm

    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    ran = []
    with tqdm(items, desc="study", unit="step") as bar:
        for item in bar:
            bar.set_postfix_str(item.label)
            tqdm.write(f"--- study: {item.label}")
            start = time.monotonic()
            if item.run():
                spent = time.monotonic() - start
                timings[item.label] = round(timings.get(item.label, 0.0) + spent, 1)
                write_json(timings_path, timings)
                ran.append(item.label)
            else:
                tqdm.write("(done already)")
    return timings, ran


def work_done(labels: list[str]) -> str:
    """What a run did, from the labels of its steps that did work: 'data, trainings,
    2 exports, 2 policies evaluated'."""
    parts = ["data"] if any(label.startswith("demonstrations") for label in labels) else []
    parts += ["trainings"] if any(label.startswith("train ") for label in labels) else []
    for prefix, what in (("export ", "exports"), ("evaluate ", "policies evaluated")):
        if count := sum(label.startswith(prefix) for label in labels):
            parts.append(f"{count} {what}")
    return ", ".join(parts) or "results only"


def collect_rows(preset: Preset, paths: Paths) -> list[dict]:
    """Every evaluation result of the plan, its training seeds pooled, in plan order."""
    return pool_seeds(
        [
            first_episodes(json.loads(paths.result(policy, variant).read_text()), preset.episodes)
            for policy, variants in evaluation_plan(preset).items()
            for variant in variants
        ]
    )


def pool_seeds(rows: list[dict]) -> list[dict]:
    """One row per method, task, variant and real-demonstration count from the rows of its
    training seeds: their episodes pooled, the standard error the larger of the binomial one
    over the distinct evaluation scenes (every seed plays the same seeds, so k seeds' episodes
    are not k times as many independent draws) and the seeds' spread (sd / sqrt(k), k >= 2);
    the seeds' rates, mean diagnostics and, where every seed's result has them, per-episode
    successes (one list per training seed, in evaluation-seed order) kept."""
    import numpy as np

    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(row_key(row), []).append(row)
    pooled = []
    for group in groups.values():
        episodes = sum(r["episodes"] for r in group)
        rates = [r["success_rate"] for r in group]
        rate = sum(r["success_rate"] * r["episodes"] for r in group) / episodes
        scenes = min(r["episodes"] for r in group)  # the evaluation seeds every seed played
        se = binomial_se(rate, scenes)
        if len(group) > 1:
            se = max(se, float(np.std(rates, ddof=1) / np.sqrt(len(group))))
        means = {
            key: float(np.mean([r[key] for r in group]))
            for key in (*DIAGNOSTIC_KEYS, "episode_length_s")
            if all(key in r for r in group)
        }
        pooled.append(
            {
                **dict(zip(ROW_KEYS[:4], row_key(group[0]), strict=True)),
                "episodes": episodes,
                "success_rate": rate,
                "success_rate_se": se,
                **means,
                "training_seeds": [r.get("training_seed", 0) for r in group],
                "seed_success_rates": rates,
                "seeds": group[0]["seeds"],
                "config_hashes": [r["config_hash"] for r in group],
                **(
                    {"successes": [r["successes"] for r in group]}
                    if all("successes" in r for r in group)
                    else {}
                ),
            }
        )
    return pooled


def per_seed_rows(row: dict) -> list[dict]:
    """A pooled study.json row as one row per training seed, as ``pool_seeds`` reads them:
    each seed's per-episode successes and config hash, and the row's means of diagnostics and
    episode length (pooling them again with other seeds' rows weights every seed equally, as
    ``pool_seeds`` does)."""
    means = {k: row[k] for k in (*DIAGNOSTIC_KEYS, "episode_length_s") if k in row}
    seeds = zip(row["training_seeds"], row["successes"], row["config_hashes"], strict=True)
    return [
        {
            **dict(zip(ROW_KEYS[:4], row_key(row), strict=True)),
            **means,
            "training_seed": seed,
            **outcome_fields(successes, row["seeds"][0], None),
            "config_hash": config_hash,
        }
        for seed, successes, config_hash in seeds
    ]


def rows_to_add_to(preset_name: str, preset: Preset, results: Path) -> list[dict]:
    """The rows of ``results``/study.json that this run's training seeds are added to
    (``--add-to-results``): one per row the run writes, of the same preset, sizes and
    evaluation seeds, with per-episode outcomes and only other training seeds; a StudyError
    naming the first row that is missing or does not fit."""
    path = results / "study.json"
    held = json.loads(path.read_text()) if path.is_file() else []
    index = {row_key(r): r for r in held if r.get("preset") == preset_name}
    seeds = evaluation_seeds(preset.episodes)
    plan = evaluation_plan(preset).items()
    keys = dict.fromkeys((p.method, p.task, v, p.real_demos) for p, vs in plan for v in vs)
    rows = []
    for key in keys:
        what = f"{path}: {preset_name} row {key[0]}/{key[1]}/{key[2]}, {key[3]} real demos"
        row = index.get(key)
        if row is None:
            raise StudyError(f"{what}: none to add training seeds to")
        if row["sizes"] != preset_sizes(preset):
            raise StudyError(f"{what}: trained at other sizes ({row['sizes']})")
        if row["seeds"] != [seeds.start, seeds.stop - 1] or "successes" not in row:
            raise StudyError(
                f"{what}: evaluated on seeds {row['seeds'][0]}..{row['seeds'][1]}"
                f"{'' if 'successes' in row else ' without per-episode outcomes'}, this run on "
                f"{seeds.start}..{seeds.stop - 1}"
            )
        if shared := sorted(set(row["training_seeds"]) & set(preset.training_seeds)):
            raise StudyError(f"{what}: already holds training seeds {shared}")
        rows.append(row)
    return rows


def run_study(
    preset_name: str, preset: Preset, paths: Paths, command: str, earlier: Sequence[dict] = ()
) -> int:
    """The whole study, then its results (pooled with ``earlier`` rows of other training
    seeds, from ``rows_to_add_to``); returns 0."""
    started = time.monotonic()
    paths.out.mkdir(parents=True, exist_ok=True)
    timings, ran = run_items(work_items(preset, paths), paths.timings)
    rows = collect_rows(preset, paths)
    if earlier:
        per_seed = [s for r in [*earlier, *rows] for s in per_seed_rows(r)]
        rows = pool_seeds(sorted(per_seed, key=lambda s: s["training_seed"]))
        seeds = {*preset.training_seeds, *(s for r in earlier for s in r["training_seeds"])}
        preset = replace(preset, training_seeds=tuple(sorted(seeds)))
    wall = {
        "this_run_s": time.monotonic() - started,
        "all_steps_s": sum(timings.values()),
        "did": work_done(ran),
    }
    write_results(preset_name, preset, rows, wall, command, paths.results)
    print(f"results: {paths.results / f'{preset_name}.md'}, {paths.results / 'study.json'}")
    return 0


# -- results -------------------------------------------------------------------------------


def percent(row: dict) -> str:
    """'55 ± 11' (%): a success rate with its standard error, then each training seed's
    when there are several: '35 ± 22 (10, 60)'."""
    text = f"{points(row['success_rate'])} ± {points(row['success_rate_se'])}"
    per_seed = row.get("seed_success_rates", [])
    if len(per_seed) > 1:
        text += " (" + ", ".join(points(r) for r in per_seed) + ")"
    return text


def cell(index: dict, key: tuple) -> str:
    """A curve point's rate, or 'not run' where the study has no row for it."""
    return percent(index[key]) if key in index else "not run"


def markdown_table(header: list[str], lines: list[list[str]]) -> list[str]:
    """A GitHub markdown table."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(line) + " |" for line in lines),
    ]


def row_key(row: dict) -> tuple:
    """What a study.json row is about: method, task, variant, real demonstrations."""
    return tuple(row[k] for k in ROW_KEYS[:4])


def preset_sizes(preset: Preset) -> dict:
    """What a preset's rows were trained and evaluated at (data, steps, images, model), so
    that rows of one preset at other sizes are recognised."""
    keys = ("sim_episodes", "human_episodes", "episodes", "image_width", "pretrain_steps")
    keys += ("finetune_steps", "single_steps", "real_steps", "batch_size")
    return {**{k: getattr(preset, k) for k in keys}, "overrides": list(preset.overrides)}


def merged_rows(path: Path, rows: list[dict]) -> list[dict]:
    """``rows`` plus the rows of ``path`` (an earlier study.json, of any preset) about
    anything else, except those of the same preset at other sizes (stale once a preset
    changes): one file holds every method's results, each at its preset's current sizes."""
    new = {row_key(r) for r in rows}
    current = {(r["preset"], json.dumps(r["sizes"])) for r in rows if "preset" in r}
    presets = {name for name, _ in current}

    def kept(r: dict) -> bool:
        stale = r.get("preset") in presets and (r["preset"], json.dumps(r["sizes"])) not in current
        return row_key(r) not in new and not stale

    old = json.loads(path.read_text()) if path.is_file() else []
    return [*filter(kept, old), *rows]


def shown(preset_name: str, preset: Preset, index: dict) -> Preset:
    """What a report shows: the asked tasks and methods plus the full preset's others whose
    table rows study.json holds for every asked variant (from earlier runs), in preset order,
    and the full preset's data-efficiency curve on the shown tasks wherever study.json holds
    a point of it beyond the table's."""
    full = PRESETS[preset_name]

    def complete(methods: tuple[str, ...], tasks: tuple[str, ...]) -> bool:
        keys = product(methods, tasks, [preset.real_demos], preset.variants)
        return all(key in index for key in keys)

    tasks = tuple(t for t in full.tasks if t in preset.tasks or complete(preset.methods, (t,)))
    tasks += tuple(t for t in preset.tasks if t not in full.tasks)
    methods = tuple(m for m in full.methods if m in preset.methods or complete((m,), tasks))
    methods += tuple(m for m in preset.methods if m not in full.methods)
    curve_tasks = tuple(t for t in full.curve_tasks if t in tasks)
    curve_methods = tuple(m for m in full.curve_methods if m in methods)
    beyond = [n for n in full.curve_demos if n != preset.real_demos]
    points = product(curve_methods, curve_tasks, beyond, full.curve_variants)
    return replace(
        preset,
        tasks=tasks,
        methods=methods,
        curve_methods=curve_methods if any(key in index for key in points) else (),
        curve_tasks=curve_tasks,
        curve_variants=full.curve_variants,
        curve_demos=full.curve_demos,
    )


def record_run(out: Path, preset_name: str, command: str, wall: dict) -> list[dict]:
    """Add this run to ``out``/runs.json (every run that wrote these results, oldest first:
    the date, wall time, command and what it did); returns every run."""
    path = out / "runs.json"
    runs = json.loads(path.read_text()) if path.is_file() else []
    runs.append(
        {
            "preset": preset_name,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "wall_min": round(wall["this_run_s"] / 60, 1),
            "command": command,
            "did": wall.get("did", "results only"),
        }
    )
    write_json(path, runs)
    return runs


def write_results(
    preset_name: str, preset: Preset, rows: list[dict], wall: dict, command: str, out: Path
) -> None:
    """study.json (these rows merged into any earlier ones), <preset>.md (tables, wall time,
    command) and the plots."""
    out.mkdir(parents=True, exist_ok=True)
    runs = record_run(out, preset_name, command, wall)
    rows = [{**r, "preset": preset_name, "sizes": preset_sizes(preset)} for r in rows]
    merged = merged_rows(out / "study.json", rows)
    write_json(out / "study.json", merged)
    index = {(r["method"], r["task"], r["real_demos"], r["variant"]): r for r in merged}
    asked, preset = preset, shown(preset_name, preset, index)
    earlier = [n for n in preset.tasks + preset.methods if n not in asked.tasks + asked.methods]
    demos = {preset.real_demos, *(preset.curve_demos if preset.has_curve else ())}
    rows = sorted(
        (
            r
            for k, r in index.items()
            if k[0] in preset.methods and k[1] in preset.tasks and k[2] in demos
        ),
        key=lambda r: preset.methods.index(r["method"]),
    )
    seeds = evaluation_seeds(preset.episodes)
    lines = [
        f"# SimHum study (preset `{preset_name}`)",
        "",
        f"Command: `{command}`",
        "",
        f"Wall time: {wall['this_run_s'] / 60:.1f} min this run; {wall['all_steps_s'] / 60:.1f}"
        f" min of work over every run in its work folder ({os.cpu_count()} CPU cores).",
        "",
        f"Success rate (%) ± standard error over {preset.episodes} lock-step closed-loop "
        f"episodes per variant and training seed (training seeds "
        f"{', '.join(map(str, preset.training_seeds))}; with several, their episodes are "
        "pooled, the standard error is the larger of the binomial one over the distinct "
        "evaluation seeds and the seeds' spread, and each seed's rate follows in brackets), "
        "evaluation seeds "
        f"{seeds.start}..{seeds.stop - 1} (disjoint from every demonstration seed). `real`: "
        "the proxy-real lab look, inner placement grid; `real_ood_*`: unseen backgrounds, "
        "distractors, lighting; `outer_grid`: the lab look with objects on the held-out "
        "outer placement ring.",
        "",
        f"Data per task: {preset.sim_episodes} simulation and {preset.human_episodes} "
        f"proxy-human episodes, {preset.real_demos} proxy-real demonstrations (the first N of "
        f"them for a data-efficiency point); steps: pre-training {preset.pretrain_steps}, "
        f"fine-tuning {preset.finetune_steps}, single-stage {preset.single_steps}, batch "
        f"{preset.batch_size}; images {preset.image_width} px wide.",
    ]
    if earlier:
        lines += [
            "",
            f"Rows of {', '.join(earlier)} come from earlier runs of this preset kept in "
            "study.json (this command did not train or evaluate them).",
        ]
    other_seeds = sorted(
        {
            f"{r['task']}/{r['method']} (training seeds "
            f"{', '.join(map(str, r.get('training_seeds', [0])))})"
            for r in rows
            if tuple(r.get("training_seeds", (0,))) != preset.training_seeds
        }
    )
    if other_seeds:
        lines += ["", f"Rows pooled over other training seeds: {'; '.join(other_seeds)}."]
    for task in preset.tasks:
        lines += ["", f"## {task}, {preset.real_demos} real demonstrations", ""]
        lines += markdown_table(
            ["method", *preset.variants],
            [
                [m, *(percent(index[m, task, preset.real_demos, v]) for v in preset.variants)]
                for m in preset.methods
            ],
        )
    for task in preset.curve_tasks if preset.has_curve else ():
        for variant in preset.curve_variants:
            lines += ["", f"## Data efficiency: {task}, {variant}, N real demonstrations", ""]
            lines += markdown_table(
                ["method", *(f"N = {n}" for n in preset.curve_demos)],
                [
                    [m, *(cell(index, (m, task, n, variant)) for n in preset.curve_demos)]
                    for m in preset.curve_methods
                ],
            )
    checks = target_checks(rows, preset.tasks, preset.real_demos)
    if checks:
        lines += ["", "## Targets", ""]
        lines += markdown_table(
            ["target", "measured", "met"],
            [[c.target, c.measured, "yes" if c.met else "**no**"] for c in checks],
        )
    lines += paired_tables(preset, index)
    lines += ["", "## Runs that wrote these results", ""]
    lines += [
        f"- {r['date']}, {r['wall_min']:.1f} min ({r['did']}): `{r['command']}`"
        for r in runs
        if r["preset"] == preset_name
    ]
    diagnosed = [r for r in rows if "wasserstein" in r and r["variant"] == "real"]
    if diagnosed:
        lines += ["", "## Representation diagnostics (f(o), sim vs real, selected checkpoint)", ""]
        lines += markdown_table(
            ["method", "task", "real demos", "real", "2-Wasserstein", "classifier accuracy"],
            [
                [
                    r["method"],
                    r["task"],
                    str(r["real_demos"]),
                    percent(r),
                    f"{r['wasserstein']:.3f}",
                    f"{r['classifier_accuracy']:.2f}",
                ]
                for r in diagnosed
            ],
        )
    lines += ["", f"![success per method and variant]({preset_name}_success.png)"]
    if preset.has_curve:
        plot_curve(preset, index, out / f"{preset_name}_data_efficiency.png")
        lines += ["", f"![data efficiency]({preset_name}_data_efficiency.png)"]
    if diagnosed:
        plot_diagnostics(diagnosed, out / f"{preset_name}_diagnostics.png")
        lines += ["", f"![success against alignment]({preset_name}_diagnostics.png)"]
    plot_success(preset, index, out / f"{preset_name}_success.png")
    (out / f"{preset_name}.md").write_text("\n".join(lines) + "\n")


def paired_tables(preset: Preset, index: dict) -> list[str]:
    """Per task, SimHum minus every other shown method on the same episodes (same training
    seed, same evaluation scene), per variant and over the OOD variants; empty unless some
    rows hold per-episode successes."""
    labels = [*preset.variants, OOD_MEAN]
    others = [m for m in preset.methods if m != SIMHUM]
    lines: list[str] = []
    for task in preset.tasks if SIMHUM in preset.methods else ():
        ours = {
            label: paired_rows(index, SIMHUM, task, preset.real_demos, label) for label in labels
        }
        table = []
        for method in others:
            cells = []
            for label in labels:
                theirs = paired_rows(index, method, task, preset.real_demos, label)
                d = paired_difference(ours[label], theirs)
                cells.append(f"{signed_points(d)} ({difference_in_se(d):+.1f} SE)" if d else "-")
            if any(c != "-" for c in cells):
                table.append([method, *cells])
        if table:
            lines += ["", f"## {task}: SimHum minus each method on the same episodes", ""]
            lines += markdown_table(["method", *labels], table)
    if lines:
        lines = [
            "",
            "Paired differences (percentage points ± standard error, and in standard errors): "
            "each episode of SimHum against the same training seed's and evaluation scene's "
            "episode of the other method; the standard error is the larger of the scenes' and "
            "the training seeds' spread. '-': a result without per-episode outcomes (evaluated "
            "before they were stored).",
            *lines,
        ]
    return lines


def plot_diagnostics(rows: list[dict], path: Path) -> None:
    """In-distribution success against the sim-real alignment and discernibility of f(o)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, key, label in zip(
        axes,
        DIAGNOSTIC_KEYS,
        ("sim-real 2-Wasserstein distance of f(o)", "domain classifier accuracy (chance 0.5)"),
        strict=True,
    ):
        for r in rows:
            ax.errorbar(
                r[key],
                100 * r["success_rate"],
                yerr=100 * r["success_rate_se"],
                fmt="o",
                capsize=3,
                label=r["method"],
            )
        ax.set_xlabel(label)
        ax.set_ylabel("success rate (%), real")
        ax.set_ylim(-5, 105)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_success(preset: Preset, index: dict, path: Path) -> None:
    """Per task, success per variant with one bar per method and standard-error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    n_tasks = len(preset.tasks)
    fig, axes = plt.subplots(n_tasks, 1, figsize=(2 + 1.8 * len(preset.variants), 3.2 * n_tasks))
    width = 0.8 / len(preset.methods)
    x = np.arange(len(preset.variants))
    for ax, task in zip(np.atleast_1d(axes), preset.tasks, strict=True):
        for i, method in enumerate(preset.methods):
            rows = [index[method, task, preset.real_demos, v] for v in preset.variants]
            ax.bar(
                x + (i - (len(preset.methods) - 1) / 2) * width,
                [100 * r["success_rate"] for r in rows],
                width,
                yerr=[100 * r["success_rate_se"] for r in rows],
                capsize=2,
                label=method,
            )
        ax.set_xticks(x, [v.replace("real_ood_", "OOD ") for v in preset.variants])
        ax.set_ylim(0, 120)
        ax.set_ylabel("success rate (%)")
        ax.set_title(f"{task}, {preset.real_demos} real demonstrations")
    np.atleast_1d(axes)[0].legend(fontsize=7, ncols=len(preset.methods), loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curve(preset: Preset, index: dict, path: Path) -> None:
    """Success against the number of real demonstrations, per curve task and variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(t, v) for t in preset.curve_tasks for v in preset.curve_variants]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    for ax, (task, variant) in zip(axes[0], panels, strict=True):
        for method in preset.curve_methods:
            counts = [n for n in preset.curve_demos if (method, task, n, variant) in index]
            rows = [index[method, task, n, variant] for n in counts]
            ax.errorbar(
                counts,
                [100 * r["success_rate"] for r in rows],
                yerr=[100 * r["success_rate_se"] for r in rows],
                marker="o",
                capsize=3,
                label=method,
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(preset.curve_demos, [str(n) for n in preset.curve_demos])
        ax.set_ylim(0, 105)
        ax.set_xlabel("real demonstrations")
        ax.set_ylabel("success rate (%)")
        ax.set_title(f"{task}, {variant}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- the command ---------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> Preset:
    """The preset as asked, every name and seed range checked before any work."""
    preset = select(
        PRESETS[args.preset], args.tasks, args.methods, args.variants, args.curve, args.curve_demos
    )
    if args.workers is not None:
        preset = replace(preset, workers=args.workers)
    if args.trainings is not None:
        preset = replace(preset, trainings=args.trainings)
    if args.episodes is not None:
        preset = replace(preset, episodes=args.episodes)
    for flag in ("workers", "trainings", "episodes"):
        if getattr(preset, flag) < 1:
            raise StudyError(f"--{flag} must be at least 1, got {getattr(preset, flag)}")
    if args.training_seeds is not None:
        seeds = tuple(args.training_seeds)
        if len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise StudyError(f"--training-seeds must be distinct and >= 0, got {list(seeds)}")
        preset = replace(preset, training_seeds=seeds)
    check_methods(preset)
    check_seeds(preset)
    return preset


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this study."""
    parts = ["simhum", "study", "--preset", args.preset]
    for flag in ("tasks", "methods", "variants"):
        if getattr(args, flag):
            parts += [f"--{flag}", *getattr(args, flag)]
    if not args.curve:
        parts.append("--no-curve")
    if args.curve_demos:
        parts += ["--curve-demos", *map(str, args.curve_demos)]
    for flag in ("episodes", "workers", "trainings"):
        if getattr(args, flag) is not None:
            parts += [f"--{flag}", str(getattr(args, flag))]
    if args.training_seeds is not None:
        parts += ["--training-seeds", *map(str, args.training_seeds)]
    if args.add:
        parts.append("--add-to-results")
    return " ".join([*parts, "--out", str(args.out), "--results-dir", str(args.results_dir)])


def run_command_line(args: argparse.Namespace) -> int:
    """`simhum study`: exit status 2 for a bad request, before any work."""
    from simhum_train.experiment import ConfigError

    try:
        preset = prepare(args)
        earlier = rows_to_add_to(args.preset, preset, args.results_dir) if args.add else []
    except (StudyError, ConfigError) as err:
        print(f"simhum study: {err}", file=sys.stderr)
        return 2
    paths = Paths(args.out, args.results_dir)
    print(f"study '{args.preset}': {json.dumps(asdict(preset))}", flush=True)
    return run_study(args.preset, preset, paths, command_line(args), earlier)


def add_study_command(commands: argparse._SubParsersAction) -> None:
    """The `simhum study` sub-command."""
    parser = commands.add_parser("study", help="train and evaluate every method (resumable)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="study")
    parser.add_argument("--tasks", nargs="+", help="a subset of the preset's tasks")
    parser.add_argument("--methods", nargs="+", help="a subset of the preset's methods")
    parser.add_argument("--variants", nargs="+", help="a subset of the preset's variants")
    parser.add_argument(
        "--no-curve",
        dest="curve",
        action="store_false",
        help="only the method x variant tables (no data-efficiency curve's extra policies)",
    )
    parser.add_argument(
        "--curve-demos",
        type=int,
        nargs="+",
        help="a subset of the data-efficiency curve's real-demonstration counts",
    )
    parser.add_argument(
        "--episodes",
        type=int,
        help="evaluation episodes per variant (default: the preset's); results of fewer "
        "evaluation seeds are extended, of more read up to this many",
    )
    parser.add_argument("--workers", type=int, help="generation and evaluation processes")
    parser.add_argument(
        "--trainings", type=int, help="trainings at once (each with its share of the threads)"
    )
    parser.add_argument(
        "--training-seeds",
        type=int,
        nargs="+",
        help="train (and evaluate) every policy once per seed; rows pool them (default: 0)",
    )
    parser.add_argument(
        "--add-to-results",
        dest="add",
        action="store_true",
        help="pool this run's training seeds with the results folder's rows of the same "
        "preset, sizes and evaluation seeds (adds seeds to a study whose work folder is gone)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/study"), help="work folder")
    parser.add_argument("--results-dir", type=Path, default=Path("docs/results"))
    parser.set_defaults(run=run_command_line)
