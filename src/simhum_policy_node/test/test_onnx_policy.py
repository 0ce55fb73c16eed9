"""The ONNX policy runtime on small hand-built graphs with a known closed form: the sampler
against a numpy reference, the contract checks, and the provider choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from toy_policy import (
    CHUNK,
    JOINTS,
    LINEAGE,
    STATS,
    STEPS,
    A,
    H,
    P,
    T,
    W,
    fail_on_lit_pixels,
    write_toy_policy,
)

from simhum_core.onnx_policy import (
    CONTRACT_KEYS,
    LineageStep,
    OnnxPolicy,
    PolicyContractError,
    PolicyInferenceError,
    choose_providers,
)


def reference_sample(image: np.ndarray, proprio_raw: np.ndarray, seed: int) -> np.ndarray:
    """The contract's sampler written out in numpy for the toy graphs."""
    mean, std = np.float32(STATS["proprio_mean"]), np.float32(STATS["proprio_std"])
    cond = (proprio_raw - mean) / std + image.astype(np.float32).mean(axis=(1, 2, 3))[
        :, None
    ] / 255
    x = np.random.default_rng(seed).standard_normal((1, CHUNK, A), dtype=np.float32)
    for k in range(STEPS):
        x = x + (cond.mean() + k / STEPS - x) / STEPS
    return x[0] * np.float32(STATS["action_std"]) + np.float32(STATS["action_mean"])


@pytest.fixture()
def observation() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    return image, rng.normal(size=(T, P)).astype(np.float32)


def test_sample_matches_the_reference_sampler(tmp_path: Path, observation) -> None:
    policy = OnnxPolicy(write_toy_policy(tmp_path), providers=["CPUExecutionProvider"])
    image, proprio = observation
    chunk = policy.sample(image, proprio, np.random.default_rng(3))
    assert chunk.shape == (CHUNK, A) and chunk.dtype == np.float32
    np.testing.assert_allclose(chunk, reference_sample(image, proprio, 3), atol=1e-5)
    again = policy.sample(image, proprio, np.random.default_rng(3))
    np.testing.assert_array_equal(chunk, again)
    assert not np.allclose(chunk, policy.sample(image, proprio, np.random.default_rng(4)))
    assert policy.provider == "CPUExecutionProvider"
    assert policy.contract.action_layout == (("position", 0, 3), ("gripper", 3, 4))
    assert policy.contract.control_hz == 10.0
    c = policy.contract
    assert (c.model_id, c.config_hash, c.base_frame) == ("toy", "0" * 64, "base_link")


def test_a_single_observation_history_is_a_contract(tmp_path: Path) -> None:
    """History 1 (the packaged configs' default) is valid: one frame and one proprio row."""
    policy = OnnxPolicy(
        write_toy_policy(tmp_path, observation_history="1"), providers=["CPUExecutionProvider"]
    )
    assert policy.contract.observation_history == 1
    image, proprio = np.zeros((1, H, W, 3), np.uint8), np.zeros((1, P), np.float32)
    assert policy.sample(image, proprio, np.random.default_rng(0)).shape == (CHUNK, A)


def test_inputs_of_the_wrong_shape_are_refused(tmp_path: Path, observation) -> None:
    policy = OnnxPolicy(write_toy_policy(tmp_path), providers=["CPUExecutionProvider"])
    image, proprio = observation
    with pytest.raises(ValueError, match=r"image_history must be \[2, 8, 6, 3\]"):
        policy.sample(image[:1], proprio, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"proprio_history_raw must be \[2, 3\]"):
        policy.sample(image, proprio[:, :2], np.random.default_rng(0))


def test_check_compatible_names_what_differs(tmp_path: Path) -> None:
    policy = OnnxPolicy(write_toy_policy(tmp_path), providers=["CPUExecutionProvider"])
    policy.check_compatible(JOINTS, (W, H))
    with pytest.raises(PolicyContractError, match=r"toy\.onnx: trained for joints"):
        policy.check_compatible(["j1", "gripper", "j2"], (W, H))
    with pytest.raises(PolicyContractError, match="expects 6x8 images, the camera gives 8x6"):
        policy.check_compatible(JOINTS, (H, W))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"joint_names": "[j1"}, "metadata 'joint_names' = '\\[j1' is not valid JSON"),
        ({"chunk_length": "five"}, "'chunk_length' = 'five' is not an integer"),
        ({"simhum_contract_version": "1"}, "is unsupported"),
        ({"lineage": json.dumps([{"stage": "finetune"}])}, "'lineage' = .* must be a JSON list"),
        ({"lineage": json.dumps(LINEAGE[:1])}, "must end with the exported stage"),
        ({"training_stage": "pretrain"}, "must end with the exported stage"),
        ({"action_space": "velocity"}, "'action_space' = 'velocity' is not one of"),
        ({"guidance": json.dumps({"domain": "real"})}, "'guidance' = .* must be null or"),
        ({"guidance": json.dumps({"domain": "real", "scale": -1})}, "finite scale >= 0"),
        (
            {"guidance": json.dumps({"domain": "real", "scale": 1})},
            "'denoiser_inputs' = .* must be .*'timestep', 'guidance_scale'\\]",
        ),
        ({"normalization": json.dumps({**STATS, "action_std": [1, 1, 0, 1]})}, "std > 0"),
        (
            {"normalization": json.dumps({**STATS, "proprio_mean": [0.0, float("nan"), 0.0]})},
            "'proprio_mean' must hold 3 finite numbers",
        ),
        ({"action_layout": json.dumps([["position", 0, 3]])}, "must end at the vector width 4"),
        ({"encoder_inputs": json.dumps(["rgb", "proprio"])}, "must be \\['image', 'proprio'\\]"),
        ({"denoiser_file": "other.onnx"}, "names other.onnx, not found beside it"),
        ({"chunk_length": "0"}, "'chunk_length' = '0' must be a finite number of at least 1"),
        ({"control_hz": "0"}, "'control_hz' = '0' must be a finite number of at least 1e-09"),
        ({"control_hz": "nan"}, "'control_hz' = 'nan' must be a finite number"),
        ({"control_hz": "fast"}, "'control_hz' = 'fast' is not a number"),
        ({"joint_names": '["j1", 2]'}, "'joint_names' = .* must be a JSON list of joint names"),
        ({"action_layout": '[["position", 0]]'}, "must be a JSON list of \\[name, start, stop\\]"),
        (
            {"normalization": json.dumps({k: v for k, v in STATS.items() if k != "action_mean"})},
            "'normalization' = .* lacks a numeric list 'action_mean'",
        ),
        ({"image_encoding": "bgr8"}, "'image_encoding' = 'bgr8' is unsupported \\(rgb8 only\\)"),
    ],
)
def test_bad_metadata_names_the_file_and_key(tmp_path: Path, overrides, message) -> None:
    path = write_toy_policy(tmp_path, **overrides)
    with pytest.raises(PolicyContractError, match=f"{path}.*{message}"):
        OnnxPolicy(path, providers=["CPUExecutionProvider"])


def test_a_guidance_scale_is_refused_by_a_policy_without_guidance(tmp_path: Path) -> None:
    path = write_toy_policy(tmp_path)
    assert OnnxPolicy(path, providers=["CPUExecutionProvider"]).guidance_scale is None
    with pytest.raises(PolicyContractError, match=f"{path}: a guidance scale .* no classifier"):
        OnnxPolicy(path, providers=["CPUExecutionProvider"], guidance_scale=1.0)


def test_an_unguided_policy_of_contract_3_still_runs(tmp_path: Path, observation) -> None:
    """Contract 4 changed only a guided policy's denoiser; a guided one of 3 is re-exported."""
    policy = OnnxPolicy(
        write_toy_policy(tmp_path, simhum_contract_version="3"), ["CPUExecutionProvider"]
    )
    assert policy.sample(*observation, np.random.default_rng(0)).shape == (CHUNK, A)
    guided = {"guidance": json.dumps({"domain": "real", "scale": 1})}
    (tmp_path / "guided").mkdir()
    path = write_toy_policy(tmp_path / "guided", simhum_contract_version="3", **guided)
    with pytest.raises(PolicyContractError, match=r"unsupported for a guided policy.*re-export"):
        OnnxPolicy(path, ["CPUExecutionProvider"])
    # a guided contract beside a denoiser without the guidance-scale input
    inputs = json.dumps(["cond", "noisy_action", "timestep", "guidance_scale"])
    path = write_toy_policy(tmp_path / "guided", denoiser_inputs=inputs, **guided)
    with pytest.raises(PolicyContractError, match=r"denoiser.onnx: has inputs .*'timestep'\], "):
        OnnxPolicy(path, ["CPUExecutionProvider"])


def test_missing_metadata_lists_the_keys(tmp_path: Path) -> None:
    path = write_toy_policy(tmp_path)
    model = onnx.load(path)
    kept = [p for p in model.metadata_props if p.key not in ("chunk_length", "normalization")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.save(model, path)
    with pytest.raises(PolicyContractError, match=r"lacks \['chunk_length', 'normalization'\]"):
        OnnxPolicy(path, providers=["CPUExecutionProvider"])
    assert "chunk_length" in CONTRACT_KEYS


def test_graph_shapes_must_match_the_metadata(tmp_path: Path) -> None:
    path = write_toy_policy(tmp_path, chunk=CHUNK + 1)
    with pytest.raises(PolicyContractError, match=r"toy\.denoiser\.onnx: input 'noisy_action'"):
        OnnxPolicy(path, providers=["CPUExecutionProvider"])


def with_metadata(path: Path, **values: str) -> Path:
    """The encoder at ``path`` with metadata ``values`` changed (its graph left as it is)."""
    model = onnx.load(path)
    for prop in model.metadata_props:
        if prop.key in values:
            prop.value = values[prop.key]
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"image_width": str(W + 2)}, rf"input 'image' has shape \[B, \*\[{T}, {H}, {W}, 3\]\]"),
        (
            {"image_height": str(H * 2)},
            rf"input 'image' .* the metadata says \[B, \*\[{T}, {H * 2}, {W}, 3\]\]",
        ),
        ({"observation_history": str(T + 1)}, "input 'image' has shape"),
        (
            {
                "proprio_dim": str(P + 1),
                "proprio_layout": json.dumps([["position", 0, P + 1]]),
                "normalization": json.dumps(
                    {**STATS, "proprio_mean": [0.0] * (P + 1), "proprio_std": [1.0] * (P + 1)}
                ),
            },
            rf"input 'proprio' has shape \[B, \*\[{T}, {P}\]\], the metadata says "
            rf"\[B, \*\[{T}, {P + 1}\]\]",
        ),
    ],
)
def test_encoder_inputs_must_match_the_metadata(tmp_path: Path, changed, message) -> None:
    """An encoder whose graph takes other images or proprio than its metadata promises is
    refused when loaded (not at the first frame, on the robot)."""
    path = with_metadata(write_toy_policy(tmp_path), **changed)
    with pytest.raises(PolicyContractError, match=rf"toy\.onnx: {message}"):
        OnnxPolicy(path, providers=["CPUExecutionProvider"])


def test_provider_preference_is_filtered_by_availability(tmp_path: Path) -> None:
    everything = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    chosen = choose_providers(available=everything, trt_cache_dir=tmp_path)
    name, options = chosen[0]
    assert name == "TensorrtExecutionProvider"
    assert options == {
        "trt_fp16_enable": True,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(tmp_path),
    }
    assert chosen[1:] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(available=["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers(["CUDAExecutionProvider"], available=["CPUExecutionProvider"]) == [
        "CPUExecutionProvider"
    ]


def test_contract_carries_the_training_stage_and_lineage(tmp_path: Path) -> None:
    contract = OnnxPolicy(write_toy_policy(tmp_path), providers=["CPUExecutionProvider"]).contract
    assert contract.training_stage == "finetune"
    assert contract.lineage == (
        LineageStep("toy", "pretrain", 40, "0" * 64),
        LineageStep("toy", "finetune", 7, "0" * 64),
    )
    assert contract.training() == (
        "toy/pretrain step 40 (config 000000000000) -> toy/finetune step 7 (config 000000000000)"
    )


def test_a_file_onnxruntime_cannot_load_names_the_file(tmp_path: Path) -> None:
    path = write_toy_policy(tmp_path)
    denoiser = tmp_path / "toy.denoiser.onnx"
    denoiser.write_bytes(denoiser.read_bytes()[:50])  # truncated
    with pytest.raises(PolicyContractError, match=f"{denoiser}: onnxruntime cannot load it"):
        OnnxPolicy(path, providers=["CPUExecutionProvider"])
    path.write_text("not a model")
    with pytest.raises(PolicyContractError, match=f"{path}: onnxruntime cannot load it"):
        OnnxPolicy(path, providers=["CPUExecutionProvider"])


def test_an_onnxruntime_failure_at_inference_is_a_policy_inference_error(
    tmp_path: Path, observation, capfd
) -> None:
    policy = OnnxPolicy(
        fail_on_lit_pixels(write_toy_policy(tmp_path)), providers=["CPUExecutionProvider"]
    )
    image, proprio = observation
    policy.sample(np.zeros_like(image), proprio, np.random.default_rng(0))  # blank: runs
    with pytest.raises(PolicyInferenceError, match=r"toy\.onnx: inference failed \(Invalid"):
        policy.sample(image, proprio, np.random.default_rng(0))
    assert "onnxruntime" not in capfd.readouterr().err  # reported once by the caller, not here
