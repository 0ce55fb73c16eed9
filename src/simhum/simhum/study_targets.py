"""The policy-learning work's targets, checked against a study's result rows.

Each check compares success rates of study.json rows (method, task, variant, real_demos);
"above by more than 2 standard errors" uses the standard error of the difference,
sqrt(se_a^2 + se_b^2), and an out-of-distribution mean is the plain mean of the OOD
variants with its standard error sqrt(sum se^2) / k. Where both rows hold per-episode
successes, the margin is also checked on the paired difference (same training seed, same
evaluation scene; ``paired_difference``). A check whose rows the study did not produce is
left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

SIMHUM, REAL_ONLY = "simhum", "real_only"
BASELINES = ("real_only", "sim_to_real", "human_to_real", "cotrain_sim_real")
SIM_PRETRAINED, HUMAN_PRETRAINED = ("sim_to_real", SIMHUM), "human_to_real"
IN_DISTRIBUTION, OUTER_GRID = "real", "outer_grid"
OOD_VARIANTS = ("real_ood_background", "real_ood_distractors", "real_ood_lighting")
OOD_MEAN = "OOD mean"
ID_TARGET, OOD_TARGET, OOD_RATIO, MARGIN_SE = 0.70, 0.50, 2.0, 2.0
FEW_DEMOS, MANY_DEMOS = 10, 40

Key = tuple[str, str, int, str]  # method, task, real demonstrations, variant


@dataclass(frozen=True)
class Rate:
    """A success rate with its standard error."""

    value: float
    se: float

    def __str__(self) -> str:
        return f"{points(self.value)} ± {points(self.se)} %"


@dataclass(frozen=True)
class Check:
    """One target: what it asks, what was measured, whether it is met."""

    target: str
    measured: str
    met: bool


def points(fraction: float) -> str:
    """A fraction as whole percentage points, halves rounded up: 0.425 -> '43' (format's
    round-half-even on binary floats would print '42', and 0.575 as '57')."""
    return str(math.floor(100 * fraction + 0.5 + 1e-9))


def binomial_se(rate: float, episodes: int) -> float:
    """The binomial standard error of a success rate over ``episodes`` (0 for none)."""
    return math.sqrt(rate * (1 - rate) / episodes) if episodes else 0.0


def rate(index: Mapping[Key, dict], key: Key) -> Rate | None:
    """The success rate of one row, if the study has it."""
    row = index.get(key)
    return Rate(row["success_rate"], row["success_rate_se"]) if row else None


def ood_mean(index: Mapping[Key, dict], method: str, task: str, demos: int) -> Rate | None:
    """The mean over the out-of-distribution variants (None unless every one was run)."""
    rates = [rate(index, (method, task, demos, v)) for v in OOD_VARIANTS]
    if any(r is None for r in rates):
        return None
    k = len(rates)
    return Rate(sum(r.value for r in rates) / k, math.sqrt(sum(r.se**2 for r in rates)) / k)


def margin_in_se(a: Rate, b: Rate) -> float:
    """How many standard errors of the difference ``a`` lies above ``b`` (inf when both are
    exact and a > b)."""
    se = math.hypot(a.se, b.se)
    if se == 0:
        return math.inf if a.value > b.value else 0.0
    return (a.value - b.value) / se


def paired_difference(ours: list[dict], theirs: list[dict]) -> Rate | None:
    """Mean success difference ``ours`` - ``theirs`` over the same episodes: each list is a
    method's rows of the variants compared (one, or the OOD variants for their mean), with
    per-episode ``successes`` of the same training seeds and evaluation seeds. Standard error:
    the larger of the scenes' (sd of each scene's seed-mean difference / sqrt(scenes)) and
    the training seeds' spread (sd of each seed's mean difference / sqrt(seeds), 2 or more),
    as for a pooled rate. None unless both hold comparable successes over 2+ scenes."""
    import numpy as np

    if not ours or len(ours) != len(theirs):
        return None
    for a, b in zip(ours, theirs, strict=True):
        same = ("successes" in a and "successes" in b) and all(
            a.get(k) == b.get(k) for k in ("variant", "training_seeds", "seeds")
        )
        if not same:
            return None
    diff = np.array([a["successes"] for a in ours], float) - np.array(
        [b["successes"] for b in theirs], float
    )  # variant x training seed x scene
    scenes = diff.mean(axis=1).ravel()
    if scenes.size < 2:
        return None
    se = float(np.std(scenes, ddof=1) / np.sqrt(scenes.size))
    per_seed = diff.mean(axis=(0, 2))
    if per_seed.size > 1:
        se = max(se, float(np.std(per_seed, ddof=1) / np.sqrt(per_seed.size)))
    return Rate(float(diff.mean()), se)


def difference_in_se(d: Rate) -> float:
    """How many standard errors a difference lies above zero (inf when exact and > 0)."""
    if d.se == 0:
        return math.inf if d.value > 0 else 0.0
    return d.value / d.se


def signed_points(d: Rate) -> str:
    """A difference in percentage points with its sign and standard error: '+12 ± 8'."""
    return f"{'-' if d.value < 0 else '+'}{points(abs(d.value))} ± {points(d.se)}"


def paired_rows(
    index: Mapping[Key, dict], method: str, task: str, demos: int, label: str
) -> list[dict]:
    """A method's rows compared under ``label``: one variant, or 'OOD mean' (the OOD ones)."""
    variants = OOD_VARIANTS if label == OOD_MEAN else (label,)
    return [index[method, task, demos, v] for v in variants if (method, task, demos, v) in index]


def task_checks(index: Mapping[Key, dict], task: str, demos: int) -> list[Check]:
    """SimHum's targets on one task at the table's count of real demonstrations."""
    checks = []
    simhum_id = rate(index, (SIMHUM, task, demos, IN_DISTRIBUTION))
    simhum_ood = ood_mean(index, SIMHUM, task, demos)
    if simhum_id:
        checks.append(
            Check(
                f"{task}: SimHum in distribution >= 70 %",
                str(simhum_id),
                simhum_id.value >= ID_TARGET,
            )
        )
    if simhum_ood:
        checks.append(
            Check(
                f"{task}: SimHum mean over the OOD variants >= 50 %",
                str(simhum_ood),
                simhum_ood.value >= OOD_TARGET,
            )
        )
    for label, ours, theirs in (
        ("in distribution", simhum_id, lambda m: rate(index, (m, task, demos, IN_DISTRIBUTION))),
        ("OOD mean", simhum_ood, lambda m: ood_mean(index, m, task, demos)),
    ):
        others = {m: theirs(m) for m in BASELINES}
        others = {m: r for m, r in others.items() if r is not None}
        if ours and others:
            margins = {m: margin_in_se(ours, r) for m, r in others.items()}
            closest = min(margins, key=margins.get)
            checks.append(
                Check(
                    f"{task}: SimHum above every baseline by > 2 SE, {label}",
                    f"closest {closest} {others[closest]}: {margins[closest]:+.1f} SE "
                    f"({len(others)} of {len(BASELINES)} baselines)",
                    margins[closest] > MARGIN_SE and len(others) == len(BASELINES),
                )
            )
    for label in (IN_DISTRIBUTION, OOD_MEAN):
        ours = paired_rows(index, SIMHUM, task, demos, label)
        diffs = {
            m: paired_difference(ours, paired_rows(index, m, task, demos, label))
            for m in BASELINES
        }
        diffs = {m: d for m, d in diffs.items() if d is not None}
        if diffs:
            margins = {m: difference_in_se(d) for m, d in diffs.items()}
            closest = min(margins, key=margins.get)
            checks.append(
                Check(
                    f"{task}: SimHum above every baseline by > 2 SE of the paired difference, "
                    f"{'in distribution' if label == IN_DISTRIBUTION else label}",
                    f"closest {closest}: {signed_points(diffs[closest])} points, "
                    f"{margins[closest]:+.1f} SE ({len(diffs)} of {len(BASELINES)} paired)",
                    margins[closest] > MARGIN_SE and len(diffs) == len(BASELINES),
                )
            )
    real_ood = ood_mean(index, REAL_ONLY, task, demos)
    if simhum_ood and real_ood:
        ratio = simhum_ood.value / real_ood.value if real_ood.value else math.inf
        met = ratio >= OOD_RATIO if simhum_ood.value else False
        checks.append(
            Check(
                f"{task}: OOD success SimHum / real-only >= 2x",
                f"{simhum_ood} / {real_ood}",
                met,
            )
        )
    human = rate(index, (HUMAN_PRETRAINED, task, demos, OUTER_GRID))
    for method in SIM_PRETRAINED:
        ours = rate(index, (method, task, demos, OUTER_GRID))
        if ours and human:
            checks.append(
                Check(
                    f"{task}: outer grid, {method} (sim in pre-training) above human_to_real",
                    f"{ours} vs {human}",
                    ours.value > human.value,
                )
            )
    return checks


def curve_check(index: Mapping[Key, dict], task: str, variant: str) -> list[Check]:
    """SimHum with 10 real demonstrations at least as good as real-only with 40."""
    few = rate(index, (SIMHUM, task, FEW_DEMOS, variant))
    many = rate(index, (REAL_ONLY, task, MANY_DEMOS, variant))
    if not (few and many):
        return []
    return [
        Check(
            f"{task}, {variant}: SimHum with 10 real demos >= real-only with 40",
            f"{few} vs {many}",
            few.value >= many.value,
        )
    ]


def target_checks(rows: list[dict], tasks: tuple[str, ...], demos: int) -> list[Check]:
    """Every target the rows can check, per task (the table's count of real demonstrations)
    and on the data-efficiency curve."""
    index = {(r["method"], r["task"], r["real_demos"], r["variant"]): r for r in rows}
    checks = [c for task in tasks for c in task_checks(index, task, demos)]
    return checks + [c for task in tasks for c in curve_check(index, task, IN_DISTRIBUTION)]
