"""Configuration of the modular SimHum policy: architecture (from the experiment YAML) and
input/output sizes (from the data), each validated with a message saying how to fix it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from simhum_train.keys import EMBODIMENTS, REAL, SIM

VISUAL_TOKENS = ("keypoints", "grid")


def feature_size(pixels: int, stride: int) -> int:
    """Cells along one image side after the backbone's stride-2 convolutions (3x3, padding
    1: each halving rounds up)."""
    for _ in range(stride.bit_length() - 1):
        pixels = (pixels + 1) // 2
    return pixels


@dataclass(frozen=True)
class ArchitectureConfig:
    """Sizes of the networks; the ``model`` section of an experiment YAML."""

    backbone_widths: tuple[int, ...] = (16, 32, 64)  # stride-2 stem; a stage per width
    # image pixels per feature-map cell that the keypoints locate objects on: the stem and
    # the first log2(stride) - 1 stages halve the size
    backbone_stride: int = 8
    groups: int = 8  # GroupNorm groups
    keypoints: int = 16  # spatial-softmax keypoints per frame, each one trunk token
    # what a frame gives the trunk: "keypoints" (spatial softmax) or "grid" (a token per
    # feature-map cell, its (x, y) embedded: the trunk's attention does the locating)
    visual_tokens: str = "keypoints"
    d_model: int = 128
    heads: int = 4
    encoder_layers: int = 2  # self-attention over observation tokens
    decoder_layers: int = 3  # action tokens: self-attention, cross-attention to observations
    mlp_ratio: int = 4
    dropout: float = 0.0
    history: int = 1  # observation history T
    chunk_length: int = 16  # action chunk H
    num_sampling_steps: int = 8  # Euler steps of the flow-matching sampler
    # classifier-free guidance on the source domain: the denoiser takes the domain's label,
    # replaced by the null label with probability label_dropout in training; sampling
    # follows v(null) + guidance_scale * (v(real) - v(null))
    domain_conditioning: bool = False
    label_dropout: float = 0.2
    guidance_scale: float = 1.5
    # one visual adaptor (the deployable one) for the images of every domain, instead of an
    # adaptor per look: the adaptor must read sim, human and real images alike
    shared_adaptor: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "backbone_widths", tuple(self.backbone_widths))
        if not self.backbone_widths or any(w % self.groups for w in self.backbone_widths):
            raise ValueError(
                f"model.backbone_widths {self.backbone_widths} must be non-empty multiples of "
                f"model.groups ({self.groups})"
            )
        halvings = self.backbone_stride.bit_length() - 1
        if self.backbone_stride != 2**halvings or not 1 <= halvings <= len(self.backbone_widths):
            raise ValueError(
                f"model.backbone_stride must be a power of two from 2 to "
                f"{2 ** len(self.backbone_widths)} (2 per backbone width), "
                f"got {self.backbone_stride}"
            )
        if self.d_model % self.heads or self.d_model % self.groups:
            raise ValueError(
                f"model.d_model ({self.d_model}) must be a multiple of model.heads "
                f"({self.heads}) and model.groups ({self.groups})"
            )
        for name in ("keypoints", "history", "chunk_length", "num_sampling_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be at least 1, got {getattr(self, name)}")
        if self.visual_tokens not in VISUAL_TOKENS:
            raise ValueError(
                f"model.visual_tokens must be one of {VISUAL_TOKENS}, got {self.visual_tokens!r}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 < self.label_dropout < 1.0 or self.guidance_scale < 0.0:
            raise ValueError(
                f"model.label_dropout must be in (0, 1) and model.guidance_scale >= 0, got "
                f"{self.label_dropout} and {self.guidance_scale}"
            )


@dataclass(frozen=True)
class PolicyConfig:
    """Everything needed to build a ModularPolicy: the architecture plus image size, visual
    adaptors and the (proprio_dim, action_dim) of each embodiment."""

    arch: ArchitectureConfig
    image_height: int
    image_width: int
    adaptors: tuple[str, ...] = (SIM, REAL)
    embodiments: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "adaptors", tuple(self.adaptors))
        object.__setattr__(self, "embodiments", {k: tuple(v) for k, v in self.embodiments.items()})
        stride = self.arch.backbone_stride
        if min(self.image_height, self.image_width) < 2 * stride:
            raise ValueError(
                f"image {self.image_width}x{self.image_height} is too small for the backbone "
                f"(stride {stride}); use a larger store --image-size or fewer backbone_widths"
            )
        unknown = [a for a in self.adaptors if a not in (SIM, REAL)]
        bad = [e for e in self.embodiments if e not in EMBODIMENTS]
        if not self.adaptors or unknown or not self.embodiments or bad:
            raise ValueError(
                f"policy needs adaptors from {(SIM, REAL)} and embodiments from {EMBODIMENTS}; "
                f"got {self.adaptors}, {list(self.embodiments)}"
            )

    @property
    def tokens_per_frame(self) -> int:
        """Visual tokens each frame contributes."""
        if self.arch.visual_tokens == "grid":
            stride = self.arch.backbone_stride
            return feature_size(self.image_height, stride) * feature_size(self.image_width, stride)
        return self.arch.keypoints

    def to_dict(self) -> dict:
        """Plain data for checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PolicyConfig:
        """The inverse of ``to_dict``."""
        return cls(**{**data, "arch": ArchitectureConfig(**data["arch"])})
