"""TensorBoard event files beside a stage's CSV logs, for the tools ML users open:

    tensorboard --logdir runs/train/simhum      # one run per stage (pretrain, finetune)

Scalars: ``train/*`` every step (loss terms, learning rate, step time), ``eval/*`` at every
evaluation (validation flow loss, sampled-chunk error per domain) and ``diagnostics/*`` (the
2-Wasserstein distance and classifier accuracy of f(o) per domain pair); figures:
``predictions/<domain>``, a fixed validation window's sampled action chunk against the
demonstrated one, per part of the action (normalised units). The CSV files stay the
record scripts read; these mirror them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from simhum_train.states import Layout

DIAGNOSTIC_PREFIXES = ("wasserstein/", "classifier_accuracy/")


class TensorBoardLog:
    """One stage's event files; a resumed stage hides what was logged after its checkpoint
    (those steps are trained again)."""

    def __init__(self, folder: Path, resume_step: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: events at steps >= it from earlier runs are hidden; a fresh start
        # (step 0) hides every earlier event, a resume keeps the checkpoint's own step
        purge = resume_step + 1 if resume_step else 0
        self.writer = SummaryWriter(log_dir=str(folder), purge_step=purge)

    def train(self, step: int, values: dict[str, float]) -> None:
        """One training step's scalars."""
        self._scalars("train", step, values)

    def evaluation(
        self, step: int, values: dict[str, float], examples: dict[str, tuple], layout: dict
    ) -> None:
        """An evaluation's scalars and, per domain, its predicted-vs-demonstrated figure
        (``examples``: domain -> (predicted, demonstrated) chunks [H, A]; ``layout``: domain
        -> the action layout naming the parts of A)."""
        diagnostics = {k: v for k, v in values.items() if k.startswith(DIAGNOSTIC_PREFIXES)}
        self._scalars("diagnostics", step, diagnostics)
        self._scalars("eval", step, {k: v for k, v in values.items() if k not in diagnostics})
        for domain, (predicted, demonstrated) in examples.items():
            figure = chunk_figure(predicted, demonstrated, layout[domain], domain)
            self.writer.add_figure(f"predictions/{domain}", figure, step, close=True)
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()

    def _scalars(self, prefix: str, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{key}", value, step)


def chunk_figure(predicted: np.ndarray, demonstrated: np.ndarray, layout: Layout, title: str):
    """A matplotlib figure: one panel per part of the action layout, each dimension's
    demonstrated values (solid) and sampled prediction (dashed) over the chunk."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, len(layout), figsize=(3.2 * len(layout), 2.6), squeeze=False)
    steps = np.arange(len(demonstrated))
    for ax, (name, lo, hi) in zip(axes[0], layout, strict=True):
        for dim in range(lo, hi):
            (line,) = ax.plot(steps, demonstrated[:, dim], lw=1.2)
            ax.plot(steps, predicted[:, dim], ls="--", lw=1.2, color=line.get_color())
        ax.set_title(f"{name} ({hi - lo})", fontsize=9)
        ax.set_xlabel("chunk step", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{title}: solid true, dashed sampled", fontsize=8)
    fig.tight_layout()
    return fig
