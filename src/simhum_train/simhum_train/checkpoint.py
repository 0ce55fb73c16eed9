"""Checkpoints: what a stage saves, and how a later stage keeps the modules it needs.

A final checkpoint is self-describing, so export needs nothing else: the policy config and
weights, the normaliser and action space of each embodiment, the robot and image facts of
the store, and the resolved experiment config with its hash.
"""

from __future__ import annotations

from pathlib import Path

import torch

from simhum_train.policy.config import PolicyConfig
from simhum_train.policy.modeling import ModularPolicy

FINAL = "final.pt"  # the last step of a stage
BEST = "best.pt"  # the step with the lowest validation error: what later stages and export use
LATEST = "checkpoint.pt"  # for resume


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


def initialize_from(
    policy: ModularPolicy, state: dict[str, torch.Tensor], init_map: dict[str, str]
) -> dict[str, str]:
    """Load every module of ``policy`` found in ``state`` (an earlier stage's weights),
    under its own name or the one ``init_map`` gives; the rest stay freshly initialised.
    Returns where each module came from ('fresh' when from nowhere)."""
    paths = module_paths(policy)
    unknown = [p for p in init_map if p not in paths]
    if unknown:
        raise ValueError(f"init_map names {unknown}, not modules of this stage's policy {paths}")
    origin = {}
    for path in paths:
        source = init_map.get(path, path)
        weights = module_state(state, source)
        if weights:
            policy.get_submodule(path).load_state_dict(weights, strict=True)
        origin[path] = source if weights else "fresh"
    return origin


def load_policy(path: Path, device: str = "cpu") -> tuple[ModularPolicy, dict]:
    """The policy of a checkpoint (eval mode) and the checkpoint itself."""
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    policy = ModularPolicy(PolicyConfig.from_dict(checkpoint["policy_config"]))
    policy.load_state_dict(checkpoint["policy"])
    return policy.to(device).eval(), checkpoint
