"""``ebmlab vae``: the variational auto-encoder, for comparison with the GANs."""

from __future__ import annotations

import click

from ebmlab.commands import train_command
from ebmlab.vae.train import VaeConfig, train_vae


@click.group("vae")
def vae() -> None:
    """Variational auto-encoders: amortised inference of z with a KL-regularised latent.

    \b
    train    train a VAE (MLP or convolutional) and evaluate its samples like a GAN's
    """


@train_command(vae, "train", VaeConfig, family="vae")
def train_cmd(cfg: VaeConfig, run) -> dict:
    """Train a VAE on the GANs' data and evaluate it with the GANs' metrics.

    Kingma & Welling (ICLR 2014): minimises the free energy
    E_q[−log p(x|z)] + β·KL(q(z|x) ‖ N(0, I)) with a Bernoulli likelihood on
    pixels (a Gaussian one on 2-D points). Samples are decoded from z ~ N(0, I)
    and scored like ebmlab gan train's: fd, precision, recall, density,
    coverage on images; modes_captured, high_quality, reverse_kl on 2-D data.

    \b
    Writes metrics.json, figures of samples, reconstructions and latent
    interpolations, the weights (vae.safetensors) and report.html.

    \b
    Examples:
      ebmlab vae train                                       # conv VAE on mnist5k
      ebmlab vae train --data fashion-mnist --time-budget 600 --out runs/vae-fm
      ebmlab vae train --data ring8 --arch mlp --epochs 5
    """
    return train_vae(cfg, run)
