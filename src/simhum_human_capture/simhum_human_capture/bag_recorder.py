"""Episode recording that survives a crash, without deserialising any message.

While an episode runs, serialized (CDR) messages go into an MCAP file written in small
chunks beside a metadata sidecar; a killed recorder leaves a file readable up to its last
complete chunk. Finalising (at stop, or later to recover a crashed recording) copies the
raw messages into a rosbag2 bag (MCAP storage, metadata.yaml with the episode metadata)
in the same layout as every other SimHum episode.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import yaml

from simhum_description.episode_bag import METADATA_KEY, STAGING, EpisodeMetadata, typestore
from simhum_description.paths import is_plain_name

RECORDING = ".recording"
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


class EpisodeRecording:
    """One episode being recorded: write() raw messages, then stop()."""

    def __init__(self, out: Path, metadata: EpisodeMetadata, min_free_gb: float) -> None:
        from mcap.writer import CompressionType, Writer

        for kind in ("task", "domain", "episode_id"):
            check_plain_name(kind, getattr(metadata, kind))
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
        self.sidecar.write_text(yaml.safe_dump(asdict(metadata), sort_keys=True))
        self._file = open(self.mcap_path, "wb")  # noqa: SIM115 - closed in stop()
        self._writer = Writer(self._file, chunk_size=CHUNK_BYTES, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="simhum_human_capture")
        self._channels: dict[str, int] = {}
        self._flushed = time.monotonic()
        self.metadata = metadata
        self.count = 0

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
        self._writer.finish()
        self._file.close()
        metadata = replace(self.metadata, success=success, note=note or self.metadata.note)
        self.sidecar.write_text(yaml.safe_dump(asdict(metadata), sort_keys=True))
        return finalize(self.mcap_path)


def _read_tolerant(path: Path):
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
    """Turn a recording (complete or cut short) into the episode's rosbag2 bag."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    mcap_path = Path(mcap_path)
    sidecar = mcap_path.with_suffix(".yaml")
    metadata = EpisodeMetadata(**yaml.safe_load(sidecar.read_text()))
    if recovered:
        metadata = replace(
            metadata,
            success=False,
            note=f"recovered after the recorder stopped unexpectedly; {metadata.note}",
        )
    folder = mcap_path.parent.parent
    staging = folder / STAGING / metadata.episode_id
    if staging.exists():
        shutil.rmtree(staging)
    staging.parent.mkdir(parents=True, exist_ok=True)
    writer = Writer(staging, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    connections, store = {}, typestore()
    for topic, msgtype, _, stamp, data in _read_tolerant(mcap_path):
        if topic not in connections:
            connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
        writer.write(connections[topic], stamp, data)
    writer.set_custom_data(METADATA_KEY, yaml.safe_dump(asdict(metadata), sort_keys=True))
    writer.close()
    final = folder / metadata.episode_id
    staging.replace(final)
    mcap_path.unlink()
    sidecar.unlink()
    return final


def recover_all(out: Path) -> list[Path]:
    """Finalise every recording left behind by a recorder that died; returns the bags."""
    return [finalize(p, recovered=True) for p in sorted(Path(out).glob(f"*/*/{RECORDING}/*.mcap"))]


def episode_id(task: str, domain: str) -> str:
    """A unique, sortable episode id for a live recording."""
    return f"{task}-{domain}-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6:06d}"
