"""``simhum_train``: run an experiment's stages (pre-training, fine-tuning, baselines).

    simhum_train --config simhum --set data.store=runs/store.zarr
    simhum_train --config my_experiment.yaml --set stages.0.steps=200 --set device=cpu

Each stage writes <out>/<name>/<stage>/: checkpoint.pt (latest, for resume), best.pt (the
evaluation with the lowest validation error of sampled action chunks: what a later stage
starts from and what to export), final.pt (the last step), train.csv and eval.csv, and
TensorBoard event files (``tensorboard --logdir <out>/<name>``); the experiment folder gets
config.yaml (resolved), loss.png and diagnostics.png. Re-running the same command
resumes an interrupted stage and skips finished ones; a changed config in the same folder is
refused.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from simhum_train import keys
from simhum_train.augment import augment_images, noisy_proprio
from simhum_train.checkpoint import (
    BEST,
    FINAL,
    LATEST,
    CheckpointError,
    check_fits,
    initialize_from,
    lineage_step,
    load_policy,
    module_paths,
    read_checkpoint,
    shared_init_map,
    space_record,
)
from simhum_train.dataset import DomainWindows, TrainingData
from simhum_train.diagnostics import (
    DomainClassifier,
    domain_classifier_accuracy,
    reverse_gradient,
    wasserstein,
)
from simhum_train.experiment import ConfigError, ExperimentConfig, StageConfig, load_experiment
from simhum_train.metrics import CsvLog, plot_diagnostics, plot_losses
from simhum_train.mixing import AUTO, auto_mixing, guide_line
from simhum_train.policy.config import PolicyConfig
from simhum_train.policy.flow import flow_matching_loss, sample_actions
from simhum_train.policy.modeling import ModularPolicy
from simhum_train.tensorboard_log import TensorBoardLog

EVAL_SEED = 1234  # fixed noise and flow times, so validation losses compare across evals
SELECTION_METRIC = "val_action_mse"  # sampled chunks vs validation labels: picks best.pt


def select_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda requested but torch sees no CUDA device")
    return torch.device(name)


def batch_shares(mixing: dict[str, float], batch_size: int, mode: str) -> dict[str, int]:
    """Samples per domain in a batch: proportional to the mixing weights (largest
    remainder, at least one each) or equal ('balanced')."""
    domains = list(mixing)
    if mode == "balanced":
        weights = np.full(len(domains), 1 / len(domains))
    else:
        weights = np.array([mixing[d] for d in domains])
    raw = weights * batch_size
    counts = np.maximum(np.floor(raw).astype(int), 1)
    for i in np.argsort(raw - np.floor(raw))[::-1]:
        if counts.sum() >= batch_size:
            break
        counts[i] += 1
    while counts.sum() > batch_size:
        counts[np.argmax(counts)] -= 1
    return dict(zip(domains, counts.tolist(), strict=True))


def ema_decay(target: float, step: int) -> float:
    """The moving-average decay after ``step`` optimiser steps: ramped up as (1 + s)/(10 + s)
    so that early averages are not dominated by the initial weights, capped at ``target``."""
    return min(target, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(average: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * model, parameter by parameter."""
    for a, p in zip(average.parameters(), model.parameters(), strict=True):
        a.lerp_(p, 1.0 - decay)


def check_same_config(checkpoint: Path, config_hash: str, exp: ExperimentConfig) -> None:
    """A run only continues a checkpoint of the same config."""
    if config_hash != exp.hash():
        raise ConfigError(
            f"{checkpoint}: written by a different config; use another name/out or delete "
            f"{exp.out_dir}"
        )


def to_device(batch: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """A numpy batch as tensors on ``device``."""
    return {k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in batch.items()}


def policy_config(exp: ExperimentConfig, data: TrainingData, stage: StageConfig) -> PolicyConfig:
    """The modules a stage needs: the adaptors and embodiments of its domains."""
    embodiments = sorted({keys.EMBODIMENT_OF[d] for d in stage.mixing})
    return PolicyConfig(
        arch=exp.model,
        image_height=data.info.image_height,
        image_width=data.info.image_width,
        adaptors=tuple(
            sorted({keys.adaptor_of(d, exp.model.shared_adaptor) for d in stage.mixing})
        ),
        embodiments={
            e: (data.spaces[e].proprio_dim, data.spaces[e].action_dim) for e in embodiments
        },
    )


def init_checkpoint(exp: ExperimentConfig, stage: StageConfig) -> Path | None:
    """What starts ``stage``: an earlier stage's selected weights (best.pt), another
    experiment's checkpoint file, or nothing (None: fresh weights)."""
    if stage.init_from is None:
        return None
    if stage.init_from in {s.name for s in exp.stages}:
        return exp.out_dir / stage.init_from / BEST
    return Path(stage.init_from)


class StageTrainer:
    """Trains one stage: batches mixed across domains, flow-matching loss plus the optional
    discernibility and alignment losses, evaluation with diagnostics, checkpoints."""

    def __init__(
        self,
        exp: ExperimentConfig,
        index: int,
        data: TrainingData,
        device: torch.device,
    ) -> None:
        self.exp, self.stage, self.index = exp, exp.stages[index], index
        self.data, self.device = data, device
        self.dir = exp.out_dir / self.stage.name
        self.domains = list(self.stage.mixing)
        torch.manual_seed(exp.seed + index)
        self.rng = np.random.default_rng([exp.seed, index])
        self.policy = ModularPolicy(policy_config(exp, data, self.stage)).to(device)
        self.origin = {p: "fresh" for p in ("backbone", "trunk")}
        self.parents: list[dict] = []  # the lineage of the weights this stage starts from
        source = init_checkpoint(exp, self.stage)
        if source is not None:
            _, previous = load_policy(source)
            check_fits(previous, source, data.info.joint_names, data.spaces)
            init_map = shared_init_map(self.stage.init_map, exp.model.shared_adaptor)
            self.origin = initialize_from(self.policy, previous["policy"], init_map)
            self.parents = list(previous["lineage"])
        self.freeze(self.stage.freeze)
        # the weights evaluated, selected and exported: a moving average of self.policy's
        self.averaged = copy.deepcopy(self.policy).requires_grad_(False)
        self.classifier = DomainClassifier(exp.model.d_model, len(self.domains)).to(device)
        trained = [p for p in self.policy.parameters() if p.requires_grad]
        params = [*trained, *self.classifier.parameters()]
        self.optimizer = torch.optim.AdamW(
            params, lr=self.stage.lr, weight_decay=self.stage.weight_decay
        )
        self.train_windows = {d: data.windows(d, "train") for d in self.domains}
        self.shares = batch_shares(
            self.stage.mixing, self.stage.batch_size, self.stage.batch_mixing
        )
        self.step = 0
        self.best = math.inf  # the selection metric of best.pt

    def freeze(self, paths: tuple[str, ...]) -> None:
        """Keep the modules at ``paths`` as they start: no gradient, no optimiser state."""
        known = module_paths(self.policy)
        unknown = [
            p for p in paths if p not in known and not any(k.startswith(f"{p}.") for k in known)
        ]
        if unknown:
            raise ConfigError(
                f"stage '{self.stage.name}': freeze names {unknown}, not modules of its policy "
                f"{known}"
            )
        for path in paths:
            self.policy.get_submodule(path).requires_grad_(False)

    # -- training -------------------------------------------------------------------------

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to a tenth of the stage's rate."""
        s = self.stage
        if step < s.warmup_steps:
            return s.lr * (step + 1) / s.warmup_steps
        progress = (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps)
        return s.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    def sample_batch(self) -> dict[str, dict[str, torch.Tensor]]:
        """One mixed batch: per domain, its share of windows on the device."""
        return {
            d: to_device(self.train_windows[d].sample(self.rng, n), self.device)
            for d, n in self.shares.items()
        }

    def domain_weights(self) -> dict[str, float]:
        """Each domain's weight in the flow loss: its share of the batch when the batch is
        mixed proportionally (the mixing ratio is applied once, by sampling), its mixing
        weight when the batch is balanced (importance reweighting)."""
        if self.stage.batch_mixing == "balanced":
            return dict(self.stage.mixing)
        total = sum(self.shares.values())
        return {d: n / total for d, n in self.shares.items()}

    def losses(self, batch: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Weighted flow-matching loss over domains, the auxiliary losses on f(o)
        (discernibility: a domain classifier; adversarial alignment: the same classifier
        behind a gradient reversal; optimal-transport alignment: the 2-Wasserstein distance
        between each pair of domains in the batch), and their sum; training images and
        proprioception are augmented."""
        flow = torch.zeros((), device=self.device)
        latents = {}
        weights = self.domain_weights()
        for domain, b in batch.items():
            embodiment = keys.EMBODIMENT_OF[domain]
            images = augment_images(b[keys.OBS_IMAGE], self.exp.augment)
            proprio = noisy_proprio(b[keys.OBS_PROPRIO], self.exp.augment)
            cond, latents[domain] = self.policy.encode(
                images, proprio, self.adaptor_of(domain), embodiment
            )
            per_sample = flow_matching_loss(self.policy, cond, b[keys.ACTION], embodiment, domain)
            flow = flow + weights[domain] * per_sample.mean()
        out = {"flow_loss": flow}
        total = flow
        s = self.stage
        if (s.domain_classifier_weight > 0 or s.adversarial_weight > 0) and len(latents) > 1:
            z = torch.cat(list(latents.values()))
            if s.adversarial_weight > 0:  # the classifier learns, the encoder is reversed
                logits = self.classifier(reverse_gradient(z, s.adversarial_weight))
            else:
                logits = self.classifier(z)
            labels = torch.cat(
                [
                    torch.full((len(x),), i, device=self.device)
                    for i, x in enumerate(latents.values())
                ]
            )
            out["classifier_loss"] = torch.nn.functional.cross_entropy(logits, labels)
            # discernibility weighs the whole loss; adversarially, the classifier learns at
            # full rate and the encoder at -adversarial_weight (the reversal's scale)
            weight = s.domain_classifier_weight if s.domain_classifier_weight > 0 else 1.0
            total = total + weight * out["classifier_loss"]
        if s.alignment_weight > 0 and len(latents) > 1:
            pairs = list(combinations(latents.values(), 2))
            out["alignment_loss"] = torch.stack([wasserstein(a, b) for a, b in pairs]).mean()
            total = total + s.alignment_weight * out["alignment_loss"]
        out["loss"] = total
        return out

    def train_step(self) -> dict[str, float]:
        """One optimiser step; returns the step's losses."""
        self.policy.train()
        lr = self.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        losses = self.losses(self.sample_batch())
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.stage.grad_clip)
        self.optimizer.step()
        self.step += 1
        update_ema(self.averaged, self.policy, ema_decay(self.stage.ema, self.step))
        return {**{k: v.item() for k, v in losses.items()}, "lr": lr}

    # -- evaluation -----------------------------------------------------------------------

    def _fixed_windows(self, windows: DomainWindows) -> dict[str, torch.Tensor]:
        anchors = windows.sampler.anchors
        pick = np.linspace(0, len(anchors) - 1, min(self.stage.eval_samples, len(anchors)))
        return to_device(windows.batch(anchors[pick.round().astype(int)]), self.device)

    def _eval_windows(self, domain: str) -> DomainWindows | None:
        for split in ("val", "train"):  # a domain with one episode has no validation split
            windows = self.data.windows(domain, split)
            if len(windows):
                return windows
        return None

    @torch.no_grad()
    def evaluate(self) -> tuple[dict[str, float], dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Validation flow loss and sampled-chunk MSE (normalised units) of the stage's
        domains, then latent diagnostics over every store domain this policy can see; all of
        the moving-average weights. Also, per domain, the first window's sampled and
        demonstrated chunks [H, A] (for the logs' figures)."""
        policy = self.averaged.eval()
        generator = torch.Generator(device=self.device).manual_seed(EVAL_SEED)
        out: dict[str, float] = {"val_loss": 0.0, "val_action_mse": 0.0}
        examples = {}
        steps = self.exp.model.num_sampling_steps
        for domain, weight in self.stage.mixing.items():
            windows = self._eval_windows(domain)
            b = self._fixed_windows(windows)
            embodiment = keys.EMBODIMENT_OF[domain]
            cond, _ = policy.encode(
                b[keys.OBS_IMAGE], b[keys.OBS_PROPRIO], self.adaptor_of(domain), embodiment
            )
            loss = flow_matching_loss(policy, cond, b[keys.ACTION], embodiment, domain, generator)
            noise = torch.randn(b[keys.ACTION].shape, generator=generator, device=self.device)
            chunk = sample_actions(policy, cond, noise, steps, embodiment, domain)
            mse = (chunk - b[keys.ACTION]).pow(2).mean()
            out[f"val_loss/{domain}"] = float(loss.mean())
            out["val_loss"] += weight * float(loss.mean())
            out["val_action_mse"] += weight * float(mse)
            examples[domain] = (chunk[0].cpu().numpy(), b[keys.ACTION][0].cpu().numpy())
        out.update(self.diagnostics())
        return out, examples

    def adaptor_of(self, domain: str) -> str:
        """The visual adaptor ``domain``'s images go through in this experiment."""
        return keys.adaptor_of(domain, self.exp.model.shared_adaptor)

    def diagnostic_domains(self) -> list[str]:
        """Store domains this policy can encode (it has their adaptor and embodiment)."""
        return [
            d
            for d in self.data.domains
            if self.adaptor_of(d) in self.policy.adaptors
            and keys.EMBODIMENT_OF[d] in self.policy.embodiments
        ]

    @torch.no_grad()
    def diagnostics(self) -> dict[str, float]:
        """For each pair of domains, on their held-out windows cut to the same number: the
        2-Wasserstein distance between their f(o) (alignment) and a fresh MLP classifier's
        accuracy at telling them apart, fitted on one half and scored on the other
        (discernibility; chance 0.5)."""
        latents = {}
        for domain in self.diagnostic_domains():
            b = self._fixed_windows(self._eval_windows(domain))
            _, latents[domain] = self.averaged.encode(
                b[keys.OBS_IMAGE],
                b[keys.OBS_PROPRIO],
                self.adaptor_of(domain),
                keys.EMBODIMENT_OF[domain],
            )
        size = min((len(z) for z in latents.values()), default=0)
        out = {}
        for a, b in combinations(sorted(latents), 2):
            za, zb = latents[a][:size], latents[b][:size]
            out[f"wasserstein/{a}-{b}"] = float(wasserstein(za, zb))
            out[f"classifier_accuracy/{a}-{b}"] = domain_classifier_accuracy({a: za, b: zb})
        return out

    def eval_columns(self) -> list[str]:
        """The eval CSV's columns for this stage."""
        pairs = list(combinations(sorted(self.diagnostic_domains()), 2))
        diag = [f"{m}/{a}-{b}" for a, b in pairs for m in ("wasserstein", "classifier_accuracy")]
        return ["val_loss", "val_action_mse", *(f"val_loss/{d}" for d in self.domains), *diag]

    # -- checkpoints ----------------------------------------------------------------------

    def checkpoint(self) -> dict:
        """Everything needed to resume the stage or to export its policy."""
        info = self.data.info
        embodiments = self.policy.config.embodiments
        return {
            "stage": self.stage.name,
            "step": self.step,
            "config_hash": self.exp.hash(),
            "lineage": [
                *self.parents,
                lineage_step(self.exp.name, self.stage.name, self.step, self.exp.hash()),
            ],
            "experiment": self.exp.to_dict(),
            "policy_config": self.policy.config.to_dict(),
            "policy": self.averaged.state_dict(),  # what is exported and built upon
            "raw_policy": self.policy.state_dict(),  # what training resumes from
            "classifier": self.classifier.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": torch.random.get_rng_state(),
            "origin": self.origin,
            "best": self.best,
            "normalization": {e: self.data.normalizers[e].to_dict() for e in embodiments},
            "action_spaces": {e: space_record(self.data.spaces[e]) for e in embodiments},
            "robot": {
                "joint_names": info.joint_names,
                "tool_frame": info.tool_frame,
                "base_frame": info.base_frame,
            },
            "image": {"width": info.image_width, "height": info.image_height},
            "control_hz": info.control_hz,
        }

    def save(self, name: str) -> Path:
        """Write a checkpoint atomically (temporary file, then rename)."""
        path = self.dir / name
        tmp = path.with_suffix(".tmp")
        torch.save(self.checkpoint(), tmp)
        os.replace(tmp, path)
        return path

    def resume(self) -> None:
        """Continue from the stage's latest checkpoint, if any (same config only)."""
        path = self.dir / LATEST
        if not path.is_file():
            return
        state = read_checkpoint(path, self.device)
        check_same_config(path, state["config_hash"], self.exp)
        self.policy.load_state_dict(state["raw_policy"])
        self.averaged.load_state_dict(state["policy"])
        self.classifier.load_state_dict(state["classifier"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["numpy_rng"]
        torch.random.set_rng_state(state["torch_rng"])
        self.origin, self.step, self.best = state["origin"], state["step"], state["best"]

    # -- the loop -------------------------------------------------------------------------

    def run(self, progress: bool = True, on_step: Callable[[], None] | None = None) -> Path:
        """Train to ``steps`` (resuming), evaluating and checkpointing on the way; ``on_step``
        is called before each step (e.g. to change the torch thread count)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.resume()
        train_log = CsvLog(
            self.dir / "train.csv",
            ["loss", "flow_loss", "classifier_loss", "alignment_loss", "lr", "seconds"],
            self.step,
        )
        eval_log = CsvLog(self.dir / "eval.csv", self.eval_columns(), self.step)
        self.board = TensorBoardLog(self.dir, self.step)
        if self.step == 0:
            self.record_evaluation(eval_log)
        s = self.stage
        bar = tqdm(
            total=s.steps, initial=self.step, desc=s.name, unit="step", disable=not progress
        )
        while self.step < s.steps:
            if on_step is not None:
                on_step()
            start = time.perf_counter()
            values = {**self.train_step(), "seconds": time.perf_counter() - start}
            train_log.write(self.step, values)
            self.board.train(self.step, values)
            bar.update()
            bar.set_postfix(loss=f"{values['loss']:.4f}")
            if self.step % s.eval_every == 0 or self.step == s.steps:
                self.record_evaluation(eval_log)
            if self.step % s.checkpoint_every == 0 or self.step == s.steps:
                self.save(LATEST)
        bar.close()
        self.board.close()
        return self.save(FINAL)

    def record_evaluation(self, eval_log: CsvLog) -> None:
        """Evaluate, log, and keep the weights as best.pt when the validation error of
        sampled action chunks is the lowest so far (checkpoint selection)."""
        values, examples = self.evaluate()
        eval_log.write(self.step, values)
        layouts = {d: self.data.spaces[keys.EMBODIMENT_OF[d]].action_layout for d in examples}
        self.board.evaluation(self.step, values, examples, layouts)
        if values[SELECTION_METRIC] < self.best:
            self.best = values[SELECTION_METRIC]
            self.save(BEST)


def run_experiment(
    exp: ExperimentConfig, progress: bool = True, on_step: Callable[[], None] | None = None
) -> dict[str, Path]:
    """Every stage in order (finished ones skipped); returns each stage's selected
    checkpoint (best.pt; final.pt beside it holds the last step). ``on_step`` is called
    before each training step."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic CUDA matmuls
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = select_device(exp.device)
    data = TrainingData(
        Path(exp.data.store),
        exp.data.action_space,
        exp.model.history,
        exp.model.chunk_length,
        exp.data.val_fraction,
        exp.seed,
        list(exp.data.tasks) if exp.data.tasks else None,
        exp.data.episodes,
        exp.data.statistics,
        exp.data.rotation_scale,
    )
    exp = with_mixing_guide(exp, data)
    for stage in exp.stages:  # refuse before anything on disk changes
        latest = exp.out_dir / stage.name / LATEST
        if latest.is_file():
            try:
                written_by = config_hash_of(latest)
            except CheckpointError as err:
                raise CheckpointError(
                    f"{err}; delete it to train stage '{stage.name}' from its start"
                ) from None
            check_same_config(latest, written_by, exp)
    exp.out_dir.mkdir(parents=True, exist_ok=True)
    config = exp.out_dir / "config.yaml"  # replaced whole (a crash leaves the old one)
    partial = config.with_name(".config.yaml.partial")
    partial.write_text(yaml.safe_dump(exp.to_dict(), sort_keys=False))
    os.replace(partial, config)
    finals, stage_dirs = {}, []
    for index, stage in enumerate(exp.stages):
        stage_dir = exp.out_dir / stage.name
        stage_dirs.append((stage.name, stage_dir))
        final = stage_dir / FINAL
        if not (final.is_file() and config_hash_of(final) == exp.hash()):
            trainer = StageTrainer(exp, index, data, device)
            print(f"[{stage.name}] batch {trainer.shares} on {device}; from: {trainer.origin}")
            trainer.run(progress, on_step)
        finals[stage.name] = stage_dir / BEST
        plot_losses(stage_dirs, exp.out_dir / "loss.png")
        plot_diagnostics(stage_dirs, exp.out_dir / "diagnostics.png")
    return finals


def with_mixing_guide(exp: ExperimentConfig, data: TrainingData) -> ExperimentConfig:
    """``exp`` with ``mixing: auto`` stages resolved from the demonstrations they train on;
    prints the mixing guide for every stage that mixes real and sim data."""
    counts = {d: sum(len(ids) for ids in data.splits[d].values()) for d in data.domains}
    stages = []
    for stage in exp.stages:
        if set(stage.domains) >= {keys.REAL, keys.SIM}:
            missing = [d for d in (keys.REAL, keys.SIM) if d not in counts]
            if missing:
                raise ConfigError(
                    f"stage '{stage.name}' mixes real and sim; the store has no {missing} "
                    f"episodes (it has {sorted(counts)})"
                )
            real, sim = counts[keys.REAL], counts[keys.SIM]
            if stage.mixing == AUTO:
                stage = replace(stage, mixing=auto_mixing(real, sim))
            print(f"[{stage.name}] {guide_line(stage.mixing, real, sim)}")
        stages.append(stage)
    return replace(exp, stages=tuple(stages))


def config_hash_of(checkpoint: Path) -> str:
    """The hash of the config that wrote a stage checkpoint (checked to be one)."""
    return read_checkpoint(checkpoint)["config_hash"]


def written_by(checkpoint: Path, exp: ExperimentConfig) -> bool:
    """Whether ``exp``, as asked, wrote a stage checkpoint: the checkpoint holds the config
    it trained with, where each ``mixing: auto`` stage of ``exp`` was resolved from the data."""
    trained_with = read_checkpoint(checkpoint)["experiment"]
    asked = exp.to_dict()
    if len(trained_with["stages"]) != len(asked["stages"]):
        return False
    for mine, theirs in zip(asked["stages"], trained_with["stages"], strict=True):
        if mine["mixing"] == AUTO:
            theirs["mixing"] = AUTO
    return trained_with == asked


def main(argv: list[str] | None = None) -> int:
    """Run an experiment; exit status 2 for a bad config."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="YAML file or packaged config name")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        exp = load_experiment(args.config, args.overrides)
        finals = run_experiment(exp, progress=not args.no_progress)
    except ValueError as err:  # SimhumTrainError, and the values torch and numpy refuse
        print(f"error: {err}", file=sys.stderr)
        return 2
    for stage, path in finals.items():
        print(f"{stage}: {path} (selected on validation; last step: {path.parent / FINAL})")
    print(f"loss curves: {exp.out_dir / 'loss.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
