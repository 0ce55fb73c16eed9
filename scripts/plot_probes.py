"""Plot docs/results/quick_recipe_probes.json: each probe run's lock-step success on
validation seeds, with its binomial standard error, coloured by recipe; and, where the file
has one, the ensembling-decay sweep (success against decay, one line per training seed) and
its confirmation round on new validation seeds; and the pre-training length comparison.

    python scripts/plot_probes.py [--results docs/results/quick_recipe_probes.json]
"""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from simhum.study_targets import binomial_se


def label(run: dict) -> str:
    """'recipe / seed S' (and the pre-training seed where it differs, and the machine)."""
    text = f"{run['recipe']}\nseed {run['training_seed']}"
    if run["pretrain_seed"] != run["training_seed"]:
        text += f" (pt {run['pretrain_seed']})"
    if "machine" in run:
        text += f"\n{run['machine'].split(',')[0]}"
    return text


def rate_and_se(successes: int, episodes: int) -> tuple[float, float]:
    """Success rate and its binomial standard error."""
    p = successes / episodes
    return p, binomial_se(p, episodes)


def pooled_rate(rows: list[dict], value: str) -> tuple[float, float]:
    """Success rate and standard error of the rows at one ensembling decay, pooled."""
    chosen = [r for r in rows if r["ensemble_decay"] == value]
    return rate_and_se(sum(r["successes"] for r in chosen), sum(r["episodes"] for r in chosen))


def plot_sweep(ax, sweep: dict, confirmation: dict | None) -> None:
    """Success against ensembling decay, one line per training seed, plus the pooled rate
    (and the confirmation round's pooled rate where there is one)."""
    rows = sweep["rows"]
    values = sorted({r["ensemble_decay"] for r in rows}, key=lambda v: (v == "off", v))
    for seed in sorted({r["training_seed"] for r in rows}):
        points = {r["ensemble_decay"]: r for r in rows if r["training_seed"] == seed}
        xs = [i for i, v in enumerate(values) if v in points]
        ys = [points[values[i]]["successes"] / points[values[i]]["episodes"] for i in xs]
        ax.plot(xs, ys, "o-", alpha=0.6, label=f"seed {seed}")
    pooled = [pooled_rate(rows, v) for v in values]
    ax.errorbar(
        range(len(values)),
        [p for p, _ in pooled],
        yerr=[se for _, se in pooled],
        fmt="s-",
        color="black",
        capsize=4,
        label="pooled",
    )
    if confirmation:
        again = [v for v in values if any(r["ensemble_decay"] == v for r in confirmation["rows"])]
        points = [pooled_rate(confirmation["rows"], v) for v in again]
        ax.errorbar(
            [values.index(v) + 0.15 for v in again],
            [p for p, _ in points],
            yerr=[se for _, se in points],
            fmt="D",
            color="tab:red",
            capsize=4,
            label=f"pooled, confirmation ({confirmation['seeds']})",
        )
    ax.set_xticks(range(len(values)), values)
    ax.set_xlabel("ensembling decay per control step (0.5 packaged)")
    ax.set_ylim(0, 1)
    ax.set_title(
        "real20 models, other ensembling decays\n(pooled over the seeds scored at each value)",
        fontsize=9,
    )
    ax.legend(fontsize=7)


def plot_pretrain_length(ax, probe: dict) -> None:
    """Success per training seed and pre-training length, with binomial standard errors."""
    rows = probe["rows"]
    lengths = sorted({r["pretrain_steps"] for r in rows})
    seeds = sorted({r["training_seed"] for r in rows})
    width = 0.8 / len(lengths)
    for i, steps in enumerate(lengths):
        chosen = {r["training_seed"]: r for r in rows if r["pretrain_steps"] == steps}
        points = [rate_and_se(chosen[s]["successes"], chosen[s]["episodes"]) for s in seeds]
        ax.bar(
            [k + (i - (len(lengths) - 1) / 2) * width for k in range(len(seeds))],
            [p for p, _ in points],
            width,
            yerr=[se for _, se in points],
            capsize=4,
            label=f"{steps} pre-training steps",
        )
    ax.set_xticks(range(len(seeds)), [f"seed {s}" for s in seeds])
    ax.set_ylim(0, 1)
    ax.set_title(f"real20, pre-training length\n({probe['seeds']})", fontsize=9)
    ax.legend(fontsize=7)


def plot(results: Path) -> Path:
    """Write the figure next to ``results`` (same name, .png); returns its path."""
    data = json.loads(results.read_text())
    runs = data["runs"]
    recipes = list(dict.fromkeys(r["recipe"] for r in runs))
    colours = {name: plt.cm.tab10(i % 10) for i, name in enumerate(recipes)}
    rates, errors = zip(*(rate_and_se(r["successes"], r["episodes"]) for r in runs), strict=True)
    sweep = data.get("ensemble_decay_sweep")
    length = data.get("pretrain_length")
    ratios = [len(runs)] + [6] * bool(sweep) + [4] * bool(length)
    fig, axes = plt.subplots(
        1,
        len(ratios),
        figsize=(max(8.0, 0.85 * len(runs)) + 5 * (len(ratios) - 1), 4.6),
        gridspec_kw={"width_ratios": ratios},
        squeeze=False,
    )
    ax = axes[0, 0]
    ax.bar(
        range(len(runs)),
        rates,
        yerr=errors,
        capsize=4,
        color=[colours[r["recipe"]] for r in runs],
    )
    ax.set_xticks(range(len(runs)), [label(r) for r in runs], fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"success, {runs[0]['episodes']} validation episodes")
    ax.set_title(
        f"Quick recipe probes (proxy-real, lock-step, {data['seeds']})\n" + data.get("legend", ""),
        fontsize=9,
    )
    if sweep:
        plot_sweep(axes[0, 1], sweep, data.get("ensemble_decay_confirmation"))
    if length:
        plot_pretrain_length(axes[0, -1], length)
    fig.tight_layout()
    out = results.with_suffix(".png")
    fig.savefig(out, dpi=110)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results", type=Path, default=Path("docs/results/quick_recipe_probes.json")
    )
    print(plot(parser.parse_args().results))


if __name__ == "__main__":
    main()
