"""Checkpoints: what a stage saves, and how a later stage keeps the modules it needs.

A final checkpoint is self-describing, so export needs nothing else: the policy config and
weights, the normaliser and action space of each embodiment, the robot and image facts of
the store, the resolved experiment config with its hash, and its lineage: the experiment,
stage, step and config hash of every stage its weights went through, first to last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from simhum_train.action_space import ActionSpace
from simhum_train.errors import SimhumTrainError
from simhum_train.keys import DEPLOY_ADAPTOR, ROBOT
from simhum_train.policy.config import PolicyConfig
from simhum_train.policy.modeling import ModularPolicy

FINAL = "final.pt"  # the last step of a stage
BEST = "best.pt"  # the step with the lowest validation error: what later stages and export use
LATEST = "checkpoint.pt"  # for resume
# What a stage checkpoint holds for export and for a later stage to start from.
REQUIRED_KEYS = (
    "stage",
    "step",
    "config_hash",
    "lineage",
    "policy_config",
    "policy",
    "normalization",
    "action_spaces",
    "robot",
    "image",
    "control_hz",
)


class CheckpointError(SimhumTrainError):
    """A checkpoint file that cannot be read, is not a SimHum stage checkpoint, or does not
    fit the robot or action space it is used with; the message names the file."""


def lineage_step(experiment: str, stage: str, step: int, config_hash: str) -> dict:
    """One stage of a checkpoint's lineage."""
    return {"experiment": experiment, "stage": stage, "step": step, "config_hash": config_hash}


def space_record(space: ActionSpace) -> dict:
    """An action space as a checkpoint stores it."""
    return {
        "name": space.name,
        "proprio_layout": space.proprio_layout,
        "action_layout": space.action_layout,
    }


def module_paths(policy: ModularPolicy) -> list[str]:
    """The policy's replaceable modules: backbone, trunk, adaptors.<domain>,
    embodiments.<embodiment>."""
    return [
        "backbone",
        "trunk",
        *(f"adaptors.{name}" for name in policy.adaptors),
        *(f"embodiments.{name}" for name in policy.embodiments),
    ]


def module_state(state: dict[str, torch.Tensor], path: str) -> dict[str, torch.Tensor]:
    """The entries of a policy state dict under module ``path``, with the prefix removed."""
    prefix = path + "."
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def shared_init_map(init_map: Mapping[str, str], shared_adaptor: bool) -> dict[str, str]:
    """``init_map`` for a policy whose looks share one adaptor: every ``adaptors.<look>`` is
    then the deployable adaptor, so a mapping between two looks' adaptors is no mapping."""
    if not shared_adaptor:
        return dict(init_map)

    def one(path: str) -> str:
        return f"adaptors.{DEPLOY_ADAPTOR}" if path.startswith("adaptors.") else path

    return {one(k): one(v) for k, v in init_map.items() if one(k) != one(v)}


def initialize_from(
    policy: ModularPolicy, state: dict[str, torch.Tensor], init_map: dict[str, str]
) -> dict[str, str]:
    """Load every module of ``policy`` found in ``state`` (an earlier stage's weights),
    under its own name or the one ``init_map`` gives; the rest stay freshly initialised.
    Returns where each module came from ('fresh' when from nowhere). A module that
    ``init_map`` names a source for must find it: a mapped module never starts fresh."""
    paths = module_paths(policy)
    unknown = [p for p in init_map if p not in paths]
    if unknown:
        raise ValueError(f"init_map names {unknown}, not modules of this stage's policy {paths}")
    missing = {p: s for p, s in init_map.items() if not module_state(state, s)}
    if missing:
        nested = ("adaptors.", "embodiments.")
        held = sorted({".".join(k.split(".")[: 1 + k.startswith(nested)]) for k in state})
        raise ValueError(
            f"init_map starts {missing} from modules the checkpoint lacks; it holds {held}"
        )
    origin = {}
    for path in paths:
        source = init_map.get(path, path)
        weights = module_state(state, source)
        if weights:
            policy.get_submodule(path).load_state_dict(weights, strict=True)
        origin[path] = source if weights else "fresh"
    return origin


def read_checkpoint(path: Path, device: str = "cpu") -> dict:
    """A stage checkpoint's contents, checked to hold every key of REQUIRED_KEYS."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch.load raises RuntimeError, UnpicklingError, KeyError, ...
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint: truncated, or another kind of file "
            f"({type(err).__name__})"
        ) from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f"{path}: holds a {type(checkpoint).__name__}, not a SimHum stage checkpoint"
        )
    missing = [k for k in REQUIRED_KEYS if k not in checkpoint]
    if missing == ["lineage"]:
        raise CheckpointError(
            f"{path}: written before checkpoints recorded their lineage; delete its stage "
            "folder and train the stage again"
        )
    if missing:
        raise CheckpointError(f"{path}: not a SimHum stage checkpoint (it lacks {missing})")
    return checkpoint


def check_fits(
    checkpoint: dict, path: Path, joint_names: Sequence[str], spaces: Mapping[str, ActionSpace]
) -> None:
    """Refuse a checkpoint trained for another robot (joints) or action space than the
    embodiments ``spaces`` it is to be used with."""
    trained = checkpoint["action_spaces"]
    if ROBOT in trained and ROBOT in spaces:
        theirs = list(checkpoint["robot"]["joint_names"])
        if theirs != list(joint_names):
            raise CheckpointError(
                f"{path}: trained for robot joints {theirs}, this store's robot has "
                f"{list(joint_names)}"
            )
    for embodiment in sorted(set(trained) & set(spaces)):
        theirs, ours = trained[embodiment], space_record(spaces[embodiment])
        if _plain(theirs) != _plain(ours):
            raise CheckpointError(
                f"{path}: its '{embodiment}' action space is {theirs['name']} "
                f"{_plain(theirs['action_layout'])}, this stage's is {ours['name']} "
                f"{_plain(ours['action_layout'])}"
            )


def _plain(value: object) -> object:
    """Tuples as lists, recursively, so that stored and fresh records compare equal."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def load_policy(path: Path, device: str = "cpu") -> tuple[ModularPolicy, dict]:
    """The policy of a checkpoint (eval mode) and the checkpoint itself."""
    checkpoint = read_checkpoint(path, device)
    try:
        policy = ModularPolicy(PolicyConfig.from_dict(checkpoint["policy_config"]))
        policy.load_state_dict(checkpoint["policy"])
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(
            f"{path}: its weights do not fit its policy_config ({reason})"
        ) from None
    return policy.to(device).eval(), checkpoint
