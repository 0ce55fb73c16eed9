"""Representation diagnostics and losses from the co-training analysis (arXiv 2604.13645),
on f(o), the representation the policy's action head consumes (ModularPolicy.encode):
alignment = the 2-Wasserstein distance between two domains' representations (exact optimal
transport, POT); discernibility = the held-out accuracy of a 2-layer MLP that tells two
domains apart, fitted on one split and scored on the other."""

from __future__ import annotations

import ot
import torch
from torch import nn


def wasserstein(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """2-Wasserstein distance between the empirical distributions of a [N, d] and b [M, d]
    (uniform weights, squared Euclidean cost, exact transport plan). Differentiable in a and
    b (through the cost at the optimal plan), so it doubles as the alignment loss."""
    cost = ot.dist(a, b)  # squared Euclidean
    uniform_a = torch.full((len(a),), 1.0 / len(a), dtype=a.dtype, device=a.device)
    uniform_b = torch.full((len(b),), 1.0 / len(b), dtype=b.dtype, device=b.device)
    return ot.emd2(uniform_a, uniform_b, cost).clamp_min(0.0).sqrt()


class GradientReversal(torch.autograd.Function):
    """Identity forward; the gradient times -scale backward (Ganin & Lempitsky 2015): what
    follows learns to tell the domains apart, what precedes learns to make them alike."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """x, with its gradient multiplied by -scale on the way back."""
    return GradientReversal.apply(x, scale)


class DomainClassifier(nn.Module):
    """A two-layer MLP from representations to domain logits."""

    def __init__(self, d_model: int, domains: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.ReLU(), nn.Linear(hidden, domains))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.net(latent)


def domain_classifier_accuracy(
    latents: dict[str, torch.Tensor], steps: int = 200, seed: int = 0
) -> float:
    """Accuracy of a fresh MLP classifier fitted on half of each domain's samples and scored
    on the other half (domains are first cut to the same size, so chance is 1 / number of
    domains). Features are centred but not rescaled: a collapsed representation, every
    sample at one point but for rounding, is not discernible to a policy either."""
    generator = torch.Generator().manual_seed(seed)
    size = min(len(z) for z in latents.values())
    if size < 2:
        raise ValueError("domain_classifier_accuracy needs at least 2 samples per domain")
    cut = size // 2
    train_x, train_y, test_x, test_y = [], [], [], []
    for label, z in enumerate(latents.values()):
        z = z.detach().float().cpu()[torch.randperm(len(z), generator=generator)[:size]]
        train_x.append(z[:cut])
        test_x.append(z[cut:])
        train_y.append(torch.full((cut,), label))
        test_y.append(torch.full((size - cut,), label))
    x, y = torch.cat(train_x), torch.cat(train_y)
    mean = x.mean(0)
    with torch.random.fork_rng(devices=[]):  # a seeded classifier, training RNG untouched
        torch.manual_seed(seed)
        classifier = DomainClassifier(x.shape[1], len(latents))
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-2)
    with torch.enable_grad():
        for _ in range(steps):
            loss = nn.functional.cross_entropy(classifier(x - mean), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        predicted = classifier(torch.cat(test_x) - mean).argmax(-1)
    return float((predicted == torch.cat(test_y)).float().mean())
