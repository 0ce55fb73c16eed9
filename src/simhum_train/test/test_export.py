"""Export: ONNX graphs match torch, the contract metadata is complete and reads back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from simhum_policy_node.onnx_policy import CONTRACT_KEYS, OnnxPolicy, PolicyContractError
from simhum_train.export import PARITY_TOLERANCE, export_onnx, parity
from simhum_train.export import main as simhum_export


@pytest.fixture(scope="module")
def exported(tmp_path_factory, two_stage) -> Path:
    return export_onnx(two_stage["finetune"], tmp_path_factory.mktemp("export"), "tiny")


def test_parity_torch_vs_onnxruntime(two_stage, exported: Path) -> None:
    for seed in (0, 1):
        assert parity(two_stage["finetune"], exported, seed) < PARITY_TOLERANCE


def test_metadata_is_complete_and_reads_back(two_stage, exported: Path, robot) -> None:
    props = {p.key: p.value for p in onnx.load(exported).metadata_props}
    assert set(CONTRACT_KEYS) <= set(props)
    checkpoint = torch.load(two_stage["finetune"], weights_only=True)
    policy = OnnxPolicy(exported, providers=["CPUExecutionProvider"])
    c = policy.contract
    assert policy.provider == "CPUExecutionProvider"
    assert c.joint_names == robot.joint_names
    assert (c.tool_frame, c.base_frame) == (robot.tool_frame, robot.base_frame)
    assert (c.image_width, c.image_height, c.observation_history) == (32, 32, 2)
    assert (c.action_space, c.action_dim, c.proprio_dim, c.chunk_length) == (
        "relative_ee",
        10,
        10,
        4,
    )
    assert (c.num_sampling_steps, c.control_hz) == (4, pytest.approx(10.0))
    assert c.config_hash == checkpoint["config_hash"] and len(c.config_hash) == 64
    assert c.denoiser_path == exported.parent / "tiny.denoiser.onnx"
    assert c.action_layout == (("position", 0, 3), ("rot6d", 3, 9), ("gripper", 9, 10))
    stats = checkpoint["normalization"]["robot"]
    np.testing.assert_allclose(c.action_std, stats["action_std"], rtol=1e-6)
    np.testing.assert_allclose(c.proprio_mean, stats["proprio_mean"], rtol=1e-6)
    policy.check_compatible(robot.joint_names, (32, 32))
    with pytest.raises(PolicyContractError, match="expects 32x32 images"):
        policy.check_compatible(robot.joint_names, (64, 48))
    chunk = policy.sample(
        np.zeros((2, 32, 32, 3), np.uint8),
        np.tile(c.proprio_mean, (2, 1)),
        np.random.default_rng(0),
    )
    assert chunk.shape == (4, 10) and np.isfinite(chunk).all()


def test_batch_axis_stays_dynamic(exported: Path) -> None:
    policy = OnnxPolicy(exported, providers=["CPUExecutionProvider"])
    image = np.zeros((3, 2, 32, 32, 3), np.uint8)
    cond = policy.encoder.run(None, {"image": image, "proprio": np.zeros((3, 2, 10), np.float32)})[
        0
    ]
    velocity = policy.denoiser.run(
        None,
        {
            "cond": cond,
            "noisy_action": np.zeros((3, 4, 10), np.float32),
            "timestep": np.zeros(3, np.float32),
        },
    )[0]
    assert cond.shape[0] == 3 and velocity.shape == (3, 4, 10)


def test_cli_exports_and_reports_parity(two_stage, tmp_path: Path, capsys) -> None:
    assert simhum_export(["--checkpoint", str(two_stage["finetune"]), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "parity torch vs onnxruntime" in out and "(ok," in out
    props = {p.key: p.value for p in onnx.load(tmp_path / "simhum_policy.onnx").metadata_props}
    assert json.loads(props["encoder_inputs"]) == ["image", "proprio"]
    assert props["denoiser_file"] == "simhum_policy.denoiser.onnx"


def test_a_checkpoint_without_the_deployable_modules_is_refused(
    tmp_path: Path, store_path: Path, tiny_config, capsys
) -> None:
    from simhum_train.experiment import load_experiment
    from simhum_train.train import run_experiment

    exp = load_experiment(
        tiny_config,
        [
            f"data.store={store_path}",
            f"out={tmp_path}",
            "stages=[{name: s, mixing: {sim: 1}, "
            "steps: 1, batch_size: 4, warmup_steps: 1, eval_samples: 4}]",
        ],
    )
    final = run_experiment(exp, progress=False)["s"]
    assert simhum_export(["--checkpoint", str(final), "--out", str(tmp_path / "x")]) == 2
    assert "export needs the 'real' adaptor" in capsys.readouterr().err
