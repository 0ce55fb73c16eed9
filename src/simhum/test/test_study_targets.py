"""The targets checked on a study's rows: thresholds, margins in standard errors of the
difference, the OOD mean and ratio, the outer grid and the data-efficiency point."""

from __future__ import annotations

import math

import pytest

from simhum.study_targets import OOD_VARIANTS, Rate, margin_in_se, points, target_checks

TASK = "pick_place"


def row(method: str, variant: str, successes: int, demos: int = 20, n: int = 20) -> dict:
    p = successes / n
    return {
        "method": method,
        "task": TASK,
        "variant": variant,
        "real_demos": demos,
        "episodes": n,
        "success_rate": p,
        "success_rate_se": math.sqrt(p * (1 - p) / n),
    }


def study(simhum_id: int, simhum_ood: int, baseline: int) -> list[dict]:
    """Every method on every variant: SimHum's successes in and out of distribution, the
    baselines' everywhere; outer grid: sim-pre-trained 10, human_to_real 5."""
    rows = []
    for method in ("real_only", "sim_to_real", "human_to_real", "cotrain_sim_real", "simhum"):
        ours = method == "simhum"
        rows.append(row(method, "real", simhum_id if ours else baseline))
        rows += [row(method, v, simhum_ood if ours else baseline) for v in OOD_VARIANTS]
        rows.append(row(method, "outer_grid", 5 if method == "human_to_real" else 10))
    return rows


def by_target(checks) -> dict[str, bool]:
    return {c.target: c.met for c in checks}


def test_a_study_that_meets_every_target() -> None:
    rows = study(simhum_id=18, simhum_ood=12, baseline=2)
    rows += [row("simhum", "real", 15, demos=10), row("real_only", "real", 14, demos=40)]
    checks = by_target(target_checks(rows, (TASK,), 20))
    assert len(checks) == 8 and all(checks.values()), checks


def test_the_thresholds_margins_and_ratio_fail_where_they_should() -> None:
    rows = study(simhum_id=13, simhum_ood=9, baseline=8)  # 65 % and 45 %: below 70 and 50
    rows += [row("simhum", "real", 10, demos=10), row("real_only", "real", 11, demos=40)]
    checks = by_target(target_checks(rows, (TASK,), 20))
    assert not checks["pick_place: SimHum in distribution >= 70 %"]
    assert not checks["pick_place: SimHum mean over the OOD variants >= 50 %"]
    # 65 vs 40 % over 20 episodes each is 1.6 standard errors of the difference: not > 2
    assert not checks["pick_place: SimHum above every baseline by > 2 SE, in distribution"]
    assert not checks["pick_place: OOD success SimHum / real-only >= 2x"]  # 45 / 40 %
    assert not checks["pick_place, real: SimHum with 10 real demos >= real-only with 40"]
    assert checks["pick_place: outer grid, simhum (sim in pre-training) above human_to_real"]


def test_the_margin_uses_the_standard_error_of_the_difference() -> None:
    assert margin_in_se(Rate(0.6, 0.3), Rate(0.2, 0.4)) == pytest.approx(0.8)
    assert margin_in_se(Rate(0.1, 0.0), Rate(0.0, 0.0)) == math.inf
    assert margin_in_se(Rate(0.0, 0.0), Rate(0.0, 0.0)) == 0.0


def test_no_success_at_all_meets_no_ratio_and_missing_rows_are_not_checked() -> None:
    rows = study(simhum_id=0, simhum_ood=0, baseline=0)
    checks = by_target(target_checks(rows, (TASK,), 20))
    assert not checks["pick_place: OOD success SimHum / real-only >= 2x"]  # 0 / 0
    assert not any("10 real demos" in target for target in checks)  # no curve rows
    assert target_checks(rows, ("push",), 20) == []


def test_points_round_halves_up() -> None:
    # pooled seeds give half percents (17/40 = 42.5 %); format's rounding printed 42 and 57
    assert [points(k / 40) for k in (17, 23, 15, 1)] == ["43", "58", "38", "3"]
    assert [points(p) for p in (0.0, 1.0, 1 / 60, 0.584)] == ["0", "100", "2", "58"]
    assert str(Rate(0.425, 0.075)) == "43 ± 8 %"
