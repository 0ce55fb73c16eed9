"""Representation diagnostics from the co-training analysis (arXiv 2604.13645):
alignment = a sliced Wasserstein distance between two domains' latents; discernibility = the
held-out accuracy of a small MLP classifier that tells the domains apart from latents."""

from __future__ import annotations

import torch
from torch import nn

QUANTILES = 64


def sliced_wasserstein(
    a: torch.Tensor, b: torch.Tensor, projections: int = 128, seed: int = 0
) -> torch.Tensor:
    """Sliced 2-Wasserstein distance between point sets a [N, d] and b [M, d] (any sizes):
    random unit directions, then the 1-D distance between matched quantiles. Differentiable,
    so it doubles as the latent alignment loss."""
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(a.shape[1], projections, generator=generator).to(a.device)
    directions = directions / directions.norm(dim=0, keepdim=True)
    levels = torch.linspace(0, 1, QUANTILES, device=a.device)
    qa = torch.quantile(a @ directions, levels, dim=0)
    qb = torch.quantile(b @ directions, levels, dim=0)
    return (qa - qb).pow(2).mean().sqrt()


class DomainClassifier(nn.Module):
    """A two-layer MLP from latents to domain logits."""

    def __init__(self, d_model: int, domains: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.ReLU(), nn.Linear(hidden, domains))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.net(latent)


def domain_classifier_accuracy(
    latents: dict[str, torch.Tensor], steps: int = 100, seed: int = 0
) -> float:
    """Held-out accuracy (30% of each domain) of a fresh MLP classifier trained on the other
    70%; chance is 1 / number of domains."""
    generator = torch.Generator().manual_seed(seed)
    train_x, train_y, test_x, test_y = [], [], [], []
    for label, z in enumerate(latents.values()):
        z = z.detach().float().cpu()
        order = torch.randperm(len(z), generator=generator)
        cut = max(1, int(0.7 * len(z)))
        train_x.append(z[order[:cut]])
        test_x.append(z[order[cut:]])
        train_y.append(torch.full((cut,), label))
        test_y.append(torch.full((len(z) - cut,), label))
    x, y = torch.cat(train_x), torch.cat(train_y)
    mean, std = x.mean(0), x.std(0) + 1e-6
    with torch.random.fork_rng(devices=[]):  # a seeded classifier, training RNG untouched
        torch.manual_seed(seed)
        classifier = DomainClassifier(x.shape[1], len(latents))
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(classifier((x - mean) / std), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        predicted = classifier((torch.cat(test_x) - mean) / std).argmax(-1)
    return float((predicted == torch.cat(test_y)).float().mean())
