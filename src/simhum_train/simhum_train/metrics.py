"""CSV metric logs (resumable) and the PNG plots of an experiment's stages: the losses, and
the representation diagnostics over training."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


class CsvLog:
    """One CSV file with a fixed header; rows appended and flushed as they come."""

    def __init__(self, path: Path, columns: list[str], resume_step: int = 0) -> None:
        self.path, self.columns = Path(path), ["step", *columns]
        kept = [r for r in read_csv(self.path) if int(r["step"]) <= resume_step]
        # rows past a resumed checkpoint were never saved with the weights: drop them
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows({k: r.get(k, "") for k in self.columns} for r in kept)

    def write(self, step: int, values: dict[str, float]) -> None:
        """Append one row (unknown columns are an error; missing ones stay empty)."""
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.columns).writerow({"step": step, **values})


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV log (none if the file does not exist)."""
    if not Path(path).is_file():
        return []
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


def plot_losses(stage_dirs: list[tuple[str, Path]], out: Path) -> None:
    """Training loss (smoothed) and validation loss of each stage on one step axis, stage
    boundaries marked; written to ``out`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    offset = 0
    for name, folder in stage_dirs:
        train = read_csv(folder / "train.csv")
        evals = read_csv(folder / "eval.csv")
        if not train and not evals:
            continue
        if train:
            steps = np.array([int(r["step"]) for r in train]) + offset
            loss = np.array([float(r["loss"]) for r in train])
            ax.plot(steps, loss, alpha=0.25, lw=0.8)
            ax.plot(
                steps, _smooth(loss), lw=1.5, label=f"{name} train", color=ax.lines[-1].get_color()
            )
        if evals:
            steps = np.array([int(r["step"]) for r in evals]) + offset
            ax.plot(steps, [float(r["val_loss"]) for r in evals], "o-", ms=3, label=f"{name} val")
        end = max(int(r["step"]) for r in train + evals)
        if offset:
            ax.axvline(offset, color="grey", ls="--", lw=0.8)
        offset += end
    ax.set_xlabel("step (stages back to back)")
    ax.set_ylabel("flow-matching loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


DIAGNOSTICS = {
    "wasserstein": "2-Wasserstein distance of f(o)",
    "classifier_accuracy": "held-out domain classifier accuracy (chance 0.5)",
}


def plot_diagnostics(stage_dirs: list[tuple[str, Path]], out: Path) -> bool:
    """Alignment (2-Wasserstein) and discernibility (classifier accuracy) of each domain
    pair over training, stages back to back; written to ``out`` (PNG) when any stage logged
    them. Returns whether it wrote the plot."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    offset, drawn = 0, False
    for name, folder in stage_dirs:
        evals = read_csv(folder / "eval.csv")
        if not evals:
            continue
        steps = np.array([int(r["step"]) for r in evals]) + offset
        for ax, (metric, label) in zip(axes, DIAGNOSTICS.items(), strict=True):
            for column in (c for c in evals[0] if c.startswith(f"{metric}/")):
                pair = column.split("/", 1)[1]
                ax.plot(
                    steps, [float(r[column]) for r in evals], "o-", ms=3, label=f"{name} {pair}"
                )
                drawn = True
            ax.set_ylabel(label)
        if offset:
            for ax in axes:
                ax.axvline(offset, color="grey", ls="--", lw=0.8)
        offset = int(steps[-1])
    if drawn:
        for ax in axes:
            ax.set_xlabel("step (stages back to back)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out, dpi=110)
    plt.close(fig)
    return drawn


def _smooth(values: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    out, acc = np.empty_like(values), values[0]
    for i, v in enumerate(values):
        acc = alpha * v + (1 - alpha) * acc
        out[i] = acc
    return out
