"""Episode recording that survives a crash, without deserialising any message.

While an episode runs, serialized (CDR) messages go into an MCAP file written in small
chunks beside a metadata sidecar; a killed recorder leaves a file readable up to its last
complete chunk. Finalising (at stop, or later to recover a crashed recording) copies the
raw messages into a rosbag2 bag (MCAP storage, metadata.yaml with the episode metadata)
in the same layout as every other SimHum episode.

Crash consistency: the sidecar is only ever replaced whole (a temporary file, then
os.replace), the bag appears under its final name in one rename, and the leftovers are
removed after it. Whatever point a recorder dies at, the next start finds a complete bag,
a leftover it can finalise, or (unreadable) a leftover it sets aside into ``.broken``;
never something that stops it.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import yaml

from simhum_core.episode_bag import METADATA_KEY, STAGING, EpisodeMetadata, typestore
from simhum_core.paths import is_plain_name

RECORDING = ".recording"
BROKEN = ".broken"  # leftovers that cannot be recovered, set aside (the dataset skips dot-folders)
STOPPED = "stopped"  # sidecar key: the operator stopped the episode (success and note are final)
DOMAINS = ("sim", "human", "real")  # EpisodeEvent.DOMAIN_*
EMBODIMENTS = ("robot", "human")  # EpisodeEvent.EMBODIMENT_*
MAX_TEXT = 4000  # characters of a free-text field (operator, note)
CHUNK_BYTES = 256 * 1024
FLUSH_PERIOD_S = 0.25  # a crash loses at most this much of a slow stream


class RecorderError(RuntimeError):
    """A recording that cannot start or finish (the message says why)."""


def check_free_space(folder: Path, min_free_gb: float) -> None:
    """Refuse to record when the disk holding ``folder`` is nearly full."""
    free = shutil.disk_usage(folder).free / 1e9
    if free < min_free_gb:
        raise RecorderError(
            f"{folder}: only {free:.1f} GB free, below the {min_free_gb:.1f} GB minimum"
        )


def check_plain_name(kind: str, value: str) -> None:
    """Names that become folders (task, domain, episode id) stay one folder deep: no
    separators, no '..', no absolute paths; anything else is a RecorderError."""
    if not is_plain_name(value):
        raise RecorderError(
            f"{kind} '{value}' is not a plain name (letters, digits, '_', '-', '.'; "
            f"starting with a letter or digit)"
        )


def check_metadata(metadata: EpisodeMetadata) -> None:
    """An episode's metadata as a request may give it: plain names where they become folders,
    a known domain and embodiment, bounded free text; anything else is a RecorderError."""
    for kind in ("task", "domain", "episode_id"):
        check_plain_name(kind, getattr(metadata, kind))
    if metadata.domain not in DOMAINS:
        raise RecorderError(f"domain '{metadata.domain}' is not one of {list(DOMAINS)}")
    if metadata.embodiment not in EMBODIMENTS:
        raise RecorderError(
            f"embodiment '{metadata.embodiment}' is not one of {list(EMBODIMENTS)}"
        )
    for kind in ("operator", "note"):
        if len(getattr(metadata, kind)) > MAX_TEXT:
            raise RecorderError(f"{kind} is longer than {MAX_TEXT} characters")


def write_sidecar(path: Path, metadata: EpisodeMetadata, stopped: bool = False) -> None:
    """Write the episode's metadata sidecar atomically: a reader (or a recovery after a crash
    at any point) sees the old content or the new one, never a part."""
    tmp = path.with_name(f"{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(yaml.safe_dump({**asdict(metadata), STOPPED: stopped}, sort_keys=True))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_sidecar(path: Path) -> tuple[EpisodeMetadata, bool]:
    """The metadata in a sidecar and whether the episode was stopped; a RecorderError when
    the file is not a sidecar."""
    try:
        fields = yaml.safe_load(path.read_text())
        stopped = bool(fields.pop(STOPPED, False))
        return EpisodeMetadata(**fields), stopped
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError, TypeError) as err:
        raise RecorderError(f"{path}: not an episode sidecar ({err})") from None


class EpisodeRecording:
    """One episode being recorded: write() raw messages, then stop()."""

    def __init__(self, out: Path, metadata: EpisodeMetadata, min_free_gb: float) -> None:
        from mcap.writer import CompressionType, Writer

        check_metadata(metadata)
        folder = Path(out) / metadata.task / metadata.domain
        try:
            (folder / RECORDING).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RecorderError(
                f"{folder}: cannot create the episode folder ({err.strerror})"
            ) from None
        check_free_space(folder, min_free_gb)
        self.final_path = folder / metadata.episode_id
        if self.final_path.exists():
            raise RecorderError(f"{self.final_path}: an episode with this id exists already")
        self.mcap_path = folder / RECORDING / f"{metadata.episode_id}.mcap"
        self.sidecar = self.mcap_path.with_suffix(".yaml")
        write_sidecar(self.sidecar, metadata)
        self._file = open(self.mcap_path, "wb")  # noqa: SIM115 - closed in stop()
        self._writer = Writer(self._file, chunk_size=CHUNK_BYTES, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="simhum_human_capture")
        self._channels: dict[str, int] = {}
        self._flushed = time.monotonic()
        self.metadata = metadata
        self.count = 0

    def started_as(self, metadata: EpisodeMetadata) -> bool:
        """Whether ``metadata`` asks for this very episode (task, domain, embodiment,
        operator and note alike; the id, a timestamp, is the recorder's own)."""
        keys = ("task", "domain", "embodiment", "operator", "note")
        return all(getattr(self.metadata, k) == getattr(metadata, k) for k in keys)

    def write(self, topic: str, msgtype: str, stamp_ns: int, raw: bytes) -> None:
        """Append one serialized message."""
        channel = self._channels.get(topic)
        if channel is None:
            msgdef, _ = typestore().generate_msgdef(msgtype, ros_version=2)
            schema = self._writer.register_schema(msgtype, "ros2msg", msgdef.encode())
            channel = self._writer.register_channel(topic, "cdr", schema)
            self._channels[topic] = channel
        self._writer.add_message(channel, stamp_ns, raw, stamp_ns)
        self.count += 1
        if time.monotonic() - self._flushed > FLUSH_PERIOD_S:
            self._writer.flush()  # closes the chunk and hands it to the OS
            self._flushed = time.monotonic()

    def stop(self, success: bool, note: str = "") -> Path:
        """Finish the episode as a rosbag2 bag; returns its path."""
        metadata = replace(self.metadata, success=success, note=note or self.metadata.note)
        check_metadata(metadata)
        self._writer.finish()
        self._file.close()
        write_sidecar(self.sidecar, metadata, stopped=True)
        return finalize(self.mcap_path)


def read_recording(path: Path):
    """(channel topic, schema name, schema text, log time, data) of every message in an MCAP
    file, stopping quietly at a truncated end."""
    from mcap.exceptions import McapError
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader

    schemas, channels = {}, {}
    with open(path, "rb") as stream:
        try:
            for record in StreamReader(stream, skip_magic=False).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Message):
                    channel = channels[record.channel_id]
                    schema = schemas[channel.schema_id]
                    yield (
                        channel.topic,
                        schema.name,
                        schema.data.decode(),
                        record.log_time,
                        record.data,
                    )
        except (McapError, EOFError, ValueError, KeyError, OSError):
            return  # the rest was never flushed: the recorder died here


def finalize(mcap_path: Path, recovered: bool = False) -> Path:
    """Turn a recording (complete or cut short) into the episode's rosbag2 bag; a recovered
    recording the operator had not stopped is marked failed. Finishes the clean-up of one
    that was finalised already. A RecorderError when there is nothing to recover."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    mcap_path = Path(mcap_path)
    sidecar = mcap_path.with_suffix(".yaml")
    metadata, stopped = read_sidecar(sidecar)
    if recovered and not stopped:
        metadata = replace(
            metadata,
            success=False,
            note=f"recovered after the recorder stopped unexpectedly; {metadata.note}",
        )
    folder = mcap_path.parent.parent
    final = folder / metadata.episode_id
    if not final.exists():  # else only the clean-up below was left undone
        if not mcap_path.exists():
            raise RecorderError(f"{sidecar}: no recording beside it (stopped before the first)")
        staging = folder / STAGING / metadata.episode_id
        if staging.exists():
            shutil.rmtree(staging)
        staging.parent.mkdir(parents=True, exist_ok=True)
        writer = Writer(staging, version=9, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        connections, store = {}, typestore()
        for topic, msgtype, _, stamp, data in read_recording(mcap_path):
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
            writer.write(connections[topic], stamp, data)
        writer.set_custom_data(METADATA_KEY, yaml.safe_dump(asdict(metadata), sort_keys=True))
        writer.close()
        if recovered and not connections:
            shutil.rmtree(staging)
            raise RecorderError(f"{mcap_path}: no complete message to recover")
        staging.replace(final)
    mcap_path.unlink(missing_ok=True)
    sidecar.unlink()
    return final


@dataclass(frozen=True)
class Leftover:
    """What recovery did with one recording left behind."""

    path: Path  # the recovered bag, or the folder the leftover was set aside into
    recovered: bool
    reason: str = ""  # why it could not be recovered


def set_aside(recording: Path, episode: str) -> Path:
    """Move one episode's leftover files out of ``recording`` into the task's ``.broken``
    folder (kept for inspection, ignored by the dataset); returns where they went."""
    target = recording.parent / BROKEN / episode
    n = 1
    while target.exists():
        target, n = recording.parent / BROKEN / f"{episode}.{n}", n + 1
    target.mkdir(parents=True)
    for suffix in (".mcap", ".yaml"):
        path = recording / f"{episode}{suffix}"
        if path.exists():
            os.replace(path, target / path.name)
    return target


def recover_all(out: Path) -> list[Leftover]:
    """Finalise every recording left behind by a recorder that died; one that cannot be
    finalised is set aside, never left to stop the next start."""
    done = []
    for recording in sorted(Path(out).glob(f"*/*/{RECORDING}")):
        for tmp in recording.glob("*.tmp"):  # a sidecar never put in place
            tmp.unlink()
        episodes = sorted({p.stem for p in recording.iterdir() if p.suffix in (".mcap", ".yaml")})
        for episode in episodes:
            mcap = recording / f"{episode}.mcap"
            try:
                done.append(Leftover(finalize(mcap, recovered=True), True))
            except (RecorderError, OSError, ValueError) as err:
                done.append(Leftover(set_aside(recording, episode), False, str(err)))
    return done


def episode_id(task: str, domain: str) -> str:
    """A unique, sortable episode id for a live recording."""
    return f"{task}-{domain}-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6:06d}"
