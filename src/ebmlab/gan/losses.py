"""Contrastive losses of a GAN read as an energy-based model.

The critic is an energy F(y): low on training samples y, high on contrastive
samples ȳ = G(z) from the generator, which in turn learns to produce samples of
low energy. Every loss below takes energies (1-D tensors, one per sample) and
returns a scalar; the critic minimises ``critic(F(y), F(ȳ))`` over its
parameters and the generator minimises ``generator(F(G(z)))`` over its own.

======================  ===============================================  ==========================
loss                    critic loss L_d(F(y), F(ȳ))                      generator loss
======================  ===============================================  ==========================
``margin`` (EBGAN)      F(y) + [m − F(ȳ)]⁺,  F ≥ 0                       F(G(z))
``logistic`` (GAN)      log(1 + e^{F(y)}) + log(1 + e^{−F(ȳ)})           log(1 + e^{F(ȳ)}) (non-saturating),
                                                                         −log(1 + e^{−F(ȳ)}) (saturating)
``least-squares``       ½(F(y) − a)² + ½(F(ȳ) − b)²,  a = −1, b = 1       ½(F(ȳ) − a)²
``wasserstein``         F(y) − F(ȳ), with weight clipping or a gradient  F(G(z))
                        penalty λ(‖∇F(ŷ)‖ − 1)² on interpolates ŷ
======================  ===============================================  ==========================

The logistic loss is Goodfellow et al. (2014) with D(y) = σ(−F(y)), the
probability that y is real: log(1 + e^{F}) = −log D and log(1 + e^{−F}) =
−log(1 − D). Its saturating generator loss is log(1 − D(G(z))), whose gradient
vanishes when the critic rejects the samples confidently; the non-saturating
−log D(G(z)) does not. The least-squares loss is Mao et al. (2017) with the
energy low on data (target a = −1 for real, b = 1 for generated). The
Wasserstein loss is Arjovsky et al. (2017) with the critic's sign flipped
(F = −f), so that it too pushes energy down on data; its generator loss F(G(z))
is WGAN's −f(G(z)). The margin loss is Zhao, Mathieu & LeCun (EBGAN, 2017).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ebmlab.errors import ConfigError

__all__ = ["LOSSES", "ContrastiveLoss", "get_loss", "gradient_penalty", "pulling_away", "r1_penalty"]

LOSSES = ("margin", "logistic", "least-squares", "wasserstein")


@dataclass(frozen=True)
class ContrastiveLoss:
    """One of :data:`LOSSES` with its constants (see the module doc)."""

    name: str
    margin: float = 1.0
    saturating: bool = False

    def __post_init__(self) -> None:
        if self.name not in LOSSES:
            raise ConfigError(f"unknown loss {self.name!r}; choose one of {', '.join(LOSSES)}")
        if self.saturating and self.name != "logistic":
            raise ConfigError("--saturating applies to the logistic loss only")
        if self.margin <= 0:
            raise ConfigError(f"--margin must be > 0, got {self.margin}")

    def critic(self, e_real: torch.Tensor, e_fake: torch.Tensor) -> torch.Tensor:
        """L_d: push F down on data (``e_real``) and up on contrastive samples (``e_fake``)."""
        if self.name == "margin":
            return e_real.mean() + F.relu(self.margin - e_fake).mean()
        if self.name == "logistic":
            return F.softplus(e_real).mean() + F.softplus(-e_fake).mean()
        if self.name == "least-squares":
            return 0.5 * ((e_real + 1) ** 2).mean() + 0.5 * ((e_fake - 1) ** 2).mean()
        return e_real.mean() - e_fake.mean()

    def generator(self, e_fake: torch.Tensor) -> torch.Tensor:
        """L_g: lower the energy of the generator's samples."""
        if self.name == "logistic":
            return -F.softplus(-e_fake).mean() if self.saturating else F.softplus(e_fake).mean()
        if self.name == "least-squares":
            return 0.5 * ((e_fake + 1) ** 2).mean()
        return e_fake.mean()


def get_loss(name: str, margin: float = 1.0, saturating: bool = False) -> ContrastiveLoss:
    """The contrastive loss called ``name``; a ConfigError for unknown names."""
    return ContrastiveLoss(name, margin=margin, saturating=saturating)


def gradient_penalty(energy, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al., 2017): mean of (‖∇_ŷ F(ŷ)‖ − 1)² at ŷ = εy + (1 − ε)ȳ, ε ~ U(0, 1).

    ``eps`` (N×1×… or N) may be given, e.g. drawn for a global batch; else it is drawn here.
    """
    if eps is None:
        eps = torch.rand(len(real))
    eps = eps.reshape((len(real),) + (1,) * (real.ndim - 1)).to(real)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(energy(mixed).sum(), mixed, create_graph=True)
    if hasattr(energy, "pack"):  # a packed critic (PacGAN): one gradient per pack of samples
        grad = energy.pack(grad)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(energy, real: torch.Tensor, e_real: torch.Tensor) -> torch.Tensor:
    """Zero-centred penalty on data (R1, Mescheder, Geiger & Nowozin, ICML 2018): mean of ½‖∇_y F(y)‖².

    ``e_real`` must be ``energy(real)`` computed with ``real.requires_grad_()``. Flattening the energy
    around the data keeps the critic from oscillating about the generator (any loss).
    """
    (grad,) = torch.autograd.grad(e_real.sum(), real, create_graph=True)
    if hasattr(energy, "pack"):
        grad = energy.pack(grad)
    return 0.5 * grad.flatten(1).pow(2).sum(dim=1).mean()


def pulling_away(codes: torch.Tensor) -> torch.Tensor:
    """EBGAN's pulling-away term: mean over pairs i ≠ j of cos²(s_i, s_j) of the critic's codes (N×…)."""
    s = F.normalize(codes.flatten(1), dim=1)
    n = len(s)
    if n < 2:
        return s.sum() * 0
    gram = (s @ s.T) ** 2
    return (gram.sum() - gram.diagonal().sum()) / (n * (n - 1))
