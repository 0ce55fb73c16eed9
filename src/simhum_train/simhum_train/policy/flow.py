"""Flow matching on the policy's action chunks: the training loss and the Euler sampler.

The path from noise x0 to data x1 is x_t = (1 - t) x0 + t x1, whose velocity is x1 - x0.
Sampling (the ONNX contract): x = x0 ~ N(0, I); for k = 0..S-1, t = k / S, x += v(x, t) / S.
"""

from __future__ import annotations

import torch

from simhum_train.policy.modeling import ModularPolicy


def flow_matching_loss(
    policy: ModularPolicy,
    cond: torch.Tensor,
    action: torch.Tensor,
    embodiment: str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Per-sample squared velocity error [B] for normalised action chunks [B, H, A]."""
    noise = torch.randn(action.shape, generator=generator, device=action.device)
    t = torch.rand(action.shape[0], generator=generator, device=action.device)
    noisy = (1 - t[:, None, None]) * noise + t[:, None, None] * action
    predicted = policy.velocity(cond, noisy, t, embodiment)
    return (predicted - (action - noise)).pow(2).mean(dim=(1, 2))


def sample_actions(
    policy: ModularPolicy, cond: torch.Tensor, noise: torch.Tensor, steps: int, embodiment: str
) -> torch.Tensor:
    """Normalised action chunks [B, H, A] integrated from ``noise`` in ``steps`` Euler steps."""
    x = noise
    for k in range(steps):
        t = torch.full((x.shape[0],), k / steps, device=x.device)
        x = x + policy.velocity(cond, x, t, embodiment) / steps
    return x
