"""Training augmentation: a shift moves the whole history together by at most ``shift``
pixels; colour jitter changes colours only; configs fail clearly."""

from __future__ import annotations

import pytest
import torch

from simhum_train.augment import AugmentConfig, augment_images, noisy_proprio
from simhum_train.experiment import ConfigError, load_experiment

NO_COLOUR = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0}


def dot_images(batch: int, history: int, row: int, col: int) -> torch.Tensor:
    """Black windows [B, T, 24, 32, 3] with one white pixel."""
    images = torch.zeros(batch, history, 24, 32, 3, dtype=torch.uint8)
    images[:, :, row, col] = 255
    return images


def dot_position(frame: torch.Tensor) -> tuple[int, int]:
    rows, cols = torch.nonzero(frame[..., 0] == 255, as_tuple=True)
    assert len(rows) == 1, "the dot must stay a single pixel"
    return int(rows[0]), int(cols[0])


def test_random_shift_moves_every_frame_of_a_sample_alike() -> None:
    images = dot_images(64, 2, 12, 16)
    generator = torch.Generator().manual_seed(0)
    shifted = augment_images(images, AugmentConfig(shift=3, **NO_COLOUR), generator)
    assert shifted.shape == images.shape and shifted.dtype == torch.uint8
    offsets = set()
    for sample in shifted:
        first, second = dot_position(sample[0]), dot_position(sample[1])
        assert first == second  # the camera is fixed: the history moves together
        dr, dc = first[0] - 12, first[1] - 16
        assert max(abs(dr), abs(dc)) <= 3
        offsets.add((dr, dc))
    assert len(offsets) > 10  # offsets differ between samples


def test_shift_repeats_the_border_and_zero_changes_nothing() -> None:
    images = torch.full((8, 1, 24, 32, 3), 200, dtype=torch.uint8)
    shifted = augment_images(images, AugmentConfig(shift=4, **NO_COLOUR))
    assert torch.all(shifted == 200)  # padding repeats the border: no black bands
    identity = AugmentConfig(shift=0, **NO_COLOUR)
    assert torch.equal(augment_images(images, identity), images)


def test_colour_jitter_keeps_geometry_and_varies_colour() -> None:
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(40, 200, (32, 2, 24, 32, 3), generator=generator, dtype=torch.uint8)
    jittered = augment_images(images, AugmentConfig(shift=0), generator)
    brightness = jittered.float().mean(dim=(1, 2, 3, 4)) / images.float().mean(dim=(1, 2, 3, 4))
    assert brightness.min() < 0.93 and brightness.max() > 1.07
    # a monotone per-sample colour map: pixel order within a channel is kept (up to rounding)
    a, b = images[0, 0, ..., 1].float().flatten(), jittered[0, 0, ..., 1].float().flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.95


def test_bad_augment_values_name_the_key(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"augment\.shift must be >= 0"):
        AugmentConfig(shift=-1)
    with pytest.raises(ConfigError, match=r"augment\.brightness must be in \[0, 1\)"):
        load_experiment("simhum", ["augment.brightness=1.5"])


def test_proprio_noise_has_the_configured_spread_and_zero_is_exact() -> None:
    proprio = torch.linspace(-1, 1, 64 * 2 * 10).reshape(64, 2, 10)
    assert noisy_proprio(proprio, AugmentConfig()) is proprio  # off by default
    generator = torch.Generator().manual_seed(0)
    noisy = noisy_proprio(proprio, AugmentConfig(proprio_noise=0.3), generator)
    difference = noisy - proprio
    assert abs(float(difference.std()) - 0.3) < 0.02 and abs(float(difference.mean())) < 0.02
    with pytest.raises(ValueError, match=r"augment\.proprio_noise must be in \[0, 10\)"):
        AugmentConfig(proprio_noise=-0.1)
