"""Topic and service names from config/topics.yaml (the one place they are written)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from simhum_core.errors import DescriptionError
from simhum_core.paths import share_dir


@dataclass(frozen=True)
class Topics:
    """Every SimHum topic and service name."""

    camera_image: str
    camera_image_compressed: str
    camera_info: str
    camera_depth: str
    joint_states: str
    joint_trajectory: str
    gripper_command: str
    clock: str
    episode_events: str
    hand_pose: str
    end_effector_target: str
    retarget_preview: str
    policy_status: str
    policy_intent_path: str
    policy_intent_markers: str
    reset_scene: str
    record: str


def load_topics(path: str | Path | None = None) -> Topics:
    """Read the topic config; a missing or unknown name is an error naming the file."""
    path = Path(path) if path else share_dir() / "config" / "topics.yaml"
    if not path.is_file():
        raise DescriptionError(f"{path}: topic config not found")
    data = yaml.safe_load(path.read_text()) or {}
    names = {f.name for f in fields(Topics)}
    missing, unknown = names - set(data), set(data) - names
    if missing or unknown:
        raise DescriptionError(
            f"{path}: missing topic names {sorted(missing)}, unknown {sorted(unknown)}"
        )
    return Topics(**{k: str(v) for k, v in data.items()})
