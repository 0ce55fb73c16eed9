"""The co-training analysis's toy model: observations in R^3 on hand-made domain manifolds,
actions in R^2, a generative (flow-matching) policy; both effects in a few CPU-minutes.

    python -m simhum_train.toy_model --out docs/results/toy_model.json --plots docs

A task variable s in [0, 1] (say, where the object is) is seen differently by each domain
and acted on differently:
- real: o = (cos pi s, sin pi s, 0), a = (s, sin 2 pi s / 2); 5 samples, too few to learn
  the action's shape from alone;
- sim:  o = 1.3 (cos(pi s + 0.5), sin(pi s + 0.5), 0) + (0, 0, 0.8) (a visual gap), and
  a = the real action + (0, 1) (a dynamics gap); 400 samples.

1. Alignment sweep (structured representation alignment). An encoder o -> z in R^4 and a
   policy z -> a are co-trained on both domains (real share ``w``), plus lambda times the
   exact Wasserstein-2 distance (POT, on each batch) between the domains' latents. Scored
   on real observations over the whole range of s: success (sampled action within 0.15 of
   the real action), the latents' Wasserstein distance, and a 2-layer MLP classifier's
   held-out accuracy at telling the domains apart (discernibility).
2. Reweighting check (importance reweighting). Latents fixed by hand: z = (s, c_k + sigma e)
   with c_real = 0 and c_sim = r, so a real query z = (s, 0) lies r from the sim manifold.
   The flow policy's samples there mix the real and sim action modes; the sim mode's share
   is predicted by g_k = softmax_k(ln w_k - r_k^2 d / 2) with d = 1 / sigma^2 (the
   latent's precision), and measured from the samples.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from simhum_train.diagnostics import domain_classifier_accuracy, wasserstein

REAL, SIM = "real", "sim"
DYNAMICS_GAP = 1.0  # sim actions are the real ones shifted by this along y
SUCCESS_RADIUS = 0.15  # a sampled action this close to the real one succeeds


@dataclass(frozen=True)
class ToyConfig:
    """Sizes of the toy experiments (defaults: a few CPU-minutes in all)."""

    real: int = 5  # real samples: too few to learn the action's shape alone
    sim: int = 400  # sim samples
    real_share: float = 0.5  # w: the real share of each co-training batch
    steps: int = 4000
    batch: int = 256
    lr: float = 2e-3
    latent: int = 4
    sampling_steps: int = 16
    seed: int = 0


# -- the domains ---------------------------------------------------------------------------


def observe(s: torch.Tensor, domain: str) -> torch.Tensor:
    """Observations [N, 3] of task variables s [N] on a domain's manifold."""
    if domain == REAL:
        theta = math.pi * s
        return torch.stack([torch.cos(theta), torch.sin(theta), torch.zeros_like(s)], -1)
    theta = math.pi * s + 0.5
    return torch.stack(
        [1.3 * torch.cos(theta), 1.3 * torch.sin(theta), torch.full_like(s, 0.8)], -1
    )


def act(s: torch.Tensor, domain: str) -> torch.Tensor:
    """Demonstrated actions [N, 2] of task variables s [N] in a domain."""
    action = torch.stack([s, 0.5 * torch.sin(2 * math.pi * s)], -1)
    if domain == SIM:
        action = action + torch.tensor([0.0, DYNAMICS_GAP])
    return action


# -- models ----------------------------------------------------------------------------------


def mlp(inputs: int, outputs: int, width: int = 64) -> nn.Sequential:
    """Two hidden layers of SiLU."""
    return nn.Sequential(
        nn.Linear(inputs, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
        nn.Linear(width, outputs),
    )  # fmt: skip


class FlowPolicy(nn.Module):
    """Velocity v(a_t, t | z) of a straight-path flow from noise (t = 0) to actions."""

    def __init__(self, latent: int) -> None:
        super().__init__()
        self.net = mlp(2 + 1 + latent, 2, width=128)

    def forward(self, a: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([a, t[:, None], z], -1))

    def loss(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Per-sample flow-matching loss [N]."""
        noise, t = torch.randn_like(a), torch.rand(len(a))
        noisy = (1 - t[:, None]) * noise + t[:, None] * a
        return (self(noisy, t, z) - (a - noise)).pow(2).sum(-1)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, steps: int) -> torch.Tensor:
        """One action [N, 2] per latent, by Euler steps from noise."""
        a = torch.randn(len(z), 2)
        for k in range(steps):
            a = a + self(a, torch.full((len(z),), k / steps), z) / steps
        return a


# -- 1. alignment sweep ----------------------------------------------------------------------


def train_cotraining(config: ToyConfig, alignment: float) -> dict[str, float]:
    """Co-train encoder and policy with ``alignment`` x W2(latents); score on real data."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    s_train = {
        REAL: torch.rand(config.real, generator=generator),
        SIM: torch.rand(config.sim, generator=generator),
    }
    data = {d: (observe(s, d), act(s, d)) for d, s in s_train.items()}
    encoder, policy = mlp(3, config.latent), FlowPolicy(config.latent)
    optimizer = torch.optim.Adam([*encoder.parameters(), *policy.parameters()], lr=config.lr)
    shares = {REAL: round(config.batch * config.real_share)}
    shares[SIM] = config.batch - shares[REAL]
    for _ in range(config.steps):
        latents, loss = {}, torch.zeros(())
        for domain, n in shares.items():
            o, a = data[domain]
            pick = torch.randint(len(o), (n,))
            latents[domain] = encoder(o[pick])
            loss = loss + policy.loss(latents[domain], a[pick]).sum() / config.batch
        if alignment > 0:
            loss = loss + alignment * wasserstein(latents[REAL], latents[SIM])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    s_test = torch.linspace(0, 1, 400)
    with torch.no_grad():
        z = {d: encoder(observe(s_test, d)) for d in (REAL, SIM)}
        actions = policy.sample(z[REAL], config.sampling_steps)
    error = (actions - act(s_test, REAL)).norm(dim=-1)
    to_sim = (actions - act(s_test, SIM)).norm(dim=-1)
    return {
        "alignment_weight": alignment,
        "success_rate": float((error < SUCCESS_RADIUS).float().mean()),
        "sim_mode_rate": float((to_sim < SUCCESS_RADIUS).float().mean()),
        "wasserstein": float(wasserstein(z[REAL], z[SIM])),
        "classifier_accuracy": domain_classifier_accuracy(z, seed=config.seed),
    }


# -- 2. reweighting check ----------------------------------------------------------------------


def predicted_weights(real_share: float, offset: float, sigma: float) -> dict[str, float]:
    """g_k = softmax(ln w_k - r_k^2 d / 2), d = 1 / sigma^2, for a query on the real
    manifold (r_real = 0, r_sim = ``offset``)."""
    logits = np.array([math.log(real_share), math.log(1 - real_share) - offset**2 / sigma**2 / 2])
    g = np.exp(logits - logits.max())
    g /= g.sum()
    return {REAL: float(g[0]), SIM: float(g[1])}


def measure_weights(config: ToyConfig, offset: float, sigma: float) -> dict[str, float]:
    """Train the flow policy on hand-made latents (s, c_k + sigma e) and return the share of
    its samples at real queries (s, 0) that land on each domain's action mode."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    policy = FlowPolicy(2)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
    n_real = round(config.batch * config.real_share)
    domains = torch.cat([torch.zeros(n_real), torch.ones(config.batch - n_real)])
    for _ in range(config.steps):
        s = torch.rand(config.batch, generator=generator)
        centre = domains * offset
        z = torch.stack([s, centre + sigma * torch.randn(config.batch, generator=generator)], -1)
        a = act(s, REAL) + domains[:, None] * torch.tensor([0.0, DYNAMICS_GAP])
        loss = policy.loss(z, a).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    s = torch.linspace(0.05, 0.95, 40).repeat_interleave(100)
    actions = policy.sample(torch.stack([s, torch.zeros_like(s)], -1), config.sampling_steps)
    # the mode each sample is nearer to (the two are DYNAMICS_GAP apart along y)
    nearer_sim = (actions[:, 1] - act(s, REAL)[:, 1]) > DYNAMICS_GAP / 2
    g_sim = float(nearer_sim.float().mean())
    return {REAL: 1.0 - g_sim, SIM: g_sim}


# -- the experiment ----------------------------------------------------------------------------

ALIGNMENT_WEIGHTS = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
REAL_SHARES = (0.2, 0.35, 0.5, 0.65, 0.8)
OFFSETS = (0.0, 0.3)  # r, with sigma = SIGMA: pure reweighting, then reweighting + distance
SIGMA = 0.3


def run(config: ToyConfig, progress: bool = True) -> dict:
    """Both experiments; the result JSON (see the module docstring)."""
    jobs = len(ALIGNMENT_WEIGHTS) + len(REAL_SHARES) * len(OFFSETS)
    bar = tqdm(total=jobs, desc="toy model", unit="run", disable=not progress)
    sweep = []
    for weight in ALIGNMENT_WEIGHTS:
        sweep.append(train_cotraining(config, weight))
        bar.update()
    reweighting = []
    for offset in OFFSETS:
        for share in REAL_SHARES:
            cfg = ToyConfig(**{**asdict(config), "real_share": share})
            measured = measure_weights(cfg, offset, SIGMA)
            predicted = predicted_weights(share, offset, SIGMA)
            reweighting.append(
                {
                    "real_share": share,
                    "offset": offset,
                    "sigma": SIGMA,
                    "measured_sim_weight": measured[SIM],
                    "predicted_sim_weight": predicted[SIM],
                }
            )
            bar.update()
    bar.close()
    worst = max(abs(r["measured_sim_weight"] - r["predicted_sim_weight"]) for r in reweighting)
    return {
        "config": asdict(config),
        "alignment_sweep": sweep,
        "reweighting": reweighting,
        "reweighting_max_error": worst,
    }


def plot(result: dict, folder: Path) -> list[Path]:
    """docs/toy_alignment.png and docs/toy_reweighting.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    sweep = result["alignment_sweep"]
    weights = [max(r["alignment_weight"], 0.01) for r in sweep]
    fig, left = plt.subplots(figsize=(6.4, 4.0))
    left.set_xscale("log")
    left.plot(weights, [r["success_rate"] for r in sweep], "o-", label="success (real)")
    left.plot(weights, [r["classifier_accuracy"] for r in sweep], "s--", label="domain accuracy")
    left.plot(weights, [r["sim_mode_rate"] for r in sweep], "^:", label="sim actions taken")
    left.set_xlabel("alignment weight lambda (0 drawn at 0.01)")
    left.set_ylim(0, 1.05)
    right = left.twinx()
    right.plot(weights, [r["wasserstein"] for r in sweep], "k-", alpha=0.4, label="W2(z)")
    right.set_ylabel("Wasserstein-2 between domain latents")
    left.legend(loc="center left", fontsize=8)
    left.set_title("toy model: success, alignment and discernibility against lambda")
    fig.tight_layout()
    paths = [folder / "toy_alignment.png"]
    fig.savefig(paths[0], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    for offset in OFFSETS:
        rows = [r for r in result["reweighting"] if r["offset"] == offset]
        shares = [1 - r["real_share"] for r in rows]
        ax.plot(
            shares, [r["predicted_sim_weight"] for r in rows], "-", label=f"predicted r={offset}"
        )
        ax.plot(
            shares, [r["measured_sim_weight"] for r in rows], "o", label=f"measured r={offset}"
        )
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("sim share of the batch (1 - w)")
    ax.set_ylabel("sim action mode's weight at real queries")
    ax.set_title(f"importance reweighting (sigma {SIGMA})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(folder / "toy_reweighting.png")
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> int:
    """Run the toy model, write its JSON and plots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/results/toy_model.json"))
    parser.add_argument("--plots", type=Path, default=Path("docs"))
    parser.add_argument("--steps", type=int, default=ToyConfig.steps)
    args = parser.parse_args(argv)
    if args.steps < 1:
        raise SystemExit("error: --steps must be at least 1")
    torch.set_num_threads(1)
    result = run(ToyConfig(steps=args.steps))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    for path in plot(result, args.plots):
        print(f"plot: {path}")
    for r in result["alignment_sweep"]:
        print(
            f"lambda {r['alignment_weight']:>6}: success {r['success_rate']:.2f}, sim actions "
            f"{r['sim_mode_rate']:.2f}, W2 {r['wasserstein']:.3f}, domain accuracy "
            f"{r['classifier_accuracy']:.2f}"
        )
    print(f"reweighting: largest |measured - predicted| {result['reweighting_max_error']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
