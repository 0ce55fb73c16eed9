"""Several trainings at once on one machine: each in its own process with its share of the
CPU threads, a fine-tuning started only after the pre-training it starts from, the longest
ready training first, one progress bar over every step.

On 2 cores two trainings of one thread each make more steps per second than one training
of two threads (the small convolutions of the policy scale poorly across threads); measured
by ``bench/train_bench.py``.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simhum_train.experiment import ExperimentConfig

POLL_S = 5.0  # how often the progress bar reads the running trainings' step logs


@dataclass(frozen=True)
class Training:
    """One experiment to train, after the training labelled ``after`` when that is run too
    (the pre-training whose checkpoint it starts from). Its config is made as it starts
    (a fine-tuning's names a checkpoint that exists only then)."""

    label: str
    make: Callable[[], ExperimentConfig]
    steps: int  # optimiser steps over every stage
    after: str | None = None


def threads_each(at_once: int) -> int:
    """Torch threads per training when ``at_once`` share this machine's cores."""
    return max(1, (os.cpu_count() or 1) // at_once)


def steps_logged(exp: ExperimentConfig) -> int:
    """Steps a training has logged so far (the rows of its stages' train.csv)."""
    done = 0
    for stage in exp.stages:
        log = exp.out_dir / stage.name / "train.csv"
        if log.is_file():
            with log.open() as f:
                done += max(0, sum(1 for _ in f) - 1)
    return done


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _train(exp: ExperimentConfig, progress: bool) -> float:
    """Train ``exp`` (finished stages skipped); its seconds."""
    from simhum_train.train import run_experiment

    start = time.monotonic()
    run_experiment(exp, progress=progress)
    return time.monotonic() - start


def next_ready(waiting: list[Training], pending: set[str]) -> Training | None:
    """The longest waiting training whose predecessor is not pending (waiting or running)."""
    ready = [t for t in waiting if t.after not in pending]
    return max(ready, key=lambda t: t.steps, default=None)


def run_trainings(trainings: list[Training], at_once: int) -> dict[str, float]:
    """Train every one, ``at_once`` at a time, each after its predecessor; returns each one's
    seconds. One at a time runs here with a per-training progress bar. The first failure
    stops new starts and is raised once the running trainings end (their work is kept)."""
    from tqdm import tqdm

    at_once = min(at_once, len(trainings))
    if at_once <= 1:
        return {t.label: _train(t.make(), True) for t in trainings}
    waiting, finished = list(trainings), {}
    running: dict[Future, tuple[Training, ExperimentConfig]] = {}
    pool = ProcessPoolExecutor(
        at_once,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_set_threads,
        initargs=(threads_each(at_once),),
    )
    total = sum(t.steps for t in trainings)
    with pool, tqdm(total=total, desc=f"training {at_once} at a time", unit="step") as bar:
        while waiting or running:
            pending = {t.label for t in waiting} | {t.label for t, _ in running.values()}
            while len(running) < at_once and (t := next_ready(waiting, pending)) is not None:
                waiting.remove(t)
                exp = t.make()
                running[pool.submit(_train, exp, False)] = t, exp
            if not running:
                raise ValueError(f"trainings wait on each other: {[t.label for t in waiting]}")
            done, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                t, _ = running.pop(future)
                finished[t.label] = future.result()  # a training's error is raised here
                tqdm.write(f"trained {t.label} in {finished[t.label] / 60:.1f} min")
            bar.n = sum(t.steps for t in trainings if t.label in finished) + sum(
                steps_logged(exp) for _, exp in running.values()
            )
            bar.set_postfix_str(", ".join(t.label for t, _ in running.values()))
            bar.refresh()
    return finished
