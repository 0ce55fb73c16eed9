"""Training-time augmentation (never at deployment): random shift and colour jitter of the
images, and Gaussian noise on the proprioception.

Both act on uint8 observation windows [B, T, H, W, 3] and draw one transform per sample,
applied to every frame of its history (the camera is fixed, so a history moves together).
Random shift (DrQ, Kostrikov et al. 2020) pads by replicating the border and crops back at
a random offset; colour jitter scales brightness, contrast and saturation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AugmentConfig:
    """The ``augment`` section of an experiment config; zeros turn a transform off."""

    shift: int = 4  # pixels of random translation in each direction
    brightness: float = 0.2  # factor drawn from [1 - b, 1 + b]
    contrast: float = 0.2
    saturation: float = 0.2
    # standard deviation of the noise added to the normalised proprioception: with the arm's
    # exact state an imitation policy can extrapolate its own motion instead of looking at
    # the scene (the "copycat" shortcut)
    proprio_noise: float = 0.0

    def __post_init__(self) -> None:
        if self.shift < 0:
            raise ValueError(f"augment.shift must be >= 0 pixels, got {self.shift}")
        if not 0.0 <= self.proprio_noise < 10.0:
            raise ValueError(f"augment.proprio_noise must be in [0, 10), got {self.proprio_noise}")
        for name in ("brightness", "contrast", "saturation"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"augment.{name} must be in [0, 1), got {getattr(self, name)}")


def random_shift(
    frames: torch.Tensor, shift: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Float frames [B, T, C, H, W] translated by up to ``shift`` pixels, one offset per
    sample, border pixels repeated."""
    if shift == 0:
        return frames
    b, t, _, h, w = frames.shape
    padded = torch.nn.functional.pad(frames.flatten(0, 1), (shift,) * 4, mode="replicate")
    padded = padded.unflatten(0, (b, t))
    offsets = torch.randint(0, 2 * shift + 1, (2, b), generator=generator, device=frames.device)
    rows = offsets[0][:, None] + torch.arange(h, device=frames.device)  # [B, H]
    cols = offsets[1][:, None] + torch.arange(w, device=frames.device)  # [B, W]
    index = torch.arange(b, device=frames.device)[:, None, None]
    # advanced indices on axes 0, 3, 4 broadcast to [B, H, W] and come first: [B, H, W, T, C]
    shifted = padded[index, :, :, rows[:, :, None], cols[:, None, :]]
    return shifted.permute(0, 3, 4, 1, 2)


def colour_jitter(
    frames: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Float frames [B, T, 3, H, W] in [0, 255] with per-sample brightness, contrast and
    saturation factors."""

    def factors(strength: float) -> torch.Tensor:
        u = torch.rand(frames.shape[0], generator=generator, device=frames.device)
        return (1.0 + strength * (2.0 * u - 1.0))[:, None, None, None, None]

    x = frames * factors(config.brightness)
    mean = x.mean(dim=(1, 2, 3, 4), keepdim=True)
    x = (x - mean) * factors(config.contrast) + mean
    gray = (x * x.new_tensor([0.299, 0.587, 0.114])[:, None, None]).sum(dim=2, keepdim=True)
    x = (x - gray) * factors(config.saturation) + gray
    return x.clamp(0.0, 255.0)


def augment_images(
    images: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Augmented uint8 windows [B, T, H, W, 3] of uint8 windows of the same shape."""
    frames = images.permute(0, 1, 4, 2, 3).float()
    frames = colour_jitter(random_shift(frames, config.shift, generator), config, generator)
    return frames.round().to(torch.uint8).permute(0, 1, 3, 4, 2)


def noisy_proprio(
    proprio: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Normalised proprioception [B, T, P] plus N(0, proprio_noise^2) noise."""
    if config.proprio_noise == 0:
        return proprio
    noise = torch.randn(proprio.shape, generator=generator, device=proprio.device)
    return proprio + config.proprio_noise * noise
