"""Sampling from the energy-based model that a trained GAN defines: rejection by, or descent on, the critic's energy.

A critic trained to optimality against a generator with density p_G measures
the density ratio r(y) = p_data(y) / p_G(y):

- ``logistic``: D(y) = σ(−F(y)) = p_data / (p_data + p_G), so r = e^{−F(y)};
- ``least-squares`` (targets −1 on data, +1 on samples): F(y) = (p_G − p_data) / (p_G + p_data),
  so r = (1 − F(y)) / (1 + F(y)).

Generator samples accepted with probability min(1, r(y) / M) are then
distributed as p_G · r ∝ p_data wherever r ≤ M: the energy corrects the
generator, pruning its samples between modes and evening out the weight of the
modes. This is discriminator rejection sampling (Azadi, Olsson, Darrell,
Goodfellow & Odena, ICLR 2019) read in the energy view. M = max r would make it
exact, but one outlier of a trained critic's ratio (a least-squares F near −1)
then rejects nearly everything; as in that paper's practical version, M is a
high quantile (``quantile``, 0.99 by default) of the ratios of a burn-in of
candidates, and the rarer samples above it are always kept. The Wasserstein
and margin critics do not estimate a density ratio, so they cannot be used.

The same model read in the generator's latent space has the energy
E(z) = ½‖z‖² − log r(G(z)) (prior times ratio; Che et al., "Your GAN is secretly
an energy-based model", NeurIPS 2020, sample it by Langevin dynamics).
:func:`descend_latent` runs that chain at zero temperature: plain gradient steps
z ← z − ½η∇E(z) from z ~ N(0, I), which move each sample towards the nearest
place the critic prefers, a mode of the data. It is mode seeking, not exact
sampling: quality rises, the spread within a mode shrinks, and the weights of
the modes stay those of the generator's basins (see the reverse KL).
"""

from __future__ import annotations

import torch

from ebmlab.errors import ConfigError

__all__ = ["REFINABLE", "descend_latent", "fit_ratio_critic", "log_density_ratio", "rejection_sample"]

REFINABLE = ("logistic", "least-squares")


def log_density_ratio(energy: torch.Tensor, loss: str) -> torch.Tensor:
    """log r(y) = log p_data(y) − log p_G(y) implied by an optimal critic's energies (see the module doc)."""
    if loss == "logistic":
        return -energy
    if loss == "least-squares":
        return torch.log(((1 - energy) / (1 + energy).clamp_min(1e-12)).clamp_min(1e-12))
    raise ConfigError(
        f"rejection by the critic needs the logistic or least-squares loss (a density-ratio estimate), not {loss}"
    )


@torch.no_grad()
def rejection_sample(
    G,
    critic,
    loss: str,
    n: int,
    nz: int,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    chunk: int = 10000,
    burn_in: int = 50000,
    quantile: float = 0.99,
    max_candidates: int = 5_000_000,
) -> tuple[torch.Tensor, float]:
    """n samples of G accepted with probability min(1, r(y)/M); returns them (on CPU) and the acceptance rate."""

    def candidates(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = G(torch.randn(k, nz, generator=generator).to(device))
        return y.cpu(), log_density_ratio(critic(y).flatten().float(), loss).cpu()

    burn = torch.cat([candidates(min(chunk, burn_in - i))[1] for i in range(0, burn_in, chunk)])
    log_m = float(torch.quantile(burn.double(), quantile))
    kept, drawn = [], 0
    while sum(len(k) for k in kept) < n and drawn < max_candidates:
        y, log_r = candidates(chunk)
        drawn += chunk
        accept = torch.rand(len(y), generator=generator) < (log_r - log_m).clamp(max=0).exp()
        kept.append(y[accept])
    out = torch.cat(kept)
    if len(out) < n:
        raise ConfigError(
            f"rejection by the critic accepted only {len(out)} of {drawn} samples; "
            "the critic rejects almost everything (train longer, or sample without --refine)"
        )
    return out[:n], len(out) / drawn


def descend_latent(
    G,
    critic,
    loss: str,
    n: int,
    nz: int,
    generator: torch.Generator,
    steps: int = 100,
    step_size: float = 1e-3,
    device: torch.device | str = "cpu",
    chunk: int = 2500,
) -> torch.Tensor:
    """n samples G(z) after ``steps`` gradient steps z ← z − ½·step_size·∇[½‖z‖² − log r(G(z))] (on CPU)."""
    log_density_ratio(torch.zeros(1), loss)  # the loss must estimate a density ratio
    out = []
    for i in range(0, n, chunk):
        z = torch.randn(min(chunk, n - i), nz, generator=generator).to(device)
        for _ in range(steps):
            with torch.enable_grad():
                z.requires_grad_(True)
                energy = 0.5 * (z**2).sum(dim=1) - log_density_ratio(critic(G(z)).flatten().float(), loss)
                (grad,) = torch.autograd.grad(energy.sum(), z)
            z = (z - 0.5 * step_size * grad).detach()
        with torch.no_grad():
            out.append(G(z).cpu())
    return torch.cat(out)


def fit_ratio_critic(
    G,
    critic,
    data: torch.Tensor,
    nz: int,
    generator: torch.Generator,
    steps: int = 2000,
    batch: int = 256,
    lr: float = 1e-3,
    device: torch.device | str = "cpu",
):
    """Fit ``critic`` (fresh) by the logistic loss to tell ``data`` (low energy) from G's samples, G frozen.

    Its optimum is F(y) = log p_G(y) − log p_data(y), the energy that tilts p_G into p_data,
    whatever loss trained G: any generator can then be refined by :func:`rejection_sample`
    with ``loss="logistic"`` (Grover et al., NeurIPS 2019, and Azadi et al., ICLR 2019, fit
    such a classifier after training). Returns the critic in eval mode.
    """
    from ebmlab.gan.losses import get_loss

    loss = get_loss("logistic")
    opt = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.999))
    critic.train()
    for _ in range(steps):
        real = data[torch.randint(len(data), (batch,), generator=generator)].to(device)
        with torch.no_grad():
            fake = G(torch.randn(batch, nz, generator=generator).to(device))
        step_loss = loss.critic(critic(real), critic(fake))
        opt.zero_grad(set_to_none=True)
        step_loss.backward()
        opt.step()
    return critic.eval()
