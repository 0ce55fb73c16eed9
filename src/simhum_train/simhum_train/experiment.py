"""Experiment configs: YAML files that compose (``base: other.yaml``, merged key by key) and
take dotted overrides (``stages.0.steps=100``), checked into typed dataclasses.

An experiment is a list of stages run in order; a stage trains on a mixture of domains and
may start from an earlier stage's weights or from a checkpoint file of another experiment
(the two-stage recipe and every baseline are such lists, see configs/). No code is ever
evaluated from a config file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import yaml

from simhum_core.paths import is_plain_name
from simhum_train.action_space import ROBOT_ACTION_SPACES
from simhum_train.augment import AugmentConfig
from simhum_train.dataset import ROTATION_SCALES, STATISTICS
from simhum_train.errors import SimhumTrainError
from simhum_train.keys import DOMAINS, REAL, SIM
from simhum_train.mixing import AUTO
from simhum_train.policy.config import ArchitectureConfig

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
BATCH_MIXING = ("proportional", "balanced")
CHECKPOINT_SUFFIX = ".pt"


class ConfigError(SimhumTrainError):
    """A bad experiment config; the message names the file and key."""


@dataclass(frozen=True)
class DataConfig:
    """Which store and how to read it."""

    store: str
    action_space: str = "relative_ee"
    val_fraction: float = 0.1
    tasks: tuple[str, ...] | None = None  # None: every task
    # domain -> at most this many of its episodes per task, the first by episode id (seed
    # order), chosen before the train/val split; e.g. {real: 10}. Domains not named: all.
    episodes: dict[str, int] = field(default_factory=dict)
    # Normalisation (dataset.STATISTICS, ROTATION_SCALES): "training" statistics are over the
    # episodes this training loads, after tasks and episodes.
    statistics: str = STATISTICS[0]
    rotation_scale: str = ROTATION_SCALES[0]

    def __post_init__(self) -> None:
        if self.statistics not in STATISTICS:
            raise ValueError(f"data.statistics must be one of {STATISTICS}")
        if self.rotation_scale not in ROTATION_SCALES:
            raise ValueError(f"data.rotation_scale must be one of {ROTATION_SCALES}")
        if self.action_space not in ROBOT_ACTION_SPACES:
            raise ValueError(f"data.action_space must be one of {ROBOT_ACTION_SPACES}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.tasks is not None:
            object.__setattr__(self, "tasks", tuple(self.tasks))
        unknown = sorted(d for d in self.episodes if d not in DOMAINS)
        if unknown:
            raise ValueError(f"data.episodes: unknown domain(s) {unknown}; known: {DOMAINS}")
        bad = {d: n for d, n in self.episodes.items() if not isinstance(n, int) or n < 1}
        if bad:
            raise ValueError(f"data.episodes: counts must be integers >= 1, got {bad}")


@dataclass(frozen=True)
class StageConfig:
    """One training stage."""

    name: str
    # domain -> weight (normalised to sum 1), or "auto": real and sim, the real share from the
    # mixing guide (simhum_train.mixing), resolved when the store's counts are known
    mixing: dict[str, float] | str
    steps: int
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    grad_clip: float = 1.0
    # decay of the exponential moving average of the weights that is evaluated, selected
    # and exported (as in Diffusion Policy; ramped up over the first steps); 0: raw weights
    ema: float = 0.995
    # proportional: each domain fills its weight's share of a batch; balanced: equal shares,
    # each domain's loss weighted by its mixing weight (importance reweighting)
    batch_mixing: str = "proportional"
    # what starts this stage: an earlier stage (its best.pt) or a checkpoint file (*.pt),
    # e.g. another experiment's shared pre-training
    init_from: str | None = None
    init_map: dict[str, str] = field(default_factory=dict)  # e.g. adaptors.real: adaptors.sim
    # modules kept as they start (not trained), e.g. [trunk, embodiments.robot]: a fine-tune
    # that only adapts the vision to a new domain
    freeze: tuple[str, ...] = ()
    # auxiliary losses on f(o), the representation the action head consumes:
    domain_classifier_weight: float = 0.0  # discernibility: a domain classifier's loss
    adversarial_weight: float = 0.0  # adversarial alignment: that classifier, gradient reversed
    alignment_weight: float = 0.0  # optimal-transport alignment: 2-Wasserstein between domains
    eval_every: int = 200
    eval_samples: int = 128  # validation windows per domain
    checkpoint_every: int = 200

    def __post_init__(self) -> None:
        where = f"stage '{self.name}'"
        object.__setattr__(self, "freeze", tuple(self.freeze))
        if self.mixing != AUTO:
            weights = self.mixing if isinstance(self.mixing, dict) else {}
            unknown = [d for d in weights if d not in DOMAINS]
            bad = [w for w in weights.values() if not isinstance(w, int | float) or w <= 0]
            if not weights or unknown or bad:
                raise ValueError(
                    f"{where}: mixing needs positive weights for domains from {DOMAINS} (or "
                    f"'{AUTO}'), got {self.mixing}"
                )
            total = sum(weights.values())
            object.__setattr__(self, "mixing", {d: w / total for d, w in weights.items()})
        if self.batch_mixing not in BATCH_MIXING:
            raise ValueError(f"{where}: batch_mixing must be one of {BATCH_MIXING}")
        if self.steps < 0 or self.batch_size < len(self.domains):
            raise ValueError(f"{where}: steps must be >= 0 and batch_size at least one per domain")
        if min(self.domain_classifier_weight, self.adversarial_weight, self.alignment_weight) < 0:
            raise ValueError(f"{where}: the auxiliary loss weights must be >= 0")
        if self.domain_classifier_weight > 0 and self.adversarial_weight > 0:
            raise ValueError(
                f"{where}: domain_classifier_weight (push the domains apart) and "
                "adversarial_weight (pull them together) share one classifier; set one"
            )
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"{where}: ema must be in [0, 1), got {self.ema}")
        if min(self.eval_every, self.checkpoint_every, self.eval_samples) < 1:
            raise ValueError(f"{where}: eval_every, checkpoint_every, eval_samples must be >= 1")

    @property
    def domains(self) -> list[str]:
        """The domains this stage trains on."""
        return [REAL, SIM] if self.mixing == AUTO else list(self.mixing)


@dataclass(frozen=True)
class ExperimentConfig:
    """A named list of stages over one store, with one architecture and seed."""

    name: str
    out: str
    data: DataConfig
    model: ArchitectureConfig
    stages: tuple[StageConfig, ...]
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not is_plain_name(self.name):
            raise ValueError(
                f"name must be a plain name (letters, digits, '_', '-', '.'; it names the "
                f"run's folder), got {self.name!r}"
            )
        names = [s.name for s in self.stages]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"stages need unique names, got {names}")
        for i, stage in enumerate(self.stages):
            source = stage.init_from
            if source is None or source in names[:i]:
                continue
            if not source.endswith(CHECKPOINT_SUFFIX):
                raise ValueError(
                    f"stage '{stage.name}': init_from '{source}' must name an earlier stage "
                    f"of {names[:i]} or a checkpoint file (*{CHECKPOINT_SUFFIX})"
                )
            if not Path(source).is_file():
                raise ValueError(
                    f"stage '{stage.name}': init_from '{source}': no such checkpoint file"
                )
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got '{self.device}'")

    @property
    def out_dir(self) -> Path:
        """Where the experiment writes: <out>/<name>."""
        return Path(self.out) / self.name

    def to_dict(self) -> dict:
        """The resolved config as plain data."""
        return json.loads(json.dumps(asdict(self)))

    def hash(self) -> str:
        """sha256 of the resolved config (the ONNX contract's config_hash)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def resolve_path(name: str | Path) -> Path:
    """A config file path, or the name of a packaged config (e.g. ``simhum``)."""
    path = Path(name)
    if path.is_file():
        return path
    packaged = CONFIG_DIR / f"{name}.yaml"
    if packaged.is_file():
        return packaged
    available = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    raise ConfigError(f"{name}: no such config file, nor a packaged config ({available})")


def load_experiment(name: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read, compose, override and check an experiment config."""
    path = resolve_path(name)
    data = _read_composed(path, seen=())
    for item in overrides or []:
        _apply_override(data, item, path)
    return _build(data, path)


def _read_composed(path: Path, seen: tuple[Path, ...]) -> dict:
    if path.resolve() in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to itself")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an experiment config must be a mapping")
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = (path.parent / base) if not Path(base).is_absolute() else Path(base)
    return _merge(_read_composed(base_path, (*seen, path.resolve())), data)


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        both_maps = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both_maps else value
    return out


def _apply_override(data: dict, item: str, path: Path) -> None:
    if "=" not in item:
        raise ConfigError(f"override '{item}' must look like key.sub=value")
    dotted, raw = item.split("=", 1)
    node: dict | list = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        except (ValueError, IndexError):
            raise ConfigError(f"{path}: override '{dotted}': no element '{part}'") from None
        if not isinstance(node, dict | list):
            raise ConfigError(f"{path}: override '{dotted}': '{part}' is a value, not a section")
    last, value = parts[-1], yaml.safe_load(raw)
    try:
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    except (ValueError, IndexError):
        raise ConfigError(f"{path}: override '{dotted}': no element '{last}'") from None


def _build(data: dict, path: Path) -> ExperimentConfig:
    try:
        stages = data.get("stages") or []
        return _checked(
            ExperimentConfig,
            {
                **data,
                "data": _checked(DataConfig, data.get("data") or {}, "data"),
                "model": _checked(ArchitectureConfig, data.get("model") or {}, "model"),
                "augment": _checked(AugmentConfig, data.get("augment") or {}, "augment"),
                "stages": tuple(
                    _checked(StageConfig, s, f"stages[{i}]") for i, s in enumerate(stages)
                ),
            },
            "",
        )
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path}: {err}") from None


def _checked(cls, values: dict, where: str):
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where or 'the top level'}")
    missing = [f.name for f in fields(cls) if f.name not in values and _required(f)]
    if missing:
        raise ValueError(f"missing key(s) {missing} in {where or 'the top level'}")
    numbers = {f.name: f.type for f in fields(cls) if f.type in ("int", "float")}
    return cls(
        **{
            k: _number(v, numbers[k], f"{where}.{k}".lstrip(".")) if k in numbers else v
            for k, v in values.items()
        }
    )


def _number(value: object, kind: str, key: str) -> int | float:
    """A config number; YAML 1.1 reads '1e-4' as a string, so such strings are parsed."""
    if kind == "float" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    exact = int if kind == "int" else (int, float)
    if isinstance(value, bool) or not isinstance(value, exact):
        raise ValueError(
            f"{key} must be {'an integer' if kind == 'int' else 'a number'}, got {value!r}"
        )
    return float(value) if kind == "float" else value


def _required(f) -> bool:
    return f.default is MISSING and f.default_factory is MISSING
