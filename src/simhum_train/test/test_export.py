"""Export: ONNX graphs match torch, the contract metadata is complete and reads back, it
records the training stage and lineage, and a bad checkpoint is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from simhum_core.onnx_policy import (
    CONTRACT_KEYS,
    LineageStep,
    OnnxPolicy,
    PolicyContractError,
)
from simhum_train.experiment import load_experiment
from simhum_train.export import PARITY_TOLERANCE, export_onnx, parity
from simhum_train.export import main as simhum_export
from simhum_train.train import run_experiment


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
    assert c.guidance is None  # trained without domain conditioning
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


def test_a_guidance_scale_for_a_policy_without_guidance_is_refused(
    two_stage, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "x"
    args = ["--checkpoint", str(two_stage["finetune"]), "--out", str(out), "--guidance-scale", "1"]
    assert simhum_export(args) == 2
    err = capsys.readouterr().err
    assert "--guidance-scale given, but this policy has no classifier-free guidance" in err
    assert not out.exists()  # refused before anything is written


def test_exported_models_record_their_stage_and_lineage(two_stage, tmp_path: Path) -> None:
    """A pre-training checkpoint and the fine-tune started from it export different
    contracts: each says which stage it is, and the fine-tune's lineage goes back through
    the pre-training's step and config hash."""
    pretrain = torch.load(two_stage["pretrain"], weights_only=True)
    finetune = torch.load(two_stage["finetune"], weights_only=True)
    contracts = {}
    for stage in ("pretrain", "finetune"):
        path = export_onnx(two_stage[stage], tmp_path / stage, "tiny")
        contracts[stage] = OnnxPolicy(path, providers=["CPUExecutionProvider"]).contract
    first, second = contracts["pretrain"], contracts["finetune"]
    assert (first.training_stage, second.training_stage) == ("pretrain", "finetune")
    origin = LineageStep("tiny", "pretrain", pretrain["step"], pretrain["config_hash"])
    assert first.lineage == (origin,)
    assert second.lineage == (
        origin,
        LineageStep("tiny", "finetune", finetune["step"], finetune["config_hash"]),
    )
    assert pretrain["step"] == 4 and finetune["step"] == 3
    assert second.training() == (
        f"tiny/pretrain step 4 (config {pretrain['config_hash'][:12]}) -> "
        f"tiny/finetune step 3 (config {finetune['config_hash'][:12]})"
    )


def test_a_fine_tune_from_another_experiment_keeps_its_lineage(
    two_stage, tmp_path: Path, store_path: Path, tiny_config
) -> None:
    """Stage 2 of another experiment (another config hash) started from this pre-training
    checkpoint file: the lineage names both experiments and both hashes."""
    exp = load_experiment(
        tiny_config,
        [
            f"data.store={store_path}",
            f"out={tmp_path}",
            "name=other",
            f"stages=[{{name: tune, mixing: {{real: 1}}, init_from: {two_stage['pretrain']}, "
            "steps: 1, batch_size: 4, warmup_steps: 1, eval_samples: 4}]",
        ],
    )
    tuned = run_experiment(exp, progress=False)["tune"]
    pretrain = torch.load(two_stage["pretrain"], weights_only=True)
    path = export_onnx(tuned, tmp_path / "model", "other")
    lineage = OnnxPolicy(path, providers=["CPUExecutionProvider"]).contract.lineage
    assert lineage == (
        LineageStep("tiny", "pretrain", pretrain["step"], pretrain["config_hash"]),
        LineageStep("other", "tune", 1, exp.hash()),
    )
    assert exp.hash() != pretrain["config_hash"]


def rewritten(source: Path, path: Path, change) -> Path:
    """A copy of checkpoint ``source`` at ``path`` with ``change(checkpoint)`` applied."""
    checkpoint = torch.load(source, weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, path)
    return path


def export_error(checkpoint: Path, out: Path, capsys) -> str:
    """simhum_export's one line for a refused checkpoint (exit 2, nothing written)."""
    assert simhum_export(["--checkpoint", str(checkpoint), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not out.exists()
    return err


def test_bad_checkpoint_files_are_one_line(two_stage, tmp_path: Path, capsys) -> None:
    good = two_stage["finetune"]
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    keys = rewritten(good, tmp_path / "keys.pt", lambda c: c.pop("policy_config"))
    old = rewritten(good, tmp_path / "old.pt", lambda c: c.pop("lineage"))

    def wider(checkpoint: dict) -> None:
        checkpoint["policy_config"]["arch"]["d_model"] = 64

    weights = rewritten(good, tmp_path / "weights.pt", wider)
    for path, message in [
        (tmp_path / "absent.pt", "no such checkpoint file"),
        (truncated, "not a readable PyTorch checkpoint: truncated, or another kind of file"),
        (text, "not a readable PyTorch checkpoint"),
        (tensor, "holds a Tensor, not a SimHum stage checkpoint"),
        (keys, "not a SimHum stage checkpoint (it lacks ['policy_config'])"),
        (old, "written before checkpoints recorded their lineage; delete its stage folder"),
        (weights, "its weights do not fit its policy_config (Error(s) in loading"),
    ]:
        err = export_error(path, tmp_path / "out", capsys)
        assert err.startswith(f"error: {path}: {message}"), err


def test_a_checkpoint_of_an_action_space_the_runtime_cannot_run_is_refused(
    two_stage, tmp_path: Path, capsys
) -> None:
    def velocity(checkpoint: dict) -> None:
        checkpoint["action_spaces"]["robot"]["name"] = "joint_velocity"

    path = rewritten(two_stage["finetune"], tmp_path / "velocity.pt", velocity)
    err = export_error(path, tmp_path / "out", capsys)
    assert f"error: {path}: metadata 'action_space' = 'joint_velocity' is not one of" in err


def test_every_training_error_is_the_one_error_type() -> None:
    """Each command catches SimhumTrainError to print one line and exit 2: every error class
    of the package derives from it."""
    import importlib
    import inspect
    import pkgutil

    import simhum_train
    from simhum_train.errors import SimhumTrainError

    errors = []
    for info in pkgutil.walk_packages(simhum_train.__path__, "simhum_train."):
        module = importlib.import_module(info.name)
        errors += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Exception) and cls.__module__ == info.name
        ]
    assert len(errors) >= 4
    assert all(issubclass(cls, SimhumTrainError) for cls in errors), errors
