"""Training loop of the VAE (``ebmlab vae train``), the comparison model of the GAN family.

Each step minimises the free energy F(x) = E_q[−log p(x|z)] + β·KL(q(z|x) ‖ N(0, I))
(:class:`ebmlab.vae.model.VAE`) of one mini-batch with Adam. The data and the
evaluation are those of ``ebmlab gan train``: a 2-D mixture (mode statistics)
or an image set (Fréchet distance, precision, recall, density, coverage and
diversity in the evaluation classifier's features), through
:func:`ebmlab.data.generative.generative_data` and
:func:`ebmlab.metrics.generative.evaluate_samples`; samples are decoded from
z ~ N(0, I). ``--time-budget`` stops training after a wall-clock budget, for
comparisons at equal time. Figures: samples, reconstructions of test images,
latent interpolations between pairs of test images, the loss terms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from ebmlab.data import epoch_batches
from ebmlab.data.generative import GENERATIVE_DATA, generative_data, is_points
from ebmlab.metrics.generative import evaluate_samples
from ebmlab.runtime import Run, RunningMean, TimeBudget, TrainConfig, check
from ebmlab.runtime.distributed import wrap_model
from ebmlab.vae.model import MLPVAE, VAE, ConvVAE

__all__ = ["VaeConfig", "train_vae", "build_vae"]

ARCHS = ("mlp", "conv")


@dataclass(frozen=True)
class VaeConfig(TrainConfig):
    """Kingma & Welling's MNIST set-up (20 latents, 400 hidden units), Adam lr 1e-3, batch 128."""

    data: str = field(
        default="mnist5k",
        metadata={
            "help": "Training data: a 2-D mixture, an image set, or 'folder' (with --data-dir).",
            "choices": GENERATIVE_DATA,
        },
    )
    data_dir: str = field(
        default="", metadata={"help": "Folder of IDX files (mnist, fashion-mnist) or of images (--data folder)."}
    )
    image_size: int = field(
        default=0,
        metadata={"help": "Image side (a multiple of 4 for --arch conv); 0 keeps the data's own (64 for a folder)."},
    )
    channels: int = field(default=1, metadata={"help": "Colour channels of a folder's images (1 or 3)."})
    arch: str = field(
        default="conv",
        metadata={"help": "Encoder/decoder: mlp (one hidden layer) or conv (images only).", "choices": ARCHS},
    )
    nz: int = field(default=20, metadata={"help": "Latent dimensions."})
    hidden: int = field(default=400, metadata={"help": "Hidden units of the MLP encoder and decoder."})
    beta: float = field(default=1.0, metadata={"help": "Weight β of the KL term (1: the ELBO)."})
    decoder_std: float = field(
        default=0.05, metadata={"help": "2-D data: standard deviation of the Gaussian likelihood p(x|z)."}
    )
    epochs: int = field(default=20, metadata={"help": "Passes over the training data."})
    n_train: int = field(
        default=100000, metadata={"help": "2-D data: size of the training sample drawn from the mixture."}
    )
    batch_size: int = field(
        default=128, metadata={"help": "Global mini-batch size (split evenly over torchrun processes)."}
    )
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate."})
    eval_every: int = field(
        default=1000, metadata={"help": "Evaluate the samples every this many steps, and at the end."}
    )
    n_eval: int = field(default=2500, metadata={"help": "Samples per evaluation."})
    time_budget: float = field(
        default=0.0, metadata={"help": "Stop training after this many seconds (evaluation excluded; 0: no limit)."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.data in GENERATIVE_DATA, f"--data must be one of {', '.join(GENERATIVE_DATA)}, got {self.data!r}")
        check(self.arch in ARCHS, f"--arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        check(
            not (self.arch == "conv" and is_points(self.data)),
            f"--arch conv needs images; use --arch mlp for {self.data}",
        )
        check(
            self.arch != "conv" or self.image_size == 0 or (self.image_size % 4 == 0 and self.image_size >= 8),
            f"--image-size {self.image_size} does not suit the convolutional VAE; use a multiple of 4, ≥ 8",
        )
        check(self.channels in (1, 3), f"--channels must be 1 or 3, got {self.channels}")
        for name in ("nz", "hidden", "batch_size", "eval_every", "n_eval"):
            check(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        check(self.beta >= 0, f"--beta must be >= 0, got {self.beta}")
        check(self.decoder_std > 0, f"--decoder-std must be > 0, got {self.decoder_std}")
        check(self.epochs >= 0, f"--epochs must be >= 0, got {self.epochs}")
        check(
            self.n_train >= self.batch_size, f"--n-train ({self.n_train}) must be >= --batch-size ({self.batch_size})"
        )
        check(self.lr > 0, f"--lr must be > 0, got {self.lr}")
        check(self.time_budget >= 0, f"--time-budget must be >= 0, got {self.time_budget}")


def build_vae(cfg: VaeConfig, shape: tuple[int, ...]) -> VAE:
    """The VAE of ``cfg`` for examples of ``shape`` ((2,) points or (C, S, S) images)."""
    if cfg.arch == "conv":
        return ConvVAE(shape[0], shape[-1], cfg.nz)
    return MLPVAE(shape, cfg.nz, cfg.hidden, cfg.decoder_std)


def train_vae(cfg: VaeConfig, run: Run) -> dict:
    """Train the VAE; evaluate its samples like a GAN's; draw samples, reconstructions, interpolations."""
    device, rank, world = run.device, run.dist.rank, run.dist.world_size
    data = generative_data(cfg.data, cfg.n_train, cfg.seed, cfg.image_size, cfg.data_dir or None, cfg.channels)
    X = data.x
    n = len(X)
    check(n >= cfg.batch_size, f"--batch-size ({cfg.batch_size}) is larger than the {n} training examples")
    model = build_vae(cfg, tuple(X.shape[1:])).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    per_epoch = n // cfg.batch_size
    total = cfg.epochs * per_epoch
    start = run.restore(model=model, optimizer=opt)
    budget = TimeBudget(cfg.time_budget, run.restored_extra.get("train_s", 0.0))
    if start and budget.spent(run.dist, device):
        total = start
    step_fn = wrap_model(model, run.dist)
    X = X.to(device)
    last: dict | None = None

    def evaluate(step: int) -> dict:
        t = time.time()
        model.eval()
        fake = model.sample(cfg.n_eval, torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)).cpu()
        model.train()
        metrics = evaluate_samples(fake, data, cfg.data_dir or None, device=device)
        metrics["eval_s"] = time.time() - t
        run.log(step, **metrics)
        return metrics

    running = RunningMean()
    batches: list[torch.Tensor] = []
    for step in run.progress(range(start, total), total=total, initial=start, desc="vae"):
        epoch, i = divmod(step, per_epoch)
        if i == 0 or not batches:
            batches = list(epoch_batches(n, cfg.batch_size, cfg.seed, epoch, rank=rank, world_size=world))
        loss, terms = step_fn(X[batches[i].to(device)], cfg.beta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running.add(loss=terms[0] + cfg.beta * terms[1], reconstruction=terms[0], kl=terms[1])
        done = step + 1
        stop = budget.spent(run.dist, device)
        if run.should_log(done, total) or stop:
            run.log(done, **running.pop(run.dist))
        if run.is_main and (done % cfg.eval_every == 0 or done == total or stop):
            with budget.paused():
                last = evaluate(done)
        if run.should_checkpoint(done, total) or stop:
            run.save_checkpoint(done, extra={"train_s": budget.elapsed()}, model=model, optimizer=opt)
        if stop:
            total = done
            break
    if not run.is_main:
        return {}
    if last is None:
        last = evaluate(total)
    model.eval()
    test_x = X[:16] if data.images is None else _test_images(cfg, data)
    with torch.no_grad():
        t = model.free_energy(test_x.to(device))
    result = {
        **last,
        "free_energy": float(t["loss"]),
        "reconstruction": float(t["reconstruction"]),
        "kl": float(t["kl"]),
        "iterations": total,
        "train_s": budget.elapsed(),
    }
    for name, fig in vae_figures(run, model, data, test_x).items():
        run.save_figure(name, fig)
    run.export_weights("vae", model.state_dict())
    return result


def _test_images(cfg: VaeConfig, data) -> torch.Tensor:
    if data.images.labels is None:  # a folder: no test split
        return data.images.images[:1000]
    from ebmlab.data.images import load_images

    return load_images(cfg.data, "test", data.images.images.shape[-1], cfg.data_dir or None).images[:1000]


@torch.no_grad()
def vae_figures(run: Run, model: VAE, data, test_x: torch.Tensor) -> dict:
    """``samples``; for images also ``reconstructions`` and ``interpolations``."""
    from ebmlab.viz.samples import images_figure, samples_figure

    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(run.config.seed + 2)
    n = run.config.n_eval if data.mixture is not None else 64
    figs = {"samples": samples_figure(model.sample(n, g).cpu(), data.mixture, "VAE: samples decoded from z ~ N(0, I)")}
    if data.images is None:
        return figs
    x = test_x[:8].to(device)
    mu, _ = model.encode(x)
    figs["reconstructions"] = images_figure(
        torch.cat([x, model.decode(mu)]).cpu(), "test images (top) and their reconstructions from μ(x)", nrow=8
    )
    a, b = model.encode(test_x[8:14].to(device))[0], model.encode(test_x[14:20].to(device))[0]
    w = torch.linspace(0, 1, 8, device=device)
    z = (a[:, None] * (1 - w[None, :, None]) + b[:, None] * w[None, :, None]).reshape(-1, model.nz)
    figs["interpolations"] = images_figure(model.decode(z).cpu(), "latent interpolations between test images", nrow=8)
    return figs
