"""Generators and critics (energies F(y)): DCGAN, EBGAN's auto-encoder critic, small MLPs for 2-D data.

Every critic maps a batch y (N×…) to energies F(y) of shape N: low on data.
The auto-encoder critics (EBGAN) take F(y) = mean of (Dec(Enc(y)) − y)², which
is ≥ 0 as the margin loss needs; ``forward_with_code`` also returns Enc(y) for
the pulling-away term. Generators map noise z (N×nz) to samples; image
generators end in tanh, so images are N×C×H×W in [−1, 1].

DCGAN (Radford, Metz & Chintala, ICLR 2016): the generator is a transposed
convolution from z to a base×base map, then stride-2 transposed convolutions
(4×4 kernels) that halve the channels and double the size, BatchNorm and ReLU
between, tanh at the end; the critic mirrors it with stride-2 convolutions,
LeakyReLU(0.2) and BatchNorm (none on the first layer), and a last convolution
over the base×base map to one number. Weights start at N(0, 0.02), BatchNorm
scales at N(1, 0.02). Image sides 4·2^k or 7·2^k (k ≥ 1) are supported: 28 (base
7), 32 and 64 (base 4), 8 and 16 for small sets.
"""

from __future__ import annotations

import torch
from torch import nn

from ebmlab.errors import ConfigError

__all__ = [
    "MLPGenerator",
    "MLPCritic",
    "MLPAutoEncoderCritic",
    "DCGANGenerator",
    "DCGANCritic",
    "ConvAutoEncoderCritic",
    "Packed",
    "image_plan",
    "dcgan_init_",
]

NORMS = ("batch", "none")


def image_plan(image_size: int) -> tuple[int, int]:
    """(base, k): image_size = base · 2^k with base 4 or 7 and k ≥ 1; a ConfigError otherwise."""
    for base in (7, 4):
        size, k = image_size, 0
        while size > base and size % 2 == 0:
            size, k = size // 2, k + 1
        if size == base and k >= 1:
            return base, k
    raise ConfigError(
        f"--image-size {image_size} does not suit the DCGAN networks; "
        "use 4·2^k or 7·2^k pixels (8, 14, 16, 28, 32, 56, 64, …)"
    )


def _norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.Identity()


def dcgan_init_(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights N(0, 0.02); BatchNorm weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _doubling_layers(width: int, channels: int, k: int) -> list[nn.Module]:
    """(width·2^(k−1))×s×s → channels×(s·2^k)²: stride-2 transposed convolutions halving the channels, tanh."""
    widths = [width * 2 ** (k - 1 - i) for i in range(k)]
    layers: list[nn.Module] = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
    return layers + [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]


def _up_stack(in_channels: int, width: int, channels: int, base: int, k: int) -> nn.Sequential:
    """in_channels×1×1 → channels×(base·2^k)² with tanh (the DCGAN generator)."""
    top = width * 2 ** (k - 1)
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, top, base, 1, 0, bias=False),
        nn.BatchNorm2d(top),
        nn.ReLU(True),
        *_doubling_layers(width, channels, k),
    )


def _down_stack(channels: int, width: int, k: int, norm: str) -> tuple[nn.Sequential, int]:
    """channels×(base·2^k)² → (width·2^(k−1))×base×base; returns the stack and its output channels."""
    if norm not in NORMS:
        raise ConfigError(f"critic norm must be one of {', '.join(NORMS)}, got {norm!r}")
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    c = width
    for _ in range(k - 1):
        layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), _norm(norm, 2 * c), nn.LeakyReLU(0.2, True)]
        c *= 2
    return nn.Sequential(*layers), c


class DCGANGenerator(nn.Module):
    """z (N×nz) → images N×channels×image_size² in [−1, 1]."""

    def __init__(self, nz: int = 100, ngf: int = 64, channels: int = 1, image_size: int = 64) -> None:
        super().__init__()
        base, k = image_plan(image_size)
        self.nz, self.image_size, self.channels = nz, image_size, channels
        self.net = _up_stack(nz, ngf, channels, base, k)
        dcgan_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(len(z), self.nz, 1, 1))


class DCGANCritic(nn.Module):
    """Images N×channels×image_size² → energies F(y), shape N (no sigmoid: an energy, not a probability)."""

    def __init__(self, ndf: int = 64, channels: int = 1, image_size: int = 64, norm: str = "batch") -> None:
        super().__init__()
        base, k = image_plan(image_size)
        self.image_size, self.channels = image_size, channels
        self.features, c = _down_stack(channels, ndf, k, norm)
        self.out = nn.Conv2d(c, 1, base, 1, 0, bias=False)
        dcgan_init_(self)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(y)).reshape(len(y))


class ConvAutoEncoderCritic(nn.Module):
    """EBGAN's critic for images: F(y) = mean((Dec(Enc(y)) − y)²), Enc the DCGAN critic's convolutions."""

    def __init__(self, ndf: int = 64, channels: int = 1, image_size: int = 64, norm: str = "batch") -> None:
        super().__init__()
        base, k = image_plan(image_size)
        self.image_size, self.channels = image_size, channels
        self.encoder, c = _down_stack(channels, ndf, k, norm)
        self.decoder = nn.Sequential(*_doubling_layers(ndf, channels, k))
        dcgan_init_(self)

    def forward_with_code(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.encoder(y)
        return (self.decoder(code) - y).pow(2).flatten(1).mean(1), code

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.forward_with_code(y)[0]


def _mlp(sizes: list[int], act: type[nn.Module], batchnorm: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            if batchnorm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(act())
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (N×nz) → points N×out through ``layers`` hidden ReLU layers of ``hidden`` units (BatchNorm optional)."""

    def __init__(self, nz: int = 2, hidden: int = 400, layers: int = 4, out: int = 2, batchnorm: bool = True) -> None:
        super().__init__()
        self.nz = nz
        self.net = _mlp([nz, *[hidden] * layers, out], nn.ReLU, batchnorm)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class _LeakyReLU(nn.LeakyReLU):
    def __init__(self) -> None:
        super().__init__(0.2)


class MLPCritic(nn.Module):
    """Points N×dim → energies N, through ``layers`` hidden LeakyReLU(0.2) layers of ``hidden`` units."""

    def __init__(self, dim: int = 2, hidden: int = 200, layers: int = 3) -> None:
        super().__init__()
        self.net = _mlp([dim, *[hidden] * layers, 1], _LeakyReLU)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y).reshape(len(y))


class MLPAutoEncoderCritic(nn.Module):
    """EBGAN's critic for points: F(y) = mean((Dec(Enc(y)) − y)²), Enc and Dec MLPs around a ``code``-unit code."""

    def __init__(self, dim: int = 2, hidden: int = 200, layers: int = 3, code: int = 2) -> None:
        super().__init__()
        self.encoder = _mlp([dim, *[hidden] * (layers - 1), code], _LeakyReLU)
        self.decoder = _mlp([code, *[hidden] * (layers - 1), dim], _LeakyReLU)

    def forward_with_code(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.encoder(y)
        return (self.decoder(code) - y).pow(2).mean(1), code

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.forward_with_code(y)[0]


class Packed(nn.Module):
    """PacGAN (Lin, Khetan, Fanti & Oh, NeurIPS 2018): the critic judges ``m`` samples at once.

    A batch of N samples becomes N/m packs, each the m samples concatenated
    along the feature (points) or channel (images) axis; ``critic`` must take
    inputs of that size, and returns one energy per pack. m = 1 is the plain critic.
    """

    def __init__(self, critic: nn.Module, m: int) -> None:
        super().__init__()
        self.critic, self.m = critic, m

    def pack(self, y: torch.Tensor) -> torch.Tensor:
        if len(y) % self.m:
            raise ConfigError(f"a batch of {len(y)} samples cannot be cut into packs of {self.m}")
        n = len(y) // self.m
        return y.reshape(n, self.m * y.shape[1], *y.shape[2:])

    def forward_with_code(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.critic.forward_with_code(self.pack(y))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.critic(self.pack(y))
