"""Training-package benchmark, measured in one run on this machine:

- data loader samples/s (batch 64, observation history 2, action chunks of 16) from the
  zarr store in memory vs a naive loader that opens, decodes and aligns a bag per sample;
- training step time at batch 64 (sim + real co-training, the packaged architecture) on the
  CPU, and on CUDA when torch sees one; the representation diagnostics' share of it;
- training throughput (steps/s over two trainings) with two at once, sharing the cores
  (``simhum study --trainings 2``), vs one at a time with every thread;
- full action-sampling latency (encoder + Euler denoiser steps) in onnxruntime (CPU) vs torch
  eager on the same weights and noise.

    python bench/train_bench.py [--episodes runs/demos]   # default: generates a few episodes

Targets (issue 5): loader >= 1,000 samples/s; onnxruntime <= 0.5x torch eager; (issue 10)
the representation diagnostics < 10% of training time at the default evaluation interval.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from simhum_core import load_calibration, load_robot
from simhum_core.onnx_policy import OnnxPolicy
from simhum_core.paths import default_calibration, default_urdf
from simhum_core.topics import load_topics
from simhum_sim_bridge.generate import main as generate
from simhum_train import keys, states
from simhum_train.action_space import action_spaces
from simhum_train.checkpoint import FINAL, load_policy
from simhum_train.convert import DatasetBuilder, find_bags
from simhum_train.dataset import TrainingData
from simhum_train.episodes import align_episode, read_episode
from simhum_train.experiment import load_experiment
from simhum_train.export import export_onnx, random_observation, torch_sample
from simhum_train.normalize import Normalizer
from simhum_train.train import StageTrainer, to_device

BATCH, HISTORY, CHUNK, IMAGE = 64, 2, 16, (64, 64)
POOL_STEPS = 60  # steps of each training of the two-at-once comparison


def timed(fn, seconds: float, min_runs: int = 3) -> list[float]:
    """Durations of repeated calls of ``fn`` for about ``seconds`` (at least ``min_runs``)."""
    times, start = [], time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


class NaiveLoader:
    """The baseline: each sample opens its bag, decodes every message, aligns the streams
    and computes the window, as a dataset without a store would."""

    def __init__(self, bags: list[Path]) -> None:
        self.bags = bags
        self.robot = load_robot(default_urdf())
        self.topics = load_topics()
        self.space = action_spaces("relative_ee", self.robot.dof)[keys.ROBOT]

    def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        raw = read_episode(self.bags[rng.integers(len(self.bags))], self.topics, self.robot, IMAGE)
        episode = align_episode(raw, 0.015, keys.ROBOT)
        n = len(episode.stamps)
        i = int(rng.integers(n))
        obs = np.maximum(np.arange(i - HISTORY + 1, i + 1), 0)
        act = np.minimum(np.arange(i, i + CHUNK), n - 1)
        state = states.robot_rows(self.robot, episode.joint_positions[obs])
        target = states.robot_rows(self.robot, episode.joint_targets[act])
        return {
            keys.OBS_IMAGE: episode.images[obs],
            keys.OBS_PROPRIO: self.space.proprio(state),
            keys.ACTION: self.space.actions(state[-1:], target[None])[0],
        }


def bench_loaders(store: Path, bags: list[Path]) -> tuple[float, float]:
    """Samples/s of the store loader (batches of 64 as torch tensors) and of the naive one."""
    data = TrainingData(store, "relative_ee", HISTORY, CHUNK, 0.1, seed=0)
    windows = [data.windows(d, "train") for d in data.domains]
    rng = np.random.default_rng(0)

    def batch() -> None:
        for w, n in zip(windows, (BATCH // 2, BATCH - BATCH // 2), strict=False):
            to_device(w.sample(rng, n), torch.device("cpu"))

    fast = BATCH / statistics.median(timed(batch, 3.0))
    naive_loader = NaiveLoader(bags)
    naive = 1 / statistics.median(timed(lambda: naive_loader.sample(rng), 5.0))
    return fast, naive


def bench_training(store: Path, out: Path, device: str) -> tuple[float, float, int, Path]:
    """Median seconds per training step at batch 64 on ``device``, median seconds of the
    representation diagnostics of one evaluation (every domain pair), the stage's evaluation
    interval, and a checkpoint."""
    exp = load_experiment(
        "cotrain_sim_real",
        [
            f"data.store={store}",
            f"out={out}",
            f"device={device}",
            f"model.history={HISTORY}",
            f"model.chunk_length={CHUNK}",
            f"stages.0.batch_size={BATCH}",
        ],
    )
    data = TrainingData(store, "relative_ee", HISTORY, CHUNK, 0.1, seed=0)
    trainer = StageTrainer(exp, 0, data, torch.device(device))
    trainer.dir.mkdir(parents=True, exist_ok=True)
    for _ in range(2):  # warm-up
        trainer.train_step()
    if device == "cuda":
        torch.cuda.synchronize()
    step = statistics.median(timed(trainer.train_step, 8.0, min_runs=5))
    diagnostics = statistics.median(timed(trainer.diagnostics, 3.0))
    return step, diagnostics, trainer.stage.eval_every, trainer.save(FINAL)


def bench_at_once(store: Path, out: Path) -> tuple[float, float]:
    """Steps per second of two trainings one at a time (every thread) and two at once (their
    share of the threads each, in their own processes), from the step times they log past
    the first steps."""
    from functools import partial

    from simhum.training_pool import Training, run_trainings
    from simhum_train.metrics import read_csv

    rates = []
    for at_once in (1, 2):
        runs = [
            Training(
                f"{at_once}/{seed}",
                partial(
                    load_experiment,
                    "cotrain_sim_real",
                    [
                        f"data.store={store}",
                        f"out={out / str(at_once)}",
                        f"seed={seed}",
                        f"name=seed{seed}",
                        f"model.history={HISTORY}",
                        f"model.chunk_length={CHUNK}",
                        f"stages.0.batch_size={BATCH}",
                        f"stages.0.steps={POOL_STEPS}",
                    ],
                ),
                POOL_STEPS,
            )
            for seed in (0, 1)
        ]
        run_trainings(runs, at_once)
        logs = [run.make().out_dir / "cotrain" / "train.csv" for run in runs]
        seconds = [
            statistics.median(float(r["seconds"]) for r in read_csv(log)[10:]) for log in logs
        ]
        rates.append(sum(1 / s for s in seconds) if at_once == 2 else 1 / statistics.mean(seconds))
    return rates[0], rates[1]


def bench_sampling(checkpoint: Path, out: Path) -> tuple[float, float, str, float]:
    """Median seconds of one full action sample in onnxruntime and torch eager, the provider
    that ran, and their largest difference."""
    encoder = export_onnx(checkpoint, out, "bench")
    policy, ckpt = load_policy(checkpoint)
    normalizer = Normalizer.from_dict(ckpt["normalization"][keys.ROBOT])
    runtime = OnnxPolicy(encoder, providers=["CPUExecutionProvider"])
    image, proprio = random_observation(policy, normalizer, np.random.default_rng(0))
    onnx_time = statistics.median(
        timed(lambda: runtime.sample(image, proprio, np.random.default_rng(1)), 3.0, 20)
    )
    torch_time = statistics.median(
        timed(
            lambda: torch_sample(policy, normalizer, image, proprio, np.random.default_rng(1)),
            3.0,
            20,
        )
    )
    diff = np.abs(
        runtime.sample(image, proprio, np.random.default_rng(1))
        - torch_sample(policy, normalizer, image, proprio, np.random.default_rng(1))
    ).max()
    return onnx_time, torch_time, runtime.provider, float(diff)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=Path, help="robot bags (default: generate 12)")
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        episodes = args.episodes
        if episodes is None:
            episodes = tmp / "episodes"
            generate(
                [
                    "--out",
                    str(episodes),
                    "--tasks",
                    "pick_place",
                    "push",
                    "stack",
                    "--domains",
                    "sim",
                    "real",
                    "-n",
                    "2",
                    "--workers",
                    "2",
                ]
            )
        bags = [b for b in find_bags([episodes]) if "human" not in b.parts]
        store = tmp / "store.zarr"
        robot, camera = load_robot(default_urdf()), load_calibration(default_calibration())
        report = DatasetBuilder(store, robot, camera, load_topics(), IMAGE).build(bags, False)
        print(
            f"\nstore: {len(report.added)} episodes at {IMAGE[0]}x{IMAGE[1]}, batch {BATCH}, "
            f"history {HISTORY}, chunk {CHUNK}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads"
        )

        fast, naive = bench_loaders(store, bags)
        print(
            f"data loader      store in RAM {fast:10.0f} samples/s | naive per-bag "
            f"{naive:6.1f} samples/s | {fast / naive:6.0f}x | target >= 1000: "
            f"{'PASS' if fast >= 1000 else 'FAIL'}"
        )

        step, diagnostics, every, checkpoint = bench_training(store, tmp / "cpu", "cpu")
        print(f"training step    cpu {step * 1e3:8.0f} ms at batch {BATCH}")
        share = diagnostics / (diagnostics + every * step)
        print(
            f"diagnostics      cpu {diagnostics * 1e3:8.0f} ms per evaluation (W2 + classifier, "
            f"sim-real) = {share:.1%} of training time at eval_every {every} | target < 10%: "
            f"{'PASS' if share < 0.1 else 'FAIL'}"
        )
        alone, together = bench_at_once(store, tmp / "pool")
        print(
            f"training         cpu one at a time {alone:5.2f} steps/s | two at once "
            f"{together:5.2f} steps/s | {together / alone:.2f}x ({POOL_STEPS} steps each)"
        )
        if torch.cuda.is_available():
            cuda_step, *_ = bench_training(store, tmp / "cuda", "cuda")
            print(
                f"training step    cuda {cuda_step * 1e3:7.1f} ms at batch {BATCH} "
                f"({torch.cuda.get_device_name()})"
            )
        else:
            print("training step    cuda: not measured (torch sees no CUDA device)")

        onnx_time, torch_time, provider, diff = bench_sampling(checkpoint, tmp / "onnx")
        steps = load_policy(checkpoint)[0].config.arch.num_sampling_steps
        ratio = onnx_time / torch_time
        print(
            f"action sampling  onnxruntime ({provider}) {onnx_time * 1e3:6.2f} ms | torch "
            f"eager {torch_time * 1e3:6.2f} ms | ratio {ratio:.2f} ({steps} Euler steps, "
            f"max |diff| {diff:.1e}) | target <= 0.5: {'PASS' if ratio <= 0.5 else 'FAIL'}"
        )


if __name__ == "__main__":
    main()
