"""The exported SimHum policy at run time: numpy + onnxruntime, no torch, no rclpy.

Two graphs: ``<name>.onnx``, the observation encoder, which carries the whole contract in its
metadata, and ``<name>.denoiser.onnx`` beside it. Sampling is the flow-matching Euler loop:
x ~ N(0, I) from the caller's numpy Generator; for k = 0..S-1, t = k/S, x += velocity / S;
then de-normalise with the metadata's statistics. A policy trained with classifier-free
guidance on the source domain applies it inside its denoiser graph, whose extra input
``guidance_scale`` [B] is the scale (0: unconditional, 1: conditional on the domain); the
contract's ``guidance`` names the domain and the default scale (null for a policy without
it), which the runtime may override.

The contract also says where the weights come from: the training stage exported and its
lineage, the experiment, stage, step and config hash of every stage the weights went through.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# 2: the training stage and lineage; 3: the sampler's guidance; 4: its scale an input
CONTRACT_VERSION = "4"
UNGUIDED_COMPATIBLE = "3"  # an unguided policy's graphs and metadata are the same in 3
ENCODER_INPUTS = ("image", "proprio")
ENCODER_OUTPUTS = ("cond",)
DENOISER_INPUTS = ("cond", "noisy_action", "timestep")
GUIDANCE_INPUT = "guidance_scale"  # the denoiser's extra input when the contract guides
DENOISER_OUTPUTS = ("velocity",)
ACTION_SPACES = ("relative_ee", "joint_positions")
NORMALIZATION_KEYS = ("proprio_mean", "proprio_std", "action_mean", "action_std")
# Every metadata key of the contract; values are strings, JSON where structured.
CONTRACT_KEYS = (
    "simhum_contract_version",
    "model_id",
    "config_hash",
    "training_stage",
    "lineage",
    "joint_names",
    "tool_frame",
    "base_frame",
    "image_width",
    "image_height",
    "image_encoding",
    "observation_history",
    "proprio_dim",
    "action_space",
    "action_dim",
    "chunk_length",
    "control_hz",
    "num_sampling_steps",
    "guidance",
    "denoiser_file",
    "normalization",
    "proprio_layout",
    "action_layout",
    "encoder_inputs",
    "encoder_outputs",
    "denoiser_inputs",
    "denoiser_outputs",
)
PROVIDER_PREFERENCE = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)


class PolicyContractError(ValueError):
    """An exported policy whose files or metadata break the contract; names file and key."""


class PolicyInferenceError(RuntimeError):
    """onnxruntime failed while running a graph of the policy; names the graph's file."""


@dataclass(frozen=True)
class LineageStep:
    """One training stage the exported weights went through."""

    experiment: str
    stage: str
    step: int
    config_hash: str

    def __str__(self) -> str:
        return f"{self.experiment}/{self.stage} step {self.step} (config {self.config_hash[:12]})"


@dataclass(frozen=True)
class PolicyContract:
    """The input/output contract read from the encoder's metadata."""

    path: Path
    model_id: str
    config_hash: str
    joint_names: tuple[str, ...]
    tool_frame: str
    base_frame: str
    image_width: int
    image_height: int
    observation_history: int
    proprio_dim: int
    action_space: str
    action_dim: int
    chunk_length: int
    control_hz: float
    num_sampling_steps: int
    denoiser_file: str
    proprio_mean: np.ndarray
    proprio_std: np.ndarray
    action_mean: np.ndarray
    action_std: np.ndarray
    proprio_layout: tuple[tuple[str, int, int], ...]
    action_layout: tuple[tuple[str, int, int], ...]
    guidance: tuple[str, float] | None = None  # (domain, scale) the denoiser guides toward
    training_stage: str = ""  # the exported stage ("" for stand-ins that were not trained)
    lineage: tuple[LineageStep, ...] = ()  # first stage to the exported one

    @property
    def denoiser_path(self) -> Path:
        """The denoiser graph beside the encoder."""
        return self.path.parent / self.denoiser_file

    def training(self) -> str:
        """Where the weights come from, e.g. 'simhum/pretrain step 3000 (config ...) ->
        simhum/finetune step 200 (config ...)'."""
        return " -> ".join(str(s) for s in self.lineage) or "untrained"


def denoiser_inputs(guided: bool) -> tuple[str, ...]:
    """The denoiser graph's inputs: with the guidance scale when the policy guides."""
    return (*DENOISER_INPUTS, GUIDANCE_INPUT) if guided else DENOISER_INPUTS


def sampling_scale(contract: PolicyContract, override: float | None) -> float | None:
    """The scale to sample with: ``override`` (checked) or the contract's; None for a policy
    without guidance, which refuses any override."""
    if override is None:
        return contract.guidance[1] if contract.guidance else None
    if contract.guidance is None:
        raise PolicyContractError(
            f"{contract.path}: a guidance scale ({override}) was given, but this policy has no "
            "classifier-free guidance (its contract's 'guidance' is null: it was trained "
            "without model.domain_conditioning); leave the guidance scale unset"
        )
    if not np.isfinite(override) or override < 0:
        raise ValueError(f"guidance scale must be a finite number >= 0, got {override}")
    return float(override)


def parse_contract(path: Path, metadata: dict[str, str]) -> PolicyContract:
    """Check and parse contract metadata; errors name ``path`` and the key at fault."""
    path = Path(path)
    missing = [k for k in CONTRACT_KEYS if k not in metadata]
    if len(missing) == len(CONTRACT_KEYS):
        raise PolicyContractError(
            f"{path}: no SimHum contract in its metadata; export policies with simhum_export"
        )
    if missing:
        raise PolicyContractError(
            f"{path}: metadata lacks {missing}; re-export it with simhum_export"
        )

    def fail(key: str, why: str) -> PolicyContractError:
        return PolicyContractError(f"{path}: metadata '{key}' = {metadata[key]!r} {why}")

    def number(key: str, kind: type = int, minimum: float = 1) -> int | float:
        try:
            value = kind(metadata[key])
        except ValueError:
            raise fail(key, f"is not a{'n integer' if kind is int else ' number'}") from None
        if not np.isfinite(value) or value < minimum:
            raise fail(key, f"must be a finite number of at least {minimum}")
        return value

    def loads(key: str):
        try:
            return json.loads(metadata[key])
        except json.JSONDecodeError:
            raise fail(key, "is not valid JSON") from None

    version = metadata["simhum_contract_version"]
    if version not in (CONTRACT_VERSION, UNGUIDED_COMPATIBLE):
        raise fail(
            "simhum_contract_version",
            f"is unsupported (this runtime reads {CONTRACT_VERSION}); re-export it with "
            "simhum_export",
        )
    if metadata["image_encoding"] != "rgb8":
        raise fail("image_encoding", "is unsupported (rgb8 only)")
    if metadata["action_space"] not in ACTION_SPACES:
        raise fail("action_space", f"is not one of {ACTION_SPACES}")
    guidance = loads("guidance")
    if guidance is not None and version != CONTRACT_VERSION:
        raise fail(
            "simhum_contract_version",
            f"is unsupported for a guided policy (from {CONTRACT_VERSION} its guidance scale "
            "is a denoiser input); re-export it with simhum_export",
        )
    if guidance is not None:
        try:
            guidance = (str(guidance["domain"]), float(guidance["scale"]))
        except (TypeError, KeyError, ValueError):
            raise fail("guidance", 'must be null or {"domain": ..., "scale": ...}') from None
        if not np.isfinite(guidance[1]) or guidance[1] < 0:
            raise fail("guidance", "must have a finite scale >= 0")
    for key, expected in [
        ("encoder_inputs", ENCODER_INPUTS),
        ("encoder_outputs", ENCODER_OUTPUTS),
        ("denoiser_inputs", denoiser_inputs(guidance is not None)),
        ("denoiser_outputs", DENOISER_OUTPUTS),
    ]:
        if tuple(loads(key)) != expected:
            raise fail(key, f"must be {list(expected)}")
    joint_names = loads("joint_names")
    if not isinstance(joint_names, list) or not all(isinstance(n, str) for n in joint_names):
        raise fail("joint_names", "must be a JSON list of joint names")
    proprio_dim, action_dim = number("proprio_dim"), number("action_dim")
    layouts = {}
    for key, width in (("proprio_layout", proprio_dim), ("action_layout", action_dim)):
        layout = loads(key)
        try:
            layouts[key] = tuple((str(n), int(a), int(b)) for n, a, b in layout)
        except (TypeError, ValueError):
            raise fail(key, "must be a JSON list of [name, start, stop]") from None
        if not layouts[key] or layouts[key][-1][2] != width:
            raise fail(key, f"must end at the vector width {width}")
    normalization = loads("normalization")
    stats = {}
    for name in NORMALIZATION_KEYS:
        width = proprio_dim if name.startswith("proprio") else action_dim
        try:
            stats[name] = np.asarray(normalization[name], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise fail("normalization", f"lacks a numeric list '{name}'") from None
        bad = stats[name].shape != (width,) or not np.isfinite(stats[name]).all()
        if bad or (name.endswith("std") and (stats[name] <= 0).any()):
            raise fail("normalization", f"'{name}' must hold {width} finite numbers (std > 0)")
    lineage = loads("lineage")
    try:
        steps = tuple(
            LineageStep(
                str(s["experiment"]), str(s["stage"]), int(s["step"]), str(s["config_hash"])
            )
            for s in lineage
        )
    except (TypeError, KeyError, ValueError):
        raise fail(
            "lineage", "must be a JSON list of {experiment, stage, step, config_hash}"
        ) from None
    if not steps or (steps[-1].stage, steps[-1].config_hash) != (
        metadata["training_stage"],
        metadata["config_hash"],
    ):
        raise fail("lineage", "must end with the exported stage (training_stage, config_hash)")
    return PolicyContract(
        path=path,
        model_id=metadata["model_id"],
        config_hash=metadata["config_hash"],
        joint_names=tuple(joint_names),
        tool_frame=metadata["tool_frame"],
        base_frame=metadata["base_frame"],
        image_width=number("image_width"),
        image_height=number("image_height"),
        observation_history=number("observation_history"),
        proprio_dim=proprio_dim,
        action_space=metadata["action_space"],
        action_dim=action_dim,
        chunk_length=number("chunk_length"),
        control_hz=number("control_hz", float, 1e-9),
        num_sampling_steps=number("num_sampling_steps"),
        guidance=guidance,
        denoiser_file=metadata["denoiser_file"],
        proprio_layout=layouts["proprio_layout"],
        action_layout=layouts["action_layout"],
        training_stage=metadata["training_stage"],
        lineage=steps,
        **stats,
    )


def choose_providers(
    preference: Sequence[str] = PROVIDER_PREFERENCE,
    available: Sequence[str] | None = None,
    trt_cache_dir: Path | None = None,
) -> list:
    """The preferred execution providers that this onnxruntime build has, in order, with
    TensorRT set to fp16 and an engine cache; CPU always closes the list."""
    import onnxruntime as ort

    available = ort.get_available_providers() if available is None else available
    chosen: list = []
    for name in preference:
        if name not in available:
            continue
        if name == "TensorrtExecutionProvider":
            options = {"trt_fp16_enable": True, "trt_engine_cache_enable": True}
            if trt_cache_dir is not None:
                options["trt_engine_cache_path"] = str(trt_cache_dir)
            chosen.append((name, options))
        else:
            chosen.append(name)
    if "CPUExecutionProvider" not in preference:
        chosen.append("CPUExecutionProvider")
    return chosen


class OnnxPolicy:
    """Both graphs of an exported policy, the validated contract, and the sampler."""

    def __init__(
        self,
        path: str | Path,
        providers: Sequence[str] = PROVIDER_PREFERENCE,
        trt_cache_dir: Path | None = None,
        intra_op_threads: int = 0,
        guidance_scale: float | None = None,
    ) -> None:
        """``guidance_scale``: the classifier-free guidance scale to sample with instead of
        the contract's (a policy without guidance refuses it)."""
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise PolicyContractError(f"{path}: no such ONNX file")
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.intra_op_num_threads = intra_op_threads
        chosen = choose_providers(providers, trt_cache_dir=trt_cache_dir)
        self.encoder = _session(path, options, chosen)
        metadata = self.encoder.get_modelmeta().custom_metadata_map
        self.contract = parse_contract(path, metadata)
        self.guidance_scale = sampling_scale(self.contract, guidance_scale)
        denoiser = self.contract.denoiser_path
        if not denoiser.is_file():
            raise PolicyContractError(
                f"{path}: metadata 'denoiser_file' names {denoiser.name}, not found beside it"
            )
        self.denoiser = _session(denoiser, options, chosen)
        self._check_graphs()
        # a failed run raises PolicyInferenceError for the caller to report; onnxruntime's
        # own error log of every failed call (10 a second in the node) stays off
        self.run_options = ort.RunOptions()
        self.run_options.log_severity_level = 4

    @property
    def provider(self) -> str:
        """The execution provider that really runs the graphs (not just the available ones)."""
        return self.encoder.get_providers()[0]

    def _check_graphs(self) -> None:
        c = self.contract
        expected = {
            (self.encoder, c.path): {
                "image": [c.observation_history, c.image_height, c.image_width, 3],
                "proprio": [c.observation_history, c.proprio_dim],
            },
            (self.denoiser, c.denoiser_path): {
                "noisy_action": [c.chunk_length, c.action_dim],
            },
        }
        names = [i.name for i in self.denoiser.get_inputs()]
        if sorted(names) != sorted(denoiser_inputs(c.guidance is not None)):
            raise PolicyContractError(
                f"{c.denoiser_path}: has inputs {names}, the metadata says "
                f"{list(denoiser_inputs(c.guidance is not None))}"
            )
        for (session, path), shapes in expected.items():
            inputs = {i.name: i.shape[1:] for i in session.get_inputs()}
            for name, shape in shapes.items():
                if inputs.get(name) != shape:
                    raise PolicyContractError(
                        f"{path}: input '{name}' has shape [B, *{inputs.get(name)}], the "
                        f"metadata says [B, *{shape}]"
                    )

    def check_compatible(self, joint_names: Sequence[str], image_size: tuple[int, int]) -> None:
        """Raise if this robot's joints (URDF order) or the camera's (width, height) differ
        from the ones the policy was trained with."""
        c = self.contract
        if tuple(joint_names) != c.joint_names:
            raise PolicyContractError(
                f"{c.path}: trained for joints {list(c.joint_names)}, this robot has "
                f"{list(joint_names)}; export a policy trained on this robot's URDF"
            )
        if tuple(image_size) != (c.image_width, c.image_height):
            raise PolicyContractError(
                f"{c.path}: expects {c.image_width}x{c.image_height} images, the camera gives "
                f"{image_size[0]}x{image_size[1]}; resize the frames before sampling"
            )

    def encode(self, image_history: np.ndarray, proprio_history_raw: np.ndarray) -> np.ndarray:
        """Conditioning of one observation: images [T, H, W, 3] uint8, raw proprio [T, P]."""
        c = self.contract
        image = np.asarray(image_history, dtype=np.uint8)
        proprio = np.asarray(proprio_history_raw, dtype=np.float32)
        if image.shape != (c.observation_history, c.image_height, c.image_width, 3):
            raise ValueError(
                f"image_history must be [{c.observation_history}, {c.image_height}, "
                f"{c.image_width}, 3] uint8 RGB, got {image.shape}"
            )
        if proprio.shape != (c.observation_history, c.proprio_dim):
            raise ValueError(
                f"proprio_history_raw must be [{c.observation_history}, {c.proprio_dim}], "
                f"got {proprio.shape}"
            )
        normalized = (proprio - c.proprio_mean) / c.proprio_std
        feeds = {"image": image[None], "proprio": normalized[None].astype(np.float32)}
        return self._run(self.encoder, c.path, "cond", feeds)

    def sample(
        self,
        image_history: np.ndarray,
        proprio_history_raw: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """One action chunk [chunk_length, action_dim] in physical units."""
        c = self.contract
        cond = self.encode(image_history, proprio_history_raw)
        x = rng.standard_normal((1, c.chunk_length, c.action_dim), dtype=np.float32)
        steps = c.num_sampling_steps
        for k in range(steps):
            feeds = {
                "cond": cond,
                "noisy_action": x,
                "timestep": np.full((1,), k / steps, dtype=np.float32),
            }
            if self.guidance_scale is not None:
                feeds[GUIDANCE_INPUT] = np.full((1,), self.guidance_scale, dtype=np.float32)
            velocity = self._run(self.denoiser, c.denoiser_path, "velocity", feeds)
            x = x + velocity / np.float32(steps)
        return x[0] * c.action_std + c.action_mean

    def _run(self, session, path: Path, output: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """One output of a session run; any onnxruntime failure becomes PolicyInferenceError
        (onnxruntime's exception types derive from Exception only)."""
        try:
            return session.run([output], feeds, self.run_options)[0]
        except Exception as err:
            raise PolicyInferenceError(f"{path}: inference failed ({_first_line(err)})") from err


def _first_line(err: Exception) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def _session(path: Path, options, providers: list):
    """An onnxruntime session of ``path``; a file it cannot load breaks the contract
    (onnxruntime's exception types, InvalidProtobuf, Fail..., derive from Exception only)."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as err:
        raise PolicyContractError(
            f"{path}: onnxruntime cannot load it as an ONNX model ({_first_line(err)})"
        ) from None
