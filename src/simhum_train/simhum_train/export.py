"""``simhum_export``: a trained checkpoint -> the two ONNX graphs the robot runs.

    simhum_export --checkpoint runs/train/simhum/finetune/best.pt --out exports --name simhum

Exports the deployable path (backbone, real adaptor, robot proprio encoder, trunk encoder)
as ``<name>.onnx`` carrying the whole contract in its metadata (with the training stage and
the lineage of the weights: each stage's step and config hash), and the flow denoiser (robot
action encoder, trunk decoder, robot action decoder) as ``<name>.denoiser.onnx``. Then runs
the same observation and noise through torch and through onnxruntime (the robot's own
runtime, simhum_core.onnx_policy) and reports the largest difference of the action
chunk. TensorRT engines are built on the robot: scripts/build_tensorrt_engines.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from simhum_core.onnx_policy import (
    CONTRACT_VERSION,
    DENOISER_OUTPUTS,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    OnnxPolicy,
    PolicyContractError,
    denoiser_inputs,
    parse_contract,
)
from simhum_train.checkpoint import CheckpointError, load_policy
from simhum_train.errors import SimhumTrainError
from simhum_train.keys import DEPLOY_ADAPTOR, DEPLOY_DOMAIN, DEPLOY_EMBODIMENT
from simhum_train.normalize import Normalizer
from simhum_train.policy.flow import sample_actions
from simhum_train.policy.modeling import ModularPolicy

OPSET = 17
PARITY_TOLERANCE = 1e-4


class EncoderGraph(nn.Module):
    """uint8 images [B, T, H, W, 3] + normalised proprio [B, T, P] -> cond [B, N, d]."""

    def __init__(self, policy: ModularPolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, image: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:
        return self.policy.encode(image, proprio, DEPLOY_ADAPTOR, DEPLOY_EMBODIMENT)[0]


class DenoiserGraph(nn.Module):
    """cond, noisy actions [B, H, A], flow time [B] -> velocity [B, H, A]; a
    domain-conditioned policy's is guided toward the real domain (the contract's
    ``guidance``) by its fourth input, the guidance scale [B]."""

    def __init__(self, policy: ModularPolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(
        self,
        cond: torch.Tensor,
        noisy_action: torch.Tensor,
        timestep: torch.Tensor,
        guidance_scale: torch.Tensor | None = None,
    ):
        return self.policy.guided_velocity(
            cond, noisy_action, timestep, DEPLOY_EMBODIMENT, DEPLOY_DOMAIN, guidance_scale
        )


def check_deployable(policy: ModularPolicy, checkpoint_path: Path) -> None:
    """The checkpoint must hold the real adaptor and the robot encoder/decoder."""
    if DEPLOY_ADAPTOR not in policy.adaptors or DEPLOY_EMBODIMENT not in policy.embodiments:
        raise CheckpointError(
            f"{checkpoint_path}: has adaptors {list(policy.adaptors)} and embodiments "
            f"{list(policy.embodiments)}; export needs the '{DEPLOY_ADAPTOR}' adaptor and the "
            f"'{DEPLOY_EMBODIMENT}' embodiment (export a fine-tuned or real/robot stage)"
        )


def contract_metadata(
    checkpoint: dict, name: str, model_id: str, guidance_scale: float | None = None
) -> dict[str, str]:
    """The ONNX metadata of the contract, every value a string (JSON when structured); a
    guided policy's default scale is ``guidance_scale`` or the trained configuration's."""
    arch = checkpoint["policy_config"]["arch"]
    guided = bool(arch.get("domain_conditioning"))
    if guided and guidance_scale is None:
        guidance_scale = arch["guidance_scale"]  # (checkpoints before guidance lack it)
    space = checkpoint["action_spaces"][DEPLOY_EMBODIMENT]
    proprio_dim = space["proprio_layout"][-1][2]
    action_dim = space["action_layout"][-1][2]
    return {
        "simhum_contract_version": CONTRACT_VERSION,
        "model_id": model_id,
        "config_hash": checkpoint["config_hash"],
        "training_stage": checkpoint["stage"],
        "lineage": json.dumps(checkpoint["lineage"]),
        "joint_names": json.dumps(list(checkpoint["robot"]["joint_names"])),
        "tool_frame": checkpoint["robot"]["tool_frame"],
        "base_frame": checkpoint["robot"]["base_frame"],
        "image_width": str(checkpoint["image"]["width"]),
        "image_height": str(checkpoint["image"]["height"]),
        "image_encoding": "rgb8",
        "observation_history": str(arch["history"]),
        "proprio_dim": str(proprio_dim),
        "action_space": space["name"],
        "action_dim": str(action_dim),
        "chunk_length": str(arch["chunk_length"]),
        "control_hz": str(checkpoint["control_hz"]),
        "num_sampling_steps": str(arch["num_sampling_steps"]),
        "guidance": json.dumps(
            {"domain": DEPLOY_DOMAIN, "scale": guidance_scale} if guided else None
        ),
        "denoiser_file": f"{name}.denoiser.onnx",
        "normalization": json.dumps(checkpoint["normalization"][DEPLOY_EMBODIMENT]),
        "proprio_layout": json.dumps([list(s) for s in space["proprio_layout"]]),
        "action_layout": json.dumps([list(s) for s in space["action_layout"]]),
        "encoder_inputs": json.dumps(list(ENCODER_INPUTS)),
        "encoder_outputs": json.dumps(list(ENCODER_OUTPUTS)),
        "denoiser_inputs": json.dumps(list(denoiser_inputs(guided))),
        "denoiser_outputs": json.dumps(list(DENOISER_OUTPUTS)),
    }


def example_inputs(policy: ModularPolicy) -> tuple[torch.Tensor, ...]:
    """Batch-1 inputs of both graphs: image, proprio, cond, noisy action, timestep and
    guidance scale."""
    c, a = policy.config, policy.config.arch
    proprio_dim, action_dim = c.embodiments[DEPLOY_EMBODIMENT]
    image = torch.zeros(1, a.history, c.image_height, c.image_width, 3, dtype=torch.uint8)
    proprio = torch.zeros(1, a.history, proprio_dim)
    with torch.no_grad():
        cond = EncoderGraph(policy)(image, proprio)
    noisy = torch.zeros(1, a.chunk_length, action_dim)
    return image, proprio, cond, noisy, torch.zeros(1), torch.ones(1)


def export_onnx(
    checkpoint_path: Path,
    out_dir: Path,
    name: str,
    model_id: str | None = None,
    guidance_scale: float | None = None,
) -> Path:
    """Write ``<name>.onnx`` (encoder + contract) and ``<name>.denoiser.onnx``; returns the
    encoder's path. ``guidance_scale`` replaces the trained default scale of a guided policy
    in the contract. A checkpoint whose contract the runtime would refuse (an action space it
    cannot run, inconsistent layouts, a guidance scale without guidance) is refused before
    anything is written."""
    policy, checkpoint = load_policy(checkpoint_path)
    check_deployable(policy, checkpoint_path)
    guided = policy.config.arch.domain_conditioning
    if guidance_scale is not None and not guided:
        raise CheckpointError(
            f"{checkpoint_path}: --guidance-scale given, but this policy has no "
            "classifier-free guidance (trained without model.domain_conditioning)"
        )
    metadata = contract_metadata(checkpoint, name, model_id or name, guidance_scale)
    parse_contract(checkpoint_path, metadata)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    image, proprio, cond, noisy, timestep, scale = example_inputs(policy)
    encoder_path = out_dir / f"{name}.onnx"
    denoiser_path = out_dir / f"{name}.denoiser.onnx"
    # written under temporary names and renamed into place once complete and checked (the
    # denoiser first, the encoder that carries the contract last): a crash leaves the
    # previous export or none, never a partial model
    partial = {p: p.with_name(f".{p.name}.partial") for p in (encoder_path, denoiser_path)}
    batch = {0: "batch"}
    graphs = [
        (
            EncoderGraph(policy),
            (image, proprio),
            partial[encoder_path],
            ENCODER_INPUTS,
            ENCODER_OUTPUTS,
        ),
        (
            DenoiserGraph(policy),
            (cond, noisy, timestep, scale) if guided else (cond, noisy, timestep),
            partial[denoiser_path],
            denoiser_inputs(guided),
            DENOISER_OUTPUTS,
        ),
    ]
    with warnings.catch_warnings():
        # the TorchScript exporter (dynamo=False, as chosen) warns that it is the legacy one
        # and about traced shape constants, which the fixed per-sample shapes make harmless
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        for module, args, path, inputs, outputs in graphs:
            torch.onnx.export(
                module,
                args,
                path,
                input_names=list(inputs),
                output_names=list(outputs),
                dynamic_axes={n: batch for n in (*inputs, *outputs)},
                opset_version=OPSET,
                dynamo=False,
            )
    model = onnx.load(partial[encoder_path])
    onnx.helper.set_model_props(model, metadata)
    onnx.save(model, partial[encoder_path])
    for path in partial.values():
        onnx.checker.check_model(str(path))
    for final in (denoiser_path, encoder_path):
        os.replace(partial[final], final)
    return encoder_path


def torch_sample(
    policy: ModularPolicy,
    normalizer: Normalizer,
    image_history: np.ndarray,
    proprio_history_raw: np.ndarray,
    rng: np.random.Generator,
    guidance_scale: float | None = None,
) -> np.ndarray:
    """The action chunk torch eager gives for one observation, drawing the same noise from
    ``rng`` as the ONNX runtime does (guided at ``guidance_scale``, the trained one when
    None)."""
    a = policy.config.arch
    _, action_dim = policy.config.embodiments[DEPLOY_EMBODIMENT]
    noise = rng.standard_normal((1, a.chunk_length, action_dim), dtype=np.float32)
    with torch.no_grad():
        image = torch.from_numpy(np.asarray(image_history, dtype=np.uint8)[None])
        proprio = torch.from_numpy(normalizer.proprio(proprio_history_raw)[None])
        cond, _ = policy.encode(image, proprio, DEPLOY_ADAPTOR, DEPLOY_EMBODIMENT)
        chunk = sample_actions(
            policy,
            cond,
            torch.from_numpy(noise),
            a.num_sampling_steps,
            DEPLOY_EMBODIMENT,
            DEPLOY_DOMAIN,
            guidance_scale,
        )
    return normalizer.unnormalize_action(chunk[0].numpy())


def random_observation(
    policy: ModularPolicy, normalizer: Normalizer, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A random image history and a raw proprio history near the training distribution."""
    c, a = policy.config, policy.config.arch
    image = rng.integers(0, 256, (a.history, c.image_height, c.image_width, 3), dtype=np.uint8)
    proprio = normalizer.proprio_mean + normalizer.proprio_std * rng.standard_normal(
        (a.history, len(normalizer.proprio_mean))
    )
    return image, proprio.astype(np.float32)


def parity(checkpoint_path: Path, encoder_path: Path, seed: int = 0) -> float:
    """Largest |torch - onnxruntime| over an action chunk for the same observation and
    noise seed (CPU execution provider on both sides)."""
    policy, checkpoint = load_policy(checkpoint_path)
    normalizer = Normalizer.from_dict(checkpoint["normalization"][DEPLOY_EMBODIMENT])
    runtime = OnnxPolicy(encoder_path, providers=["CPUExecutionProvider"])
    image, proprio = random_observation(policy, normalizer, np.random.default_rng(seed))
    reference = torch_sample(
        policy, normalizer, image, proprio, np.random.default_rng(seed + 1), runtime.guidance_scale
    )
    onnx_chunk = runtime.sample(image, proprio, np.random.default_rng(seed + 1))
    return float(np.abs(reference - onnx_chunk).max())


def main(argv: list[str] | None = None) -> int:
    """Export and check parity; exit status 1 if parity fails, 2 (one line naming the file)
    for a bad checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="a stage checkpoint (best.pt: selected on validation)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--name", default="simhum_policy", help="file stem of the graphs")
    parser.add_argument("--model-id", default=None, help="defaults to the name")
    parser.add_argument(
        "--guidance-scale",
        type=float,
        default=None,
        help="a guided policy's default classifier-free guidance scale in the contract "
        "(0: unconditional, 1: conditional on the real domain; default: the trained one)",
    )
    args = parser.parse_args(argv)
    try:
        encoder = export_onnx(
            args.checkpoint, args.out, args.name, args.model_id, args.guidance_scale
        )
    except (SimhumTrainError, PolicyContractError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    diff = parity(args.checkpoint, encoder)
    ok = diff < PARITY_TOLERANCE
    print(f"exported {encoder} and {encoder.with_suffix('.denoiser.onnx').name}")
    print(
        f"parity torch vs onnxruntime: max |diff| {diff:.2e} "
        f"({'ok' if ok else 'FAILED'}, tolerance {PARITY_TOLERANCE:.0e})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
