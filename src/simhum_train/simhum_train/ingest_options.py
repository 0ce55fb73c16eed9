"""What a recording does not say about itself, from ``simhum_dataset``'s flags, a topics file
and a sidecar file in the bag's folder.

Every setting has one key, the flag's name with '_' for '-' (``--image-topic`` is
``image_topic``):

- topics: ``image_topic``, ``joint_states_topic``, ``command_topic`` (``none``: no
  commands), ``command_joints``, ``gripper_topic``;
- episode: ``task``, ``domain``, ``embodiment``, ``success``, ``operator``, ``note``;
- splitting: ``episode_ranges`` ("0:12.5,14:30": seconds from the bag's start) or
  ``split_gap`` (seconds without a camera frame that end an episode).

A topics file (``--topics-file``) holds topic keys; a sidecar ``<bag>/simhum_episode.yaml``
holds any key for that bag alone. A bag's sidecar overrides the flags, which override the
topics file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

import yaml

from simhum_train.errors import SimhumTrainError
from simhum_train.keys import DOMAINS, EMBODIMENTS

SIDECAR = "simhum_episode.yaml"
NO_COMMAND = "none"  # the command_topic value of a recording without commands
TOPIC_KEYS = (
    "image_topic",
    "joint_states_topic",
    "command_topic",
    "command_joints",
    "gripper_topic",
)


class OptionError(SimhumTrainError):
    """A setting that cannot be used; the message names it and says what it takes."""


def parse_ranges(value: str | list) -> tuple[tuple[float, float], ...]:
    """``"0:12.5,14:30"`` (or a list of such strings or of [start, stop] pairs) as
    ((start, stop), ...) seconds, each start before its stop, none negative."""
    items = value.split(",") if isinstance(value, str) else list(value)
    ranges = []
    for item in items:
        parts = str(item).split(":") if not isinstance(item, list | tuple) else item
        try:
            start, stop = (float(p) for p in parts)
        except (TypeError, ValueError):
            raise OptionError(
                f"'{item}' is not START:STOP in seconds from the bag's start (e.g. 0:12.5)"
            ) from None
        if not 0 <= start < stop:
            raise OptionError(f"'{item}': the start must be >= 0 and before the stop")
        ranges.append((start, stop))
    if not ranges:
        raise OptionError("no time range given (e.g. 0:12.5,14:30)")
    return tuple(ranges)


def parse_bool(value: str | bool) -> bool:
    """true/false, yes/no, 1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise OptionError(f"'{value}' is not true or false")


def parse_seconds(value: str | float) -> float:
    """A positive number of seconds."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"'{value}' is not a number of seconds") from None
    if not seconds > 0:
        raise OptionError(f"{value}: must be more than 0 seconds")
    return seconds


def parse_names(value: str | list) -> tuple[str, ...]:
    """Joint names, comma-separated or a list."""
    names = value.split(",") if isinstance(value, str) else value
    names = tuple(str(n).strip() for n in names if str(n).strip())
    if not names:
        raise OptionError("no joint names given")
    return names


# how a flag's text or a YAML value becomes a setting; absent keys are taken as strings
PARSERS: dict[str, Callable] = {
    "command_joints": parse_names,
    "success": parse_bool,
    "episode_ranges": parse_ranges,
    "split_gap": parse_seconds,
}


@dataclass(frozen=True)
class IngestOptions:
    """Settings for recordings that do not carry SimHum's metadata; None: not given."""

    image_topic: str | None = None
    joint_states_topic: str | None = None
    command_topic: str | None = None
    command_joints: tuple[str, ...] | None = None
    gripper_topic: str | None = None
    task: str | None = None
    domain: str | None = None
    embodiment: str | None = None
    success: bool | None = None
    operator: str | None = None
    note: str | None = None
    episode_ranges: tuple[tuple[float, float], ...] | None = None
    split_gap: float | None = None

    def __post_init__(self) -> None:
        if self.domain is not None and self.domain not in DOMAINS:
            raise OptionError(f"domain '{self.domain}' is not one of {', '.join(DOMAINS)}")
        if self.embodiment is not None and self.embodiment not in EMBODIMENTS:
            raise OptionError(
                f"embodiment '{self.embodiment}' is not one of {', '.join(EMBODIMENTS)}"
            )
        if self.episode_ranges is not None and self.split_gap is not None:
            raise OptionError("give episode_ranges or split_gap, not both")

    @classmethod
    def from_mapping(
        cls, values: Mapping, source: str, keys: tuple[str, ...] = ()
    ) -> IngestOptions:
        """Options from ``values`` (YAML or parsed flags; None entries ignored), only
        ``keys`` allowed when given; errors name ``source`` and the key."""
        allowed = keys or tuple(f.name for f in fields(cls))
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise OptionError(f"{source}: unknown key(s) {unknown}; known: {list(allowed)}")
        parsed = {}
        for key, value in values.items():
            if value is None:
                continue
            try:
                parsed[key] = PARSERS[key](value) if key in PARSERS else str(value)
            except OptionError as err:
                raise OptionError(f"{source}: {key}: {err}") from None
        try:
            return cls(**parsed)
        except OptionError as err:
            raise OptionError(f"{source}: {err}") from None

    def over(self, base: IngestOptions) -> IngestOptions:
        """These options, falling back on ``base`` for each one not given here (a way of
        splitting given here replaces ``base``'s)."""
        given = {f.name: getattr(self, f.name) for f in fields(self)}
        merged = {k: v for k, v in given.items() if v is not None}
        if self.episode_ranges is not None or self.split_gap is not None:
            merged.update(episode_ranges=self.episode_ranges, split_gap=self.split_gap)
        return replace(base, **merged)


def read_options(path: Path, keys: tuple[str, ...] = ()) -> IngestOptions:
    """Options from a YAML file of ``keys`` (every key when empty)."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise OptionError(f"{path}: unreadable ({err})") from None
    if not isinstance(values, dict):
        raise OptionError(f"{path}: expected a mapping of keys to values")
    return IngestOptions.from_mapping(values, str(path), keys)


def bag_options(bag: Path, flags: IngestOptions) -> IngestOptions:
    """The options for ``bag``: its sidecar (if any) over ``flags``."""
    sidecar = Path(bag) / SIDECAR
    return read_options(sidecar).over(flags) if sidecar.is_file() else flags
