"""Flow matching on the policy's action chunks: the training loss and the Euler sampler.

The path from noise x0 to data x1 is x_t = (1 - t) x0 + t x1, whose velocity is x1 - x0.
Sampling (the ONNX contract): x = x0 ~ N(0, I); for k = 0..S-1, t = k / S, x += v(x, t) / S.
"""

from __future__ import annotations

import torch

from simhum_train.policy.modeling import NULL_DOMAIN, ModularPolicy, domain_index


def training_labels(
    policy: ModularPolicy,
    domain: str,
    batch: int,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> torch.Tensor | None:
    """The domain labels [B] a domain-conditioned policy is scored with: the domain's, each
    replaced by the null label with probability ``label_dropout`` in training mode; None
    without conditioning."""
    arch = policy.config.arch
    if not arch.domain_conditioning:
        return None
    labels = domain_index(domain, batch, device)
    if not policy.training:
        return labels
    dropped = torch.rand(batch, generator=generator, device=device) < arch.label_dropout
    return labels.masked_fill(dropped, NULL_DOMAIN)


def flow_matching_loss(
    policy: ModularPolicy,
    cond: torch.Tensor,
    action: torch.Tensor,
    embodiment: str,
    domain: str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Per-sample squared velocity error [B] for normalised action chunks [B, H, A] of
    ``domain``."""
    noise = torch.randn(action.shape, generator=generator, device=action.device)
    t = torch.rand(action.shape[0], generator=generator, device=action.device)
    noisy = (1 - t[:, None, None]) * noise + t[:, None, None] * action
    labels = training_labels(policy, domain, action.shape[0], action.device, generator)
    predicted = policy.velocity(cond, noisy, t, embodiment, labels)
    return (predicted - (action - noise)).pow(2).mean(dim=(1, 2))


def sample_actions(
    policy: ModularPolicy,
    cond: torch.Tensor,
    noise: torch.Tensor,
    steps: int,
    embodiment: str,
    domain: str,
    guidance_scale: float | None = None,
) -> torch.Tensor:
    """Normalised action chunks [B, H, A] integrated from ``noise`` in ``steps`` Euler steps,
    guided toward ``domain`` when the policy is domain-conditioned (at ``guidance_scale``,
    the configured one when None)."""
    x = noise
    scale = None
    if guidance_scale is not None:
        scale = torch.full((x.shape[0],), guidance_scale, device=x.device)
    for k in range(steps):
        t = torch.full((x.shape[0],), k / steps, device=x.device)
        x = x + policy.guided_velocity(cond, x, t, embodiment, domain, scale) / steps
    return x
