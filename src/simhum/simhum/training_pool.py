"""Several trainings at once on one machine: each in its own process with its share of the
CPU threads (shared out again whenever one starts or ends, so the last ones take the cores
the others free), a fine-tuning started only after the pre-training it starts from, the
ready training with the longest chain of steps ahead first, one progress bar over every step.

On 2 cores two trainings of one thread each make more steps per second than one training
of two threads (the small convolutions of the policy scale poorly across threads); measured
by ``bench/train_bench.py``.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path
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


def write_threads(control: Path, threads: int) -> None:
    """Tell a training how many torch threads to use from its next step on (atomically)."""
    partial_file = control.with_name(control.name + ".partial")
    partial_file.write_text(str(threads))
    os.replace(partial_file, control)


def follow_threads(control: Path, used: list[int]) -> None:
    """Use the torch thread count last written to ``control`` (in the training's thread:
    the count is per thread), noting each count used in ``used``."""
    import torch

    threads = int(control.read_text())
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    if not used or used[-1] != torch.get_num_threads():
        used.append(torch.get_num_threads())


def _train(
    exp: ExperimentConfig, progress: bool, control: Path | None = None
) -> tuple[float, list[int]]:
    """Train ``exp`` (finished stages skipped), with the torch threads ``control`` says as it
    starts and at each step (None: torch's default); its seconds and the thread counts it
    was given, in order."""
    used: list[int] = []
    on_step = None if control is None else partial(follow_threads, control, used)
    if on_step is not None:
        on_step()  # before loading anything: the share it starts with
    from simhum_train.train import run_experiment

    start = time.monotonic()
    run_experiment(exp, progress=progress, on_step=on_step)
    return time.monotonic() - start, used


def chain_steps(training: Training, waiting: list[Training]) -> int:
    """Steps of ``training`` and of the longest chain of waiting trainings after it."""
    after = [t for t in waiting if t.after == training.label]
    return training.steps + max((chain_steps(t, waiting) for t in after), default=0)


def next_ready(waiting: list[Training], pending: set[str]) -> Training | None:
    """The waiting training with the longest chain ahead (its steps and those of the
    trainings after it) whose predecessor is not pending (waiting or running): a
    pre-training whose fine-tunings make the longest chain starts before a longer training
    that nothing waits on, so that chain does not finish alone at the end. Of equal chains
    the longer training goes first, so that short pre-trainings do not all finish early and
    leave their fine-tunings to end together, one of them alone."""
    ready = [t for t in waiting if t.after not in pending]
    return max(ready, key=lambda t: (chain_steps(t, waiting), t.steps), default=None)


def run_trainings(trainings: list[Training], at_once: int) -> dict[str, float]:
    """Train every one, ``at_once`` at a time, each after its predecessor; returns each one's
    seconds. The running trainings share the cores equally, shared out again as one starts or
    ends. One at a time runs here with a per-training progress bar. The first failure stops
    new starts and is raised once the running trainings end (their work is kept)."""
    from tqdm import tqdm

    at_once = min(at_once, len(trainings))
    if at_once <= 1:
        return {t.label: _train(t.make(), True)[0] for t in trainings}
    waiting, finished, given = list(trainings), {}, 0  # given: the running ones' share
    running: dict[Future, tuple[Training, ExperimentConfig, Path]] = {}
    pool = ProcessPoolExecutor(at_once, mp_context=multiprocessing.get_context("spawn"))
    total, ids = sum(t.steps for t in trainings), itertools.count()
    with (
        pool,
        tempfile.TemporaryDirectory(prefix="simhum-pool-") as controls,
        tqdm(total=total, desc=f"training {at_once} at a time", unit="step") as bar,
    ):
        while waiting or running:
            pending = {t.label for t in waiting} | {t.label for t, *_ in running.values()}
            starting = []
            while len(running) + len(starting) < at_once:
                if (t := next_ready(waiting, pending)) is None:
                    break
                waiting.remove(t)
                starting.append(t)
            if not running and not starting:
                raise ValueError(f"trainings wait on each other: {[t.label for t in waiting]}")
            share = threads_each(len(running) + len(starting))
            if share != given:
                for _, _, control in running.values():
                    write_threads(control, share)
                given = share
            for t in starting:
                exp, control = t.make(), Path(controls) / str(next(ids))
                write_threads(control, share)  # its first step already uses its share
                running[pool.submit(_train, exp, False, control)] = t, exp, control
            done, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                t, *_ = running.pop(future)
                seconds, used = future.result()  # a training's error is raised here
                finished[t.label] = seconds
                threads = " then ".join(map(str, used))
                tqdm.write(f"trained {t.label} in {seconds / 60:.1f} min ({threads} threads)")
            bar.n = sum(t.steps for t in trainings if t.label in finished) + sum(
                steps_logged(exp) for _, exp, _ in running.values()
            )
            bar.set_postfix_str(", ".join(t.label for t, *_ in running.values()))
            bar.refresh()
    return finished
