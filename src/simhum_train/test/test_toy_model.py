"""The toy model of the co-training analysis: the reweighting formula, the measured posterior
weights following it, and alignment acting on the latents (short runs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from simhum_train.toy_model import (
    SIGMA,
    SIM,
    ToyConfig,
    main,
    measure_weights,
    predicted_weights,
    train_cotraining,
)


def test_predicted_weights_are_the_softmax_of_the_analysis() -> None:
    assert predicted_weights(0.3, 0.0, SIGMA)[SIM] == pytest.approx(0.7)  # pure reweighting
    # g_sim = (1 - w) exp(-r^2 / 2 sigma^2) / (w + (1 - w) exp(...))
    far = math.exp(-(0.3**2) / SIGMA**2 / 2)
    assert predicted_weights(0.5, 0.3, SIGMA)[SIM] == pytest.approx(far / (1 + far))


def test_a_flow_policy_mixes_the_action_modes_by_the_batch_ratio() -> None:
    """With both domains' latents at the query (r = 0), the share of sim-mode samples is the
    sim share of the batch."""
    measured = measure_weights(ToyConfig(steps=1500, real_share=0.25), 0.0, SIGMA)
    assert measured[SIM] == pytest.approx(0.75, abs=0.08)


def test_alignment_pulls_the_domains_latents_together() -> None:
    config = ToyConfig(steps=300)
    apart, aligned = train_cotraining(config, 0.0), train_cotraining(config, 3.0)
    assert aligned["wasserstein"] < 0.3 * apart["wasserstein"]
    assert apart["classifier_accuracy"] > 0.95  # disjoint manifolds, nothing aligns them


def test_the_command_writes_results_and_plots(tmp_path: Path, capsys) -> None:
    out = tmp_path / "toy.json"
    assert main(["--out", str(out), "--plots", str(tmp_path), "--steps", "20"]) == 0
    result = json.loads(out.read_text())
    assert len(result["alignment_sweep"]) == 9 and len(result["reweighting"]) == 10
    assert {"measured_sim_weight", "predicted_sim_weight"} <= set(result["reweighting"][0])
    for name in ("toy_alignment.png", "toy_reweighting.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    assert "largest |measured - predicted|" in capsys.readouterr().out


def test_a_bad_step_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--steps must be at least 1"):
        main(["--out", str(tmp_path / "toy.json"), "--steps", "0"])
    assert list(tmp_path.iterdir()) == []
