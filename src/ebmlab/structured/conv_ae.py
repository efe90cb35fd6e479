"""Convolutional auto-encoder with group sparsity over feature maps, and its stack.

Kavukcuoglu, Ranzato, Fergus & LeCun, CVPR 2009 (the convolutional form of the
group-sparse auto-encoder), with the stacked pre-training of Jarrett,
Kavukcuoglu, Ranzato & LeCun, ICCV 2009 ("What is the best multi-stage
architecture for object recognition?"). One layer maps C input maps x to K code
maps

    z_k = s_k · relu(W_k ∗ x − b_k)                    (encoder: convolution, ReLU, scaling)
    x̂   = Σ_k D_k ∗ z_k                               (decoder: linear convolution, ‖D_k‖ = 1)
    E(x, z) = ½‖x − x̂‖² + λ Σ_k Σ_P √(ε + Σ_{(u,v)∈P} z_k(u,v)²)

where the pools P group ``maps`` consecutive code maps (1 by default) and tile them
in ``pool``×``pool`` windows: the group norm is L2 pooling, and its outputs √(Σ_P z²)
(the pooled maps: ``maps``× fewer, ``pool``× smaller) are the layer's features.
Units that share a pool are driven to respond together, so a pool over several
maps gathers similar filters and its output varies less than theirs under small
changes of the input. A :class:`ConvStack` trains its layers one after the
other, each on the pooled maps of the one below; the decoders are then
discarded and the encoders (with pooling) are the feature extractor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ebmlab.errors import ConfigError

__all__ = ["ConvGroupSparseAE", "ConvStack", "l2_pool"]


def l2_pool(z: torch.Tensor, pool: int, eps: float = 0.0, maps: int = 1) -> torch.Tensor:
    """√(ε + Σ_P z²) over pools P of ``maps`` consecutive maps × pool×pool windows (z: N×K×H×W).

    Maps whose side is not a multiple of ``pool`` are padded with zeros, so every
    unit belongs to exactly one pool: the output is N×(K/maps)×⌈H/pool⌉×⌈W/pool⌉.
    """
    n, k, h, w = z.shape
    sq = z * z
    if maps > 1:
        if k % maps:
            raise ConfigError(f"pools of {maps} maps do not tile {k} maps; choose a divisor of the channel count")
        sq = sq.view(n, k // maps, maps, h, w).sum(2)
    if pool > 1:
        pad_h, pad_w = -h % pool, -w % pool
        if pad_h or pad_w:
            sq = F.pad(sq, (0, pad_w, 0, pad_h))
        sq = F.avg_pool2d(sq, pool) * (pool * pool)
    return (sq + eps).sqrt()


class ConvGroupSparseAE(nn.Module):
    """One convolutional layer: z = s · relu(W ∗ x − b), x̂ = D ∗ z, L2-pooled group norm."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel: int,
        pool: int = 2,
        eps: float = 1e-4,
        generator: torch.Generator | None = None,
        maps: int = 1,
    ):
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ConfigError(f"kernel sizes must be odd (so the maps keep their size), got {kernel}")
        if pool < 1 or maps < 1 or channels % maps:
            raise ConfigError(f"pools of {maps} maps × {pool}×{pool} windows do not tile {channels} maps")
        self.pool, self.maps, self.eps, self.padding = int(pool), int(maps), float(eps), kernel // 2
        fan_in = in_channels * kernel * kernel
        self.W = nn.Parameter(
            torch.randn(channels, in_channels, kernel, kernel, generator=generator) / math.sqrt(fan_in)
        )
        self.b = nn.Parameter(torch.zeros(channels))
        self.s = nn.Parameter(torch.ones(channels))
        D = torch.randn(channels, in_channels, kernel, kernel, generator=generator)
        self.D = nn.Parameter(D / D.flatten(1).norm(dim=1).view(-1, 1, 1, 1))
        self.register_buffer("in_mean", torch.zeros(in_channels))
        self.register_buffer("in_std", torch.ones(in_channels))

    @torch.no_grad()
    def fit_input_(self, x: torch.Tensor) -> None:
        """Standardise each input map from now on: its mean and standard deviation over ``x`` (N×C×H×W)."""
        self.in_mean.copy_(x.mean((0, 2, 3)))
        self.in_std.copy_(x.std((0, 2, 3)).clamp_min(1e-6))

    @torch.no_grad()
    def init_from_patches_(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Start every filter (D_k, and W_k = D_k) at a random k×k window of the standardised maps x.

        Images have little energy at high spatial frequencies, so the white-noise part of a
        random filter gets almost no gradient and lingers; filters started on the data do not.
        The scales s then start at the least-squares fit of x̂ to x on (up to) 256 of the maps.
        """
        k = self.W.shape[-1]
        n, _, h, w = x.shape
        if h < k or w < k:
            raise ConfigError(f"filters of side {k} do not fit maps of {h}×{w}; choose smaller --kernels")
        pick = torch.randint(n, (self.channels,), generator=generator)
        rows = torch.randint(h - k + 1, (self.channels,), generator=generator)
        cols = torch.randint(w - k + 1, (self.channels,), generator=generator)
        patches = torch.stack(
            [
                self.standardise(x[i : i + 1])[0, :, r : r + k, c : c + k]
                for i, r, c in zip(pick.tolist(), rows.tolist(), cols.tolist())
            ]
        )
        patches = patches - patches.mean((1, 2, 3), keepdim=True)
        patches = patches / patches.flatten(1).norm(dim=1).clamp_min(1e-6).view(-1, 1, 1, 1)
        self.D.copy_(patches)
        self.W.copy_(patches)
        self.s.fill_(1.0)
        xs = self.standardise(x[:256])
        xh = self.decode(self.encode(xs))
        self.s.fill_(float((xs * xh).sum() / (xh * xh).sum().clamp_min(1e-12)))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """(x − mean_c) / std_c per input map c: what the layer encodes and reconstructs."""
        return (x - self.in_mean.view(1, -1, 1, 1)) / self.in_std.view(1, -1, 1, 1)

    @property
    def channels(self) -> int:
        return self.W.shape[0]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code maps z = s · relu(W ∗ x − b) of standardised maps x: N×K×H×W."""
        a = F.conv2d(x, self.W, padding=self.padding) - self.b.view(1, -1, 1, 1)
        return self.s.view(1, -1, 1, 1) * torch.relu(a)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The reconstruction x̂ = Σ_k D_k ∗ z_k: N×C×H×W."""
        return F.conv_transpose2d(z, self.D, padding=self.padding)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled maps √(Σ_P z²), the layer's output for the next layer and the probe."""
        return l2_pool(self.encode(self.standardise(x)), self.pool, maps=self.maps)

    def energy(self, x: torch.Tensor, lam: float) -> dict[str, torch.Tensor]:
        """Mean over images of ½‖x − x̂‖², of the group norm, and their weighted sum (x standardised)."""
        x = self.standardise(x)
        z = self.encode(x)
        reconstruction = 0.5 * (x - self.decode(z)).pow(2).flatten(1).sum(1).mean()
        group = l2_pool(z, self.pool, self.eps, self.maps).flatten(1).sum(1).mean()
        return {
            "reconstruction": reconstruction,
            "group": group,
            "total": reconstruction + lam * group,
            "active": (z > 0).float().mean(),
        }

    @torch.no_grad()
    def normalise_decoder_(self) -> None:
        """Project every decoder filter D_k (C×k×k) back onto the unit sphere."""
        self.D.div_(self.D.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1))


class ConvStack(nn.Module):
    """Layers of :class:`ConvGroupSparseAE`, each reading the pooled maps of the one below."""

    def __init__(
        self,
        in_channels: int,
        channels: tuple[int, ...],
        kernels: tuple[int, ...],
        pool: int = 2,
        eps: float = 1e-4,
        generator: torch.Generator | None = None,
        maps: int = 1,
    ):
        super().__init__()
        if len(channels) != len(kernels) or not channels:
            raise ConfigError(f"give one kernel size per layer: {len(channels)} channel counts, {len(kernels)} kernels")
        cins = (in_channels, *(c // maps for c in channels[:-1]))
        self.layers = nn.ModuleList(
            ConvGroupSparseAE(c_in, c, k, pool, eps, generator, maps) for c_in, c, k in zip(cins, channels, kernels)
        )

    def __len__(self) -> int:
        return len(self.layers)

    def features(self, x: torch.Tensor, depth: int | None = None) -> list[torch.Tensor]:
        """The pooled maps of layers 1..depth (all layers by default), in order."""
        out = []
        for layer in self.layers[: len(self.layers) if depth is None else depth]:
            x = layer.features(x)
            out.append(x)
        return out
