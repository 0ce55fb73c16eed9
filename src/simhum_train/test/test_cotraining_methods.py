"""The co-training methods of the analysis: adversarial alignment reverses the classifier's
gradient into the encoder, optimal-transport alignment pulls domains together, and
classifier-free guidance on the domain label trains with label dropout and is applied by the
exported sampler, whose contract records it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from simhum_core.onnx_policy import OnnxPolicy
from simhum_train.checkpoint import load_policy
from simhum_train.dataset import TrainingData
from simhum_train.diagnostics import reverse_gradient, wasserstein
from simhum_train.experiment import ConfigError, load_experiment
from simhum_train.export import (
    PARITY_TOLERANCE,
    export_onnx,
    parity,
    random_observation,
    torch_sample,
)
from simhum_train.keys import DOMAINS
from simhum_train.normalize import Normalizer
from simhum_train.policy.flow import training_labels
from simhum_train.policy.modeling import NULL_DOMAIN
from simhum_train.train import StageTrainer, run_experiment

COTRAIN = "stages=[{name: cotrain, mixing: {sim: 0.5, real: 0.5}, steps: 2, batch_size: 8}]"


def trainer(store_path: Path, tiny_config: Path, *overrides: str) -> StageTrainer:
    exp = load_experiment(tiny_config, [f"data.store={store_path}", COTRAIN, *overrides])
    data = TrainingData(store_path, "relative_ee", 2, 4, 0.34, 0)
    return StageTrainer(exp, 0, data, torch.device("cpu"))


def classifier_gradient(t: StageTrainer) -> torch.Tensor:
    """The backbone's gradient from the classifier loss alone on a fixed batch."""
    torch.manual_seed(0)
    t.rng = np.random.default_rng(0)
    t.policy.zero_grad()
    t.losses(t.sample_batch())["classifier_loss"].backward()
    return torch.cat([p.grad.flatten() for p in t.policy.backbone.parameters()])


def test_adversarial_alignment_reverses_the_discernibility_gradient(
    store_path: Path, tiny_config: Path
) -> None:
    apart = trainer(store_path, tiny_config, "stages.0.domain_classifier_weight=1.0")
    together = trainer(store_path, tiny_config, "stages.0.adversarial_weight=0.3")
    together.policy.load_state_dict(apart.policy.state_dict())
    together.classifier.load_state_dict(apart.classifier.state_dict())
    g_apart, g_together = classifier_gradient(apart), classifier_gradient(together)
    assert g_apart.abs().max() > 0
    torch.testing.assert_close(g_together, -0.3 * g_apart, rtol=1e-4, atol=1e-7)
    # the classifier itself still learns to tell the domains apart (no reversal there)
    x = torch.ones(3, requires_grad=True)
    reverse_gradient(x, 0.3).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((3,), -0.3))


def test_optimal_transport_loss_pulls_two_domains_together() -> None:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(64, 8, generator=generator).requires_grad_(True)
    b = torch.randn(64, 8, generator=generator) + 2.0
    optimizer = torch.optim.SGD([a], lr=50.0)  # a point's gradient is ~1/64 of its offset
    before = float(wasserstein(a, b).detach())
    for _ in range(20):
        optimizer.zero_grad()
        wasserstein(a, b).backward()
        optimizer.step()
    assert float(wasserstein(a, b).detach()) < 0.3 * before


def test_both_classifier_uses_at_once_are_refused(tiny_config: Path) -> None:
    with pytest.raises(ConfigError, match="share one classifier; set one"):
        load_experiment(
            tiny_config,
            ["stages.0.domain_classifier_weight=0.1", "stages.0.adversarial_weight=0.1"],
        )
    with pytest.raises(ConfigError, match="label_dropout must be in"):
        load_experiment(tiny_config, ["model.domain_conditioning=true", "model.label_dropout=0"])


def test_domain_labels_are_dropped_in_training_only(store_path: Path, tiny_config: Path) -> None:
    t = trainer(store_path, tiny_config, "model.domain_conditioning=true")
    policy = t.policy.train()
    generator = torch.Generator().manual_seed(0)
    labels = training_labels(policy, "sim", 4000, torch.device("cpu"), generator)
    dropped = float((labels == NULL_DOMAIN).float().mean())
    assert dropped == pytest.approx(0.2, abs=0.03)
    assert set(labels.unique().tolist()) == {DOMAINS.index("sim"), NULL_DOMAIN}
    labels = training_labels(policy.eval(), "sim", 100, torch.device("cpu"), generator)
    assert (labels == DOMAINS.index("sim")).all()
    plain = trainer(store_path, tiny_config).policy
    assert training_labels(plain, "sim", 4, torch.device("cpu")) is None


@pytest.fixture(scope="module")
def guided(tmp_path_factory, store_path: Path, tiny_config: Path) -> Path:
    """A domain-conditioned sim + real co-training checkpoint (guidance scale 2)."""
    out = tmp_path_factory.mktemp("cfg")
    exp = load_experiment(
        tiny_config,
        [
            f"data.store={store_path}",
            f"out={out}",
            "model.domain_conditioning=true",
            "model.guidance_scale=2.0",
            COTRAIN,
        ],
    )
    return run_experiment(exp, progress=False)["cotrain"]


def test_the_exported_sampler_applies_the_guidance_its_contract_records(
    guided: Path, tmp_path: Path
) -> None:
    encoder = export_onnx(guided, tmp_path, "cfg")
    assert parity(guided, encoder) < PARITY_TOLERANCE  # torch's guided sampler = the graphs
    policy = OnnxPolicy(encoder, providers=["CPUExecutionProvider"])
    assert policy.contract.guidance == ("real", 2.0) and policy.guidance_scale == 2.0
    # the denoiser graph's velocity is v(null) + s (v(real) - v(null)) for the scale s it is
    # given: 0 is unconditional, 1 conditional on the real domain
    model, _ = load_policy(guided)
    rng = np.random.default_rng(0)
    cond = torch.from_numpy(rng.standard_normal((1, 10, 32), dtype=np.float32))
    noisy = torch.from_numpy(rng.standard_normal((1, 4, 10), dtype=np.float32))
    t = torch.tensor([0.5])
    with torch.no_grad():
        real = model.velocity(cond, noisy, t, "robot", torch.tensor([DOMAINS.index("real")]))
        null = model.velocity(cond, noisy, t, "robot", torch.tensor([NULL_DOMAIN]))
    assert float((real - null).abs().max()) > 1e-4  # the label matters
    for scale, expected in [(2.0, null + 2.0 * (real - null)), (0.0, null), (1.0, real)]:
        feeds = {
            "cond": cond.numpy(),
            "noisy_action": noisy.numpy(),
            "timestep": t.numpy(),
            "guidance_scale": np.array([scale], np.float32),
        }
        velocity = policy.denoiser.run(["velocity"], feeds)[0]
        np.testing.assert_allclose(velocity, expected.numpy(), atol=1e-4)


def test_the_guidance_scale_is_chosen_at_export_or_at_run_time(
    guided: Path, tmp_path: Path
) -> None:
    """An export's scale becomes the contract's default; the runtime samples at the scale it
    is given, as torch's sampler does at that scale."""
    encoder = export_onnx(guided, tmp_path, "cfg", guidance_scale=0.5)
    assert OnnxPolicy(encoder, providers=["CPUExecutionProvider"]).contract.guidance == (
        "real",
        0.5,
    )
    assert parity(guided, encoder) < PARITY_TOLERANCE  # torch at 0.5 = the graphs at 0.5
    model, checkpoint = load_policy(guided)
    normalizer = Normalizer.from_dict(checkpoint["normalization"]["robot"])
    image, proprio = random_observation(model, normalizer, np.random.default_rng(0))
    chunks = {}
    for scale in (0.0, 10.0):  # (the tiny model's label moves a chunk by ~1e-4 per unit)
        runtime = OnnxPolicy(encoder, ["CPUExecutionProvider"], guidance_scale=scale)
        chunks[scale] = runtime.sample(image, proprio, np.random.default_rng(1))
        reference = torch_sample(
            model, normalizer, image, proprio, np.random.default_rng(1), guidance_scale=scale
        )
        np.testing.assert_allclose(chunks[scale], reference, atol=PARITY_TOLERANCE)
    assert np.abs(chunks[0.0] - chunks[10.0]).max() > 3 * PARITY_TOLERANCE
    with pytest.raises(ValueError, match="guidance scale must be a finite number >= 0"):
        OnnxPolicy(encoder, ["CPUExecutionProvider"], guidance_scale=-1.0)
