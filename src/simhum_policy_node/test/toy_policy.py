"""Small hand-built exported policies with a known closed form (no training): the toy
contract of the runtime tests, and a joint-position policy that fits a given robot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from simhum_core.onnx_policy import CONTRACT_VERSION, parse_contract
from simhum_core.robot import RobotDescription

T, H, W, P, CHUNK, A, STEPS = 2, 8, 6, 3, 5, 4, 4
IR_VERSION = 8  # what opset 17 needs; this onnx package would default to a newer one
JOINTS = ["j1", "j2", "gripper"]
STATS = {
    "proprio_mean": [0.1, -0.2, 0.3],
    "proprio_std": [2.0, 0.5, 1.0],
    "action_mean": [1.0, 2.0, 3.0, 4.0],
    "action_std": [0.1, 0.2, 0.3, 0.4],
}
LINEAGE = [
    {"experiment": "toy", "stage": "pretrain", "step": 40, "config_hash": "0" * 64},
    {"experiment": "toy", "stage": "finetune", "step": 7, "config_hash": "0" * 64},
]
ROBOT_PROPRIO_LAYOUT = [["position", 0, 3], ["rot6d", 3, 9], ["gripper", 9, 10]]


def metadata(**overrides: str) -> dict[str, str]:
    """The toy contract's metadata, with ``overrides``."""
    values = {
        "simhum_contract_version": CONTRACT_VERSION,
        "model_id": "toy",
        "config_hash": "0" * 64,
        "training_stage": "finetune",
        "lineage": json.dumps(LINEAGE),
        "joint_names": json.dumps(JOINTS),
        "tool_frame": "tcp",
        "base_frame": "base_link",
        "image_width": str(W),
        "image_height": str(H),
        "image_encoding": "rgb8",
        "observation_history": str(T),
        "proprio_dim": str(P),
        "action_space": "relative_ee",
        "action_dim": str(A),
        "chunk_length": str(CHUNK),
        "control_hz": "10.0",
        "num_sampling_steps": str(STEPS),
        "guidance": "null",
        "denoiser_file": "toy.denoiser.onnx",
        "normalization": json.dumps(STATS),
        "proprio_layout": json.dumps([["position", 0, 3]]),
        "action_layout": json.dumps([["position", 0, 3], ["gripper", 3, 4]]),
        "encoder_inputs": json.dumps(["image", "proprio"]),
        "encoder_outputs": json.dumps(["cond"]),
        "denoiser_inputs": json.dumps(["cond", "noisy_action", "timestep"]),
        "denoiser_outputs": json.dumps(["velocity"]),
    }
    return {**values, **overrides}


def write_toy_policy(folder: Path, chunk: int = CHUNK, **overrides: str) -> Path:
    """cond = proprio + mean(image) / 255; velocity = mean(cond) + t - noisy_action; the
    graphs take their sizes from the metadata, except the denoiser's ``chunk``."""
    meta = metadata(**overrides)
    sizes = ("observation_history", "image_height", "image_width", "proprio_dim", "action_dim")
    t, h, w, p, a = (int(meta[k]) for k in sizes)
    f32 = TensorProto.FLOAT
    encoder = helper.make_graph(
        [
            helper.make_node("Cast", ["image"], ["image_f"], to=f32),
            helper.make_node(
                "ReduceMean", ["image_f"], ["pixel_mean"], axes=[2, 3, 4], keepdims=0
            ),
            helper.make_node("Div", ["pixel_mean", "c255"], ["scaled"]),
            helper.make_node("Unsqueeze", ["scaled", "axis_last"], ["scaled_3d"]),
            helper.make_node("Add", ["proprio", "scaled_3d"], ["cond"]),
        ],
        "encoder",
        [
            helper.make_tensor_value_info("image", TensorProto.UINT8, ["B", t, h, w, 3]),
            helper.make_tensor_value_info("proprio", f32, ["B", t, p]),
        ],
        [helper.make_tensor_value_info("cond", f32, ["B", t, p])],
        [
            helper.make_tensor("c255", f32, [], [255.0]),
            helper.make_tensor("axis_last", TensorProto.INT64, [1], [2]),
        ],
    )
    denoiser = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["cond"], ["cond_mean"], axes=[1, 2], keepdims=1),
            helper.make_node("Unsqueeze", ["timestep", "axes_12"], ["t_3d"]),
            helper.make_node("Add", ["cond_mean", "t_3d"], ["drift"]),
            helper.make_node("Sub", ["drift", "noisy_action"], ["velocity"]),
        ],
        "denoiser",
        [
            helper.make_tensor_value_info("cond", f32, ["B", t, p]),
            helper.make_tensor_value_info("noisy_action", f32, ["B", chunk, a]),
            helper.make_tensor_value_info("timestep", f32, ["B"]),
        ],
        [helper.make_tensor_value_info("velocity", f32, ["B", chunk, a])],
        [helper.make_tensor("axes_12", TensorProto.INT64, [2], [1, 2])],
    )
    opset = {"opset_imports": [helper.make_opsetid("", 17)], "ir_version": IR_VERSION}
    encoder_model = helper.make_model(encoder, **opset)
    helper.set_model_props(encoder_model, meta)
    path = folder / "toy.onnx"
    onnx.save(encoder_model, path)
    onnx.save(helper.make_model(denoiser, **opset), folder / "toy.denoiser.onnx")
    return path


def write_constant_robot_policy(
    folder: Path,
    robot: RobotDescription,
    action: np.ndarray,
    space: str,
    layout: list,
    image_size: int = 32,
    **overrides: str,
) -> Path:
    """A policy for ``robot`` whose every action is ``action`` (to 1e-6 in normalised
    units): the toy graphs with a negligible action spread around an action mean of it."""
    normalization = {
        "proprio_mean": [0.0] * 10,
        "proprio_std": [1.0] * 10,
        "action_mean": [float(v) for v in action],
        "action_std": [1e-6] * len(action),
    }
    robot_contract = {
        "joint_names": json.dumps(list(robot.joint_names)),
        "tool_frame": robot.tool_frame,
        "image_width": str(image_size),
        "image_height": str(image_size),
        "proprio_dim": "10",
        "proprio_layout": json.dumps(ROBOT_PROPRIO_LAYOUT),
        "action_space": space,
        "action_dim": str(len(action)),
        "action_layout": json.dumps(layout),
        "normalization": json.dumps(normalization),
    }
    return write_toy_policy(folder, CHUNK, **{**robot_contract, **overrides})


def write_joint_position_policy(
    folder: Path,
    robot: RobotDescription,
    target: np.ndarray,
    image_size: int = 32,
    **overrides: str,
) -> Path:
    """A joint-position policy for ``robot`` whose every action is ``target`` (to 1e-5 rad)."""
    layout = [["joint_positions", 0, robot.dof]]
    return write_constant_robot_policy(
        folder, robot, target, "joint_positions", layout, image_size, **overrides
    )


def fail_on_lit_pixels(path: Path) -> Path:
    """Make the toy encoder at ``path`` fail inside onnxruntime (a Gather out of bounds) on
    any image with a non-zero pixel; blank images, such as the warm-up's, still pass."""
    model = onnx.load(path)
    graph = model.graph
    last = graph.node[-1]
    assert list(last.output) == ["cond"]
    last.output[0] = "cond_ok"
    graph.initializer.append(helper.make_tensor("one_zero", TensorProto.FLOAT, [1], [0.0]))
    graph.node.extend(
        [
            helper.make_node("ReduceMax", ["image"], ["brightest"], keepdims=0),
            helper.make_node("Cast", ["brightest"], ["index"], to=TensorProto.INT64),
            helper.make_node("Gather", ["one_zero", "index"], ["zero"]),
            helper.make_node("Add", ["cond_ok", "zero"], ["cond"]),
        ]
    )
    onnx.save(model, path)
    return path


def nan_velocity(path: Path) -> Path:
    """Make the toy denoiser beside the policy at ``path`` output NaN velocities, as a
    diverged model would (its contract stays valid)."""
    metadata = {p.key: p.value for p in onnx.load(path).metadata_props}
    denoiser = parse_contract(path, metadata).denoiser_path
    model = onnx.load(denoiser)
    graph = model.graph
    last = graph.node[-1]
    assert list(last.output) == ["velocity"]
    last.output[0] = "velocity_ok"
    graph.initializer.append(helper.make_tensor("not_a_number", TensorProto.FLOAT, [1], [np.nan]))
    graph.node.append(helper.make_node("Mul", ["velocity_ok", "not_a_number"], ["velocity"]))
    onnx.save(model, denoiser)
    return path


def write_relative_ee_policy(
    folder: Path,
    robot: RobotDescription,
    action: np.ndarray,
    image_size: int = 32,
    **overrides: str,
) -> Path:
    """A relative_ee policy for ``robot`` whose every action is ``action`` (10 numbers: the
    target tool pose in the current tool frame as position + 6D rotation, and the aperture)."""
    return write_constant_robot_policy(
        folder, robot, action, "relative_ee", ROBOT_PROPRIO_LAYOUT, image_size, **overrides
    )
