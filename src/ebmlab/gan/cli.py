"""``ebmlab gan``: GANs as energy-based models."""

from __future__ import annotations

from pathlib import Path

import click

from ebmlab.commands import train_command
from ebmlab.gan.train import GanConfig, train_gan


@click.group("gan")
def gan() -> None:
    """GANs as energy-based models: the critic is an energy F(y), low on data.

    \b
    train    train a generator against a critic with a contrastive loss
    sample   draw samples from a trained run's generator
    """


@train_command(gan, "train", GanConfig, family="gan")
def train_cmd(cfg: GanConfig, run) -> dict:
    """Train a GAN: a critic (energy F) and a generator G, with a contrastive loss.

    The critic pushes F down on training samples y and up on generated samples
    ȳ = G(z); the generator learns to produce samples of low energy. --loss
    chooses the pair of losses: margin (EBGAN, auto-encoder critic with the
    pulling-away term), logistic (the original GAN; --saturating for its
    saturating generator loss), least-squares (LSGAN), wasserstein (WGAN-GP,
    or weight clipping with --gp 0).

    \b
    2-D mixtures (ring8, grid25) use MLPs and report modes_captured,
    high_quality and reverse_kl; image sets use the DCGAN networks and report
    fd, precision, recall, density and coverage in a trained classifier's
    feature space. Every run logs the pitfall diagnostics (energies of real and
    generated samples, generator gradient norm, mode coverage or diversity),
    warns when one triggers, and draws them in report.html.

    \b
    With the logistic loss on a 2-D mixture, the defaults are the recipe
    measured best there (docs/RESULTS.md): the R1 penalty (0.5 on ring8, 1 on
    grid25), 60 epochs of batch 100 with a cosine decay, and samples refined by
    descent on the critic's latent energy: every mode, about 98.5 % high
    quality, in every seed (about 25 min on a 2-core CPU). The plain GAN, with
    its pitfalls, is --r1 0 --refine none.

    \b
    Examples:
      ebmlab gan train                                       # the ring recipe: 8/8 modes, ~98.7 % high quality
      ebmlab gan train --data ring8 --r1 0 --refine none --epochs 20   # the plain logistic GAN (mode pitfalls)
      ebmlab gan train --data grid25 --loss wasserstein --n-critic 5
      ebmlab gan train --data fashion-mnist --loss least-squares --epochs 5 --out runs/lsgan
      ebmlab gan train --data mnist5k --dry-run              # one batch: check the set-up
      ebmlab gan train --resume runs/lsgan                   # continue an interrupted run
    """
    return train_gan(cfg, run)


@gan.command("sample")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--n", "n", type=click.IntRange(1, 100000), default=64, show_default=True, help="Number of samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise z.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="PNG (a grid of images, or a scatter of 2-D points) or .pt (the tensor) [default: RUN/samples_<seed>.png].",
)
@click.option(
    "--refine",
    type=click.Choice(["none", "rejection", "descent"]),
    default="none",
    show_default=True,
    help="rejection: keep each sample with probability given by the critic's energy (the density ratio "
    "p_data/p_G of a logistic or least-squares critic), which corrects the generator; descent: move "
    "each sample's z down the latent energy ½‖z‖² − log r(G(z)) (the run's --descent-steps/-step).",
)
def sample_cmd(run_dir: str, n: int, seed: int, out: str | None, refine: str) -> None:
    """Draw samples from the generator of a finished (or checkpointed) run RUN_DIR."""
    from ebmlab.gan.sample import sample_run

    path = sample_run(Path(run_dir), n, seed, Path(out) if out else None, refine)
    click.echo(f"samples: {path}")
