"""Variational auto-encoders (Kingma & Welling, ICLR 2014), the generative model the GANs are compared with.

Energy view: the encoder q(z|x) = N(μ(x), diag σ²(x)) is amortised inference
of the latent; the free energy of x is the negative evidence lower bound

    F(x) = E_q[−log p(x|z)] + β·KL(q(z|x) ‖ N(0, I)),

the KL term being the regulariser that limits the information in z. Images
(N×C×H×W in [−1, 1]) use a Bernoulli likelihood on the pixels mapped to [0, 1]
(binary cross-entropy with logits); points use a Gaussian likelihood with a
fixed standard deviation. ``decode`` returns the likelihood's mean in the data's
range, which is what samples and reconstructions show.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ebmlab.errors import ConfigError

__all__ = ["VAE", "MLPVAE", "ConvVAE"]


class VAE(nn.Module):
    """The parts every VAE shares: reparameterised sampling, the ELBO terms, decoding and sampling."""

    nz: int
    images: bool
    decoder_std: float = 1.0

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # μ, log σ²
        raise NotImplementedError

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:  # logits (images) or means (points)
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The likelihood's mean in the data's range: [−1, 1] images, or points."""
        out = self.decoder_output(z)
        return 2 * torch.sigmoid(out) - 1 if self.images else out

    def free_energy(self, x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """Per-batch means of the reconstruction term, the KL term and their sum (the loss), in nats."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        out = self.decoder_output(z)
        if self.images:
            nll = F.binary_cross_entropy_with_logits(out, (x + 1) / 2, reduction="none").flatten(1).sum(1)
        else:
            var = self.decoder_std**2
            nll = (0.5 * (x - out).pow(2) / var + 0.5 * math.log(2 * math.pi * var)).sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return {"loss": (nll + beta * kl).mean(), "reconstruction": nll.mean(), "kl": kl.mean()}

    def forward(self, x: torch.Tensor, beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, detached [reconstruction, kl]): one call per step, so DDP sees the whole step."""
        t = self.free_energy(x, beta)
        return t["loss"], torch.stack([t["reconstruction"].detach(), t["kl"].detach()])

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        return self.decode(torch.randn(n, self.nz, generator=generator).to(device))


class MLPVAE(VAE):
    """Encoder and decoder with one hidden ReLU layer of ``hidden`` units each; inputs of any shape."""

    def __init__(self, shape: tuple[int, ...], nz: int = 20, hidden: int = 400, decoder_std: float = 0.05) -> None:
        super().__init__()
        self.shape, self.nz, self.images, self.decoder_std = tuple(shape), nz, len(shape) == 3, decoder_std
        d = math.prod(shape)
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(True), nn.Linear(hidden, 2 * nz))
        self.dec = nn.Sequential(nn.Linear(nz, hidden), nn.ReLU(True), nn.Linear(hidden, d))

    def encode(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        return mu, logvar

    def decoder_output(self, z):
        return self.dec(z).reshape(len(z), *self.shape)


class ConvVAE(VAE):
    """Two stride-2 4×4 convolutions (32, 64 channels) and a 256-unit layer, mirrored by the decoder; sides ÷ 4."""

    def __init__(
        self, channels: int = 1, image_size: int = 28, nz: int = 20, width: int = 32, hidden: int = 256
    ) -> None:
        super().__init__()
        if image_size % 4 or image_size < 8:
            raise ConfigError(
                f"--image-size {image_size} does not suit the convolutional VAE; use a multiple of 4, ≥ 8"
            )
        self.nz, self.images = nz, True
        s = image_size // 4
        self.enc = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.ReLU(True),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.ReLU(True),
            nn.Flatten(),
            nn.Linear(2 * width * s * s, hidden),
            nn.ReLU(True),
            nn.Linear(hidden, 2 * nz),
        )
        self.dec = nn.Sequential(
            nn.Linear(nz, hidden),
            nn.ReLU(True),
            nn.Linear(hidden, 2 * width * s * s),
            nn.ReLU(True),
            nn.Unflatten(1, (2 * width, s, s)),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.ReLU(True),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
        )

    def encode(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        return mu, logvar

    def decoder_output(self, z):
        return self.dec(z)
