"""The modular SimHum policy (tensor in, tensor out; exported to ONNX as two graphs).

    image ─ backbone (shared ResNet, GroupNorm) ─ adaptor[visual domain] ─┐
    proprio ─ embodiment[robot|human].proprio_encoder ────────────────────┴ trunk.encode ─ cond
    noisy action ─ embodiment.action_encoder ─ trunk.denoise(cond, t, [domain label])
                 ─ embodiment.action_decoder ─ velocity

The head is flow matching: ``velocity`` is d(action)/dt along the straight path from noise
(t = 0) to the data (t = 1), so a few Euler steps sample an action chunk. f(o), the
representation the co-training diagnostics compare across domains, is ``cond`` (what the
head consumes) averaged over its tokens. With ``domain_conditioning`` the denoiser also
takes the source domain's label (or the null label, dropped out in training), so sampling
can be guided toward a domain (classifier-free guidance).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from simhum_train.keys import DOMAINS
from simhum_train.policy.config import PolicyConfig

NULL_DOMAIN = len(DOMAINS)  # the label index of "no domain" (classifier-free guidance)


def domain_index(domain: str, batch: int, device: torch.device) -> torch.Tensor:
    """The label indices [batch] of ``domain`` for the denoiser's domain conditioning."""
    return torch.full((batch,), DOMAINS.index(domain), dtype=torch.long, device=device)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with GroupNorm and a (projected) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, groups: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm1 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.GroupNorm(groups, cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = functional.relu(self.norm1(self.conv1(x)))
        return functional.relu(self.norm2(self.conv2(y)) + self.shortcut(x))


class Backbone(nn.Module):
    """A small ResNet with GroupNorm (batch-size independent, so it fine-tunes and exports
    cleanly): a stride-2 stem, then a residual stage per width, the first ones halving the
    feature map until it reaches ``stride``, the rest keeping the resolution that the
    keypoints locate objects on."""

    def __init__(self, widths: tuple[int, ...], groups: int, stride: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 2, 1, bias=False),
            nn.GroupNorm(groups, widths[0]),
            nn.ReLU(),
        )
        blocks, cin = [], widths[0]
        halvings = stride.bit_length() - 2  # after the stem's
        for i, width in enumerate(widths):
            blocks += [
                ResidualBlock(cin, width, 2 if i < halvings else 1, groups),
                ResidualBlock(width, width, 1, groups),
            ]
            cin = width
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


def feature_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    """(x, y) in [-1, 1] of each cell of a height x width feature map, row-major [h*w, 2]."""
    ys = torch.linspace(-1.0, 1.0, height, device=device)
    xs = torch.linspace(-1.0, 1.0, width, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x.flatten(), grid_y.flatten()], dim=-1)


class VisionAdaptor(nn.Module):
    """A visual domain's map from backbone features to trunk tokens, so that sim and real
    images may land in a shared latent space: a 1x1 projection and a residual 1x1 MLP, then
    either spatial-softmax keypoints (Levine et al. 2016: each keypoint's attention map over
    the feature map gives a token holding where it looks, expected x and y, and what it sees,
    the attention-weighted features) or a token per feature-map cell with its (x, y)."""

    def __init__(self, cin: int, d_model: int, groups: int, keypoints: int, grid: bool) -> None:
        super().__init__()
        self.project = nn.Conv2d(cin, d_model, 1)
        self.mlp = nn.Sequential(
            nn.GroupNorm(groups, d_model),
            nn.Conv2d(d_model, d_model, 1),
            nn.GELU(),
            nn.Conv2d(d_model, d_model, 1),
        )
        self.attention = None if grid else nn.Conv2d(d_model, keypoints, 1)
        self.where = nn.Linear(2, d_model)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Backbone features [B, C, h, w] -> tokens [B, K, d] (K keypoints or h*w cells)."""
        x = self.project(features)
        x = x + self.mlp(x)
        grid = feature_grid(x.shape[2], x.shape[3], x.device)
        cells = x.flatten(2).transpose(1, 2)  # [B, h*w, d]
        if self.attention is None:
            return cells + self.where(grid)
        weights = torch.softmax(self.attention(x).flatten(2), dim=-1)  # [B, K, h*w]
        return weights @ cells + self.where(weights @ grid)


class EmbodimentIO(nn.Module):
    """An embodiment's proprio encoder, action encoder and action decoder."""

    def __init__(self, proprio_dim: int, action_dim: int, d_model: int) -> None:
        super().__init__()
        self.proprio_encoder = nn.Sequential(
            nn.Linear(proprio_dim, d_model), nn.GELU(), nn.Linear(d_model, d_model)
        )
        self.action_encoder = nn.Sequential(
            nn.Linear(action_dim, d_model), nn.GELU(), nn.Linear(d_model, d_model)
        )
        self.action_decoder = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, action_dim))


class Attention(nn.Module):
    """Multi-head attention (scaled dot product), batch first."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        n, d = x.shape[1], x.shape[2]
        head = d // self.heads
        q = self.q(x).reshape(-1, n, self.heads, head).transpose(1, 2)
        kv = self.kv(context).reshape(-1, context.shape[1], 2, self.heads, head)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        y = functional.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(y.transpose(1, 2).reshape(-1, n, d))


def mlp(d_model: int, ratio: int, dropout: float) -> nn.Sequential:
    """The transformer's position-wise MLP."""
    return nn.Sequential(
        nn.Linear(d_model, ratio * d_model),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(ratio * d_model, d_model),
    )


class EncoderBlock(nn.Module):
    """Pre-norm self-attention block over observation tokens."""

    def __init__(self, d_model: int, heads: int, ratio: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = Attention(d_model, heads, dropout)
        self.mlp = mlp(d_model, ratio, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h)
        return x + self.mlp(self.norm2(x))


class DenoiserBlock(nn.Module):
    """Action-token block: self-attention and MLP modulated by the flow time (adaLN-Zero,
    as in DiT), and cross-attention to the observation tokens."""

    def __init__(self, d_model: int, heads: int, ratio: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=False)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model, elementwise_affine=False)
        self.self_attn = Attention(d_model, heads, dropout)
        self.cross_attn = Attention(d_model, heads, dropout)
        self.mlp = mlp(d_model, ratio, dropout)
        self.modulation = nn.Linear(d_model, 6 * d_model)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(t_emb)[:, None].chunk(6, -1)
        h = self.norm1(x) * (1 + scale1) + shift1
        x = x + gate1 * self.self_attn(h, h)
        x = x + self.cross_attn(self.norm2(x), cond)
        h = self.norm3(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding [B, dim] of flow times t in [0, 1] [B]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = 1000.0 * t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class Trunk(nn.Module):
    """The shared transformer: encodes observation tokens once, then denoises action tokens
    against them at each sampling step."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        a, d = config.arch, config.arch.d_model
        obs_tokens = a.history * (config.tokens_per_frame + 1)
        self.obs_position = nn.Parameter(torch.randn(1, obs_tokens, d) * 0.02)
        self.action_position = nn.Parameter(torch.randn(1, a.chunk_length, d) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.encoder = nn.ModuleList(
            EncoderBlock(d, a.heads, a.mlp_ratio, a.dropout) for _ in range(a.encoder_layers)
        )
        self.encoder_norm = nn.LayerNorm(d)
        self.decoder = nn.ModuleList(
            DenoiserBlock(d, a.heads, a.mlp_ratio, a.dropout) for _ in range(a.decoder_layers)
        )
        self.decoder_norm = nn.LayerNorm(d)
        # one embedding per source domain plus the null label, added to the flow-time
        # embedding that modulates every denoiser block
        self.domain_embedding = (
            nn.Embedding(len(DOMAINS) + 1, d) if a.domain_conditioning else None
        )

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Observation tokens [B, N, d] -> conditioning tokens [B, N, d]."""
        x = tokens + self.obs_position
        for block in self.encoder:
            x = block(x)
        return self.encoder_norm(x)

    def denoise(
        self,
        cond: torch.Tensor,
        actions: torch.Tensor,
        t: torch.Tensor,
        domain: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Action tokens [B, H, d] at flow time t [B] -> output tokens [B, H, d]; ``domain``
        [B] (label indices, NULL_DOMAIN for none) when the trunk is domain-conditioned."""
        t_emb = self.time_mlp(timestep_embedding(t, cond.shape[-1]))
        if self.domain_embedding is not None:
            if domain is None:
                raise ValueError("a domain-conditioned trunk needs domain labels")
            t_emb = t_emb + self.domain_embedding(domain)
        x = actions + self.action_position
        for block in self.decoder:
            x = block(x, cond, t_emb)
        return self.decoder_norm(x)


class ModularPolicy(nn.Module):
    """Shared backbone and trunk; per-domain vision adaptors; per-embodiment encoders and
    decoders. Its state dict has exactly four roots: backbone, adaptors, embodiments, trunk."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        a = config.arch
        self.backbone = Backbone(a.backbone_widths, a.groups, a.backbone_stride)
        self.adaptors = nn.ModuleDict(
            {
                name: VisionAdaptor(
                    self.backbone.out_channels,
                    a.d_model,
                    a.groups,
                    a.keypoints,
                    grid=a.visual_tokens == "grid",
                )
                for name in config.adaptors
            }
        )
        self.embodiments = nn.ModuleDict(
            {
                name: EmbodimentIO(p, act, a.d_model)
                for name, (p, act) in config.embodiments.items()
            }
        )
        self.trunk = Trunk(config)

    def visual_tokens(self, image: torch.Tensor, adaptor: str) -> torch.Tensor:
        """Adaptor tokens [B, T, tokens_per_frame, d] of uint8 images [B, T, H, W, 3]."""
        c, a = self.config, self.config.arch
        frames = image.reshape(-1, c.image_height, c.image_width, 3).permute(0, 3, 1, 2)
        x = (frames.float() / 255.0 - 0.5) / 0.5
        tokens = self.adaptors[adaptor](self.backbone(x))
        return tokens.reshape(-1, a.history, c.tokens_per_frame, a.d_model)

    def encode(
        self, image: torch.Tensor, proprio: torch.Tensor, adaptor: str, embodiment: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Conditioning tokens [B, N, d] (what the action head consumes) and f(o) [B, d]
        (those tokens averaged) of uint8 images [B, T, H, W, 3] and normalised proprio
        [B, T, P]."""
        visual = self.visual_tokens(image, adaptor)
        proprio_tokens = self.embodiments[embodiment].proprio_encoder(proprio)[:, :, None]
        tokens = torch.cat([visual, proprio_tokens], dim=2).flatten(1, 2)
        cond = self.trunk.encode(tokens)
        return cond, cond.mean(dim=1)

    def velocity(
        self,
        cond: torch.Tensor,
        noisy_action: torch.Tensor,
        t: torch.Tensor,
        embodiment: str,
        domain: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Flow velocity [B, H, A] of noisy actions [B, H, A] at flow time t [B], given
        domain labels [B] when the trunk is domain-conditioned."""
        io = self.embodiments[embodiment]
        tokens = self.trunk.denoise(cond, io.action_encoder(noisy_action), t, domain)
        return io.action_decoder(tokens)

    def guided_velocity(
        self,
        cond: torch.Tensor,
        noisy_action: torch.Tensor,
        t: torch.Tensor,
        embodiment: str,
        domain: str,
        scale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The sampling velocity: classifier-free guidance toward ``domain``,
        v(null) + scale * (v(domain) - v(null)), for a domain-conditioned trunk (``scale``
        [B], the configured guidance scale when None); the plain velocity otherwise."""
        if not self.config.arch.domain_conditioning:
            return self.velocity(cond, noisy_action, t, embodiment)
        b = cond.shape[0]
        labels = torch.cat(
            [domain_index(domain, b, cond.device), torch.full_like(t, NULL_DOMAIN).long()]
        )
        both = self.velocity(
            cond.repeat(2, 1, 1), noisy_action.repeat(2, 1, 1), t.repeat(2), embodiment, labels
        )
        conditional, unconditional = both[:b], both[b:]
        if scale is None:
            scale = torch.full_like(t, self.config.arch.guidance_scale)
        return unconditional + scale[:, None, None] * (conditional - unconditional)
