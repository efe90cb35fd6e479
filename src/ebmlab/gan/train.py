"""Training loop of a GAN read as an energy-based model (``ebmlab gan train``).

Each iteration takes one mini-batch y of training data and a batch of noise z:

1. critic step: ȳ = G(z) (no gradient into G); minimise over the critic's
   parameters L_d(F(y), F(ȳ)) (+ λ_gp · gradient penalty for ``wasserstein``;
   weights clipped to [−c, c] instead when λ_gp = 0; + γ · R1 penalty on data
   when ``r1`` > 0);
2. every ``n_critic`` iterations, generator step: minimise over G's parameters
   L_g(F(G(z'))) (+ ``pt_weight`` · pulling-away term for ``margin``), the
   critic frozen.

The losses are :mod:`ebmlab.gan.losses`; the networks :mod:`ebmlab.gan.networks`
(MLPs for the 2-D mixtures ``ring8``/``grid25``, DCGAN or EBGAN's auto-encoder
critic for images). Every ``eval_every`` iterations the run is evaluated —
modes captured, high-quality share and reverse KL on 2,500 samples for 2-D
data; Fréchet distance, precision, recall, density, coverage and sample
diversity in a trained classifier's feature space for images — and the pitfall
detectors of :mod:`ebmlab.gan.diagnostics` run, printing a warning when one
triggers. A grid (or scatter) of samples from a fixed noise batch is saved every
``sample_every`` iterations under ``samples/``.

Data order comes from :func:`ebmlab.data.epoch_batches` and all noise from the
global generator, drawn for the global batch and sliced per torchrun rank, so a
resumed run ends with the same weights as an uninterrupted one on CPU, and two
processes follow one process with the same global batch (without BatchNorm).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from ebmlab.data.generative import GENERATIVE_DATA, generative_data, is_points
from ebmlab.errors import ConfigError
from ebmlab.gan.diagnostics import Diagnostics, warn
from ebmlab.gan.losses import LOSSES, get_loss, gradient_penalty, pulling_away, r1_penalty
from ebmlab.gan.networks import (
    ConvAutoEncoderCritic,
    DCGANCritic,
    DCGANGenerator,
    MLPAutoEncoderCritic,
    MLPCritic,
    MLPGenerator,
    Packed,
    image_plan,
)
from ebmlab.gan.refine import REFINABLE, descend_latent, fit_ratio_critic, rejection_sample
from ebmlab.metrics.generative import evaluate_samples
from ebmlab.runtime import Run, RunningMean, TimeBudget, TrainConfig, check
from ebmlab.runtime.distributed import wrap_model
from ebmlab.runtime.schedule import DECAYS, lr_factor
from ebmlab.viz.samples import samples_figure

__all__ = ["GanConfig", "train_gan", "build_networks", "data_shape", "is_2d"]

DATA = GENERATIVE_DATA
REFINE = ("none", "rejection", "refit", "descent")
is_2d = is_points


#: The best recipe measured on each 2-D mixture (docs/RESULTS.md, "The ring reached" and "The grid reached"):
#: the logistic loss with the R1 penalty, 60 epochs of batch 100 with a cosine decay, samples refined by descent
#: on the critic's latent energy: 8/8 and 25/25 modes, 98.7 % and 98.5 % high quality over five seeds.
MIXTURE_RECIPE = {"refine": "descent", "batch_size": 100, "epochs": 60, "lr_decay": "cosine"}


@dataclass(frozen=True)
class GanConfig(TrainConfig):
    """DCGAN's defaults (Radford et al., 2016): Adam lr 2e-4, β1 0.5, batch 64; MLPs on 2-D mixtures.

    From the command line (or a TOML file), a 2-D mixture with the logistic loss starts from the recipe measured
    best on it (``RECIPES``: R1 0.5 on ring8, 1 on grid25, descent on the latent energy, batch 100, 60 epochs,
    cosine decay); any option given overrides its part. In Python, ``GanConfig.for_data("ring8")`` gives it.
    """

    RECIPES: ClassVar[tuple] = (
        ({"data": "ring8", "loss": "logistic"}, {"r1": 0.5, **MIXTURE_RECIPE}),
        ({"data": "grid25", "loss": "logistic"}, {"r1": 1.0, **MIXTURE_RECIPE}),
    )

    @classmethod
    def for_data(cls, data: str, **values) -> "GanConfig":
        """The config that ``ebmlab gan train --data DATA`` with these options would run (its recipe included)."""
        from ebmlab.runtime.config import recipe_defaults

        values = {"data": data, **values}
        return cls(**{**recipe_defaults(cls, values), **values})

    data: str = field(
        default="ring8",
        metadata={
            "help": "Training data: a 2-D mixture, an image set, or 'folder' (with --data-dir).",
            "choices": DATA,
        },
    )
    data_dir: str = field(
        default="", metadata={"help": "Folder of IDX files (mnist, fashion-mnist) or of images (--data folder)."}
    )
    image_size: int = field(
        default=0,
        metadata={"help": "Image side for the networks (4·2^k or 7·2^k); 0 keeps the data's own (64 for a folder)."},
    )
    channels: int = field(default=1, metadata={"help": "Colour channels of a folder's images (1 or 3)."})
    loss: str = field(
        default="logistic",
        metadata={"help": "Contrastive loss of the critic (energy) and the generator.", "choices": LOSSES},
    )
    saturating: bool = field(
        default=False, metadata={"help": "Logistic loss only: the saturating generator loss log(1 − D(G(z)))."}
    )
    margin: float = field(default=1.0, metadata={"help": "m of the margin loss F(y) + [m − F(ȳ)]⁺."})
    pt_weight: float = field(
        default=0.1, metadata={"help": "Weight of EBGAN's pulling-away term in the generator loss (margin loss)."}
    )
    gp: float = field(
        default=10.0,
        metadata={"help": "Wasserstein loss: gradient-penalty weight λ; 0 clips the critic's weights instead."},
    )
    r1: float = field(
        default=0.0,
        metadata={"help": "Weight γ of the zero-centred gradient penalty γ·½‖∇F(y)‖² on data (R1; any loss; 0: off)."},
    )
    clip: float = field(
        default=0.01, metadata={"help": "Wasserstein loss with --gp 0: clip critic weights to [−clip, clip]."}
    )
    n_critic: int = field(default=1, metadata={"help": "Critic steps per generator step."})
    refine: str = field(
        default="none",
        metadata={
            "help": "Evaluate samples as drawn (none), or refined by an energy's density ratio: accepted by the run's own critic (rejection) or by a logistic critic fitted afresh to the final generator (refit; any loss), or moved by gradient descent on the latent energy ½‖z‖² − log r(G(z)) of the run's own critic (descent). rejection and descent need the logistic or least-squares loss; raw_* keys keep the generator's own samples.",
            "choices": REFINE,
        },
    )
    descent_steps: int = field(default=100, metadata={"help": "--refine descent: gradient steps on the latent energy."})
    descent_step: float = field(default=1e-3, metadata={"help": "--refine descent: step size η of z ← z − ½η∇E(z)."})
    refit_steps: int = field(
        default=2000, metadata={"help": "--refine refit: Adam steps of the fresh logistic critic (batch 256, lr 1e-3)."}
    )
    ema: float = field(
        default=0.0,
        metadata={
            "help": "Decay of an exponential moving average of the generator's weights, used for evaluation and samples (0: off; e.g. 0.999)."
        },
    )
    pack: int = field(
        default=1, metadata={"help": "PacGAN packing: the critic judges this many samples at once (1: no packing)."}
    )
    nz: int = field(default=100, metadata={"help": "Size of the noise vector z."})
    ngf: int = field(default=64, metadata={"help": "Width of the DCGAN generator (channels of its last hidden layer)."})
    ndf: int = field(default=64, metadata={"help": "Width of the DCGAN critic (channels of its first layer)."})
    hidden_g: int = field(default=400, metadata={"help": "2-D data: units per hidden layer of the MLP generator."})
    layers_g: int = field(default=4, metadata={"help": "2-D data: hidden layers of the MLP generator."})
    hidden_d: int = field(default=200, metadata={"help": "2-D data: units per hidden layer of the MLP critic."})
    layers_d: int = field(default=3, metadata={"help": "2-D data: hidden layers of the MLP critic."})
    batchnorm_g: bool = field(default=True, metadata={"help": "2-D data: BatchNorm in the MLP generator."})
    critic_norm: str = field(
        default="auto",
        metadata={
            "help": "Image critic normalisation: batch, none, or auto (none for wasserstein with --gp, else batch).",
            "choices": ("auto", "batch", "none"),
        },
    )
    epochs: int = field(
        default=25, metadata={"help": "Passes over the training data (one critic step per mini-batch)."}
    )
    n_train: int = field(
        default=100000, metadata={"help": "2-D data: size of the training sample drawn from the mixture."}
    )
    batch_size: int = field(
        default=64, metadata={"help": "Global mini-batch size (split evenly over torchrun processes)."}
    )
    lr: float = field(default=2e-4, metadata={"help": "Adam learning rate of both networks."})
    lr_decay: str = field(
        default="none",
        metadata={
            "help": "Learning-rate schedule: constant (none) or a cosine decay to 0 over the second half (cosine).",
            "choices": DECAYS,
        },
    )
    beta1: float = field(default=0.5, metadata={"help": "Adam β1."})
    beta2: float = field(default=0.999, metadata={"help": "Adam β2."})
    eval_every: int = field(
        default=1000,
        metadata={"help": "Evaluate (metrics and pitfall detectors) every this many iterations, and at the end."},
    )
    n_eval: int = field(default=2500, metadata={"help": "Samples per evaluation (2-D: PacGAN's 2,500)."})
    sample_every: int = field(
        default=1000, metadata={"help": "Save samples from a fixed noise batch every this many iterations."}
    )
    time_budget: float = field(
        default=0.0,
        metadata={
            "help": "Stop training after this many seconds (evaluation time excluded; 0: no limit), for comparisons at equal wall-clock budget."
        },
    )
    dry_run: bool = field(
        default=False, metadata={"help": "Run one mini-batch through both steps and stop (checks a set-up)."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.data in DATA, f"--data must be one of {', '.join(DATA)}, got {self.data!r}")
        check(self.loss in LOSSES, f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        get_loss(self.loss, self.margin, self.saturating)  # validates the combination
        if not is_2d(self.data) and self.image_size:
            image_plan(self.image_size)
        check(self.channels in (1, 3), f"--channels must be 1 or 3, got {self.channels}")
        check(self.pt_weight >= 0, f"--pt-weight must be >= 0, got {self.pt_weight}")
        check(self.gp >= 0, f"--gp must be >= 0, got {self.gp}")
        check(self.r1 >= 0, f"--r1 must be >= 0, got {self.r1}")
        check(self.clip > 0, f"--clip must be > 0, got {self.clip}")
        check(self.n_critic >= 1, f"--n-critic must be >= 1, got {self.n_critic}")
        check(self.refine in REFINE, f"--refine must be one of {', '.join(REFINE)}, got {self.refine!r}")
        check(
            self.refine not in ("rejection", "descent") or self.loss in REFINABLE,
            f"--refine {self.refine} needs the {' or '.join(REFINABLE)} loss (a density-ratio critic), not {self.loss}; "
            "--refine refit works with any loss",
        )
        check(self.refit_steps >= 1, f"--refit-steps must be >= 1, got {self.refit_steps}")
        check(self.descent_steps >= 1, f"--descent-steps must be >= 1, got {self.descent_steps}")
        check(self.descent_step > 0, f"--descent-step must be > 0, got {self.descent_step}")
        check(0 <= self.ema < 1, f"--ema must be in [0, 1), got {self.ema}")
        check(self.pack >= 1, f"--pack must be >= 1, got {self.pack}")
        check(
            self.batch_size % self.pack == 0, f"--batch-size {self.batch_size} must be a multiple of --pack {self.pack}"
        )
        for name in (
            "nz",
            "ngf",
            "ndf",
            "hidden_g",
            "layers_g",
            "hidden_d",
            "layers_d",
            "batch_size",
            "n_eval",
            "eval_every",
            "sample_every",
        ):
            check(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        check(self.epochs >= 0, f"--epochs must be >= 0, got {self.epochs}")
        check(self.time_budget >= 0, f"--time-budget must be >= 0, got {self.time_budget}")
        check(
            self.n_train >= self.batch_size, f"--n-train ({self.n_train}) must be >= --batch-size ({self.batch_size})"
        )
        check(self.lr > 0, f"--lr must be > 0, got {self.lr}")
        check(self.lr_decay in DECAYS, f"--lr-decay must be one of {', '.join(DECAYS)}, got {self.lr_decay!r}")
        check(
            0 <= self.beta1 < 1 and 0 <= self.beta2 < 1,
            f"--beta1 and --beta2 must be in [0, 1), got {self.beta1}, {self.beta2}",
        )

    @property
    def norm(self) -> str:
        if self.critic_norm != "auto":
            return self.critic_norm
        return "none" if self.loss == "wasserstein" and self.gp > 0 else "batch"


def data_shape(cfg: GanConfig) -> tuple[int, ...]:
    """Shape of one training example: (2,) for a 2-D mixture, (C, S, S) for images."""
    from ebmlab.data.registry import DATASETS

    if is_2d(cfg.data):
        return (2,)
    if cfg.data == "folder":
        size = cfg.image_size or 64
        return (cfg.channels, size, size)
    c, h, _ = DATASETS[cfg.data].image_shape
    size = cfg.image_size or h
    return (c, size, size)


def build_networks(
    cfg: GanConfig, image_shape: tuple[int, ...] | None = None
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(generator, critic) for ``cfg``; ``image_shape`` (C, H, W) of the training images when they are images."""
    auto_encoder = cfg.loss == "margin"  # EBGAN: the energy is a reconstruction error, ≥ 0
    m = cfg.pack
    if is_2d(cfg.data):
        G = MLPGenerator(cfg.nz, cfg.hidden_g, cfg.layers_g, 2, batchnorm=cfg.batchnorm_g)
        D = (
            MLPAutoEncoderCritic(2 * m, cfg.hidden_d, cfg.layers_d, code=2 * m)
            if auto_encoder
            else MLPCritic(2 * m, cfg.hidden_d, cfg.layers_d)
        )
    else:
        channels, size = image_shape[0], image_shape[-1]
        G = DCGANGenerator(cfg.nz, cfg.ngf, channels, size)
        D = (ConvAutoEncoderCritic if auto_encoder else DCGANCritic)(cfg.ndf, m * channels, size, norm=cfg.norm)
    return G, (Packed(D, m) if m > 1 else D)


class _CriticStep(torch.nn.Module):
    """forward(real, fake, eps) -> (L_d [+ gradient penalty], detached mean energies): one DDP forward."""

    def __init__(self, critic: torch.nn.Module, loss, gp: float, r1: float = 0.0) -> None:
        super().__init__()
        self.critic, self.loss, self.gp, self.r1 = critic, loss, gp, r1

    def forward(self, real, fake, eps):
        if self.r1 > 0:
            real = real.detach().requires_grad_(True)
        e_real, e_fake = self.critic(real), self.critic(fake)
        total = self.loss.critic(e_real, e_fake)
        if self.gp > 0:
            total = total + self.gp * gradient_penalty(self.critic, real.detach(), fake, eps)
        if self.r1 > 0:
            total = total + self.r1 * r1_penalty(self.critic, real, e_real)
        return total, torch.stack([e_real.detach().mean(), e_fake.detach().mean()])


class _GeneratorStep(torch.nn.Module):
    """forward(z) -> (L_g [+ pulling-away term], detached mean energy); the critic is not a sub-module."""

    def __init__(self, generator: torch.nn.Module, critic: torch.nn.Module, loss, pt_weight: float) -> None:
        super().__init__()
        self.generator, self._critic, self.loss, self.pt_weight = generator, [critic], loss, pt_weight

    def forward(self, z):
        critic = self._critic[0]
        fake = self.generator(z)
        if self.pt_weight > 0 and hasattr(critic, "forward_with_code"):
            e_fake, code = critic.forward_with_code(fake)
            total = self.loss.generator(e_fake) + self.pt_weight * pulling_away(code)
        else:
            e_fake = critic(fake)
            total = self.loss.generator(e_fake)
        return total, e_fake.detach().mean()


def _averaged(G: torch.nn.Module, decay: float) -> dict:
    """{"ema": an exponential moving average of G's weights and buffers} when decay > 0, else {}."""
    if decay <= 0:
        return {}
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return {"ema": AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)}


def _slice(x: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    per = len(x) // world
    return x[rank * per : (rank + 1) * per]


def train_gan(cfg: GanConfig, run: Run) -> dict:
    """Train the generator and the critic; evaluate, diagnose and draw (see the module doc)."""
    from ebmlab.data import epoch_batches

    device, rank, world = run.device, run.dist.rank, run.dist.world_size
    data = generative_data(cfg.data, cfg.n_train, cfg.seed, cfg.image_size, cfg.data_dir or None, cfg.channels)
    X = data.x
    if data.images is not None:
        image_plan(X.shape[-1])  # the data's own size must suit the networks too
    n = len(X)
    check(n >= cfg.batch_size, f"--batch-size ({cfg.batch_size}) is larger than the {n} training examples")
    G, D = build_networks(cfg, tuple(X.shape[1:]))
    G, D = G.to(device), D.to(device)
    loss = get_loss(cfg.loss, cfg.margin, cfg.saturating)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    diagnostics = Diagnostics()
    evaluator = _Evaluator(cfg, run, data, G)
    fixed_z = torch.randn(64, cfg.nz, generator=torch.Generator().manual_seed(cfg.seed + 1)).to(device)

    per_epoch = n // cfg.batch_size
    total = 1 if cfg.dry_run else cfg.epochs * per_epoch
    averaged = _averaged(G, cfg.ema)
    start = run.restore(generator=G, critic=D, opt_g=opt_g, opt_d=opt_d, diagnostics=diagnostics, **averaged)
    G_eval = averaged["ema"].module if averaged else G  # what evaluation, samples and export use
    budget = TimeBudget(cfg.time_budget, run.restored_extra.get("train_s", 0.0))
    if start and budget.spent(run.dist, device):  # a run its budget stopped: evaluate, do not train on
        total = start
    critic_step = wrap_model(_CriticStep(D, loss, cfg.gp if cfg.loss == "wasserstein" else 0.0, cfg.r1), run.dist)
    generator_step = wrap_model(_GeneratorStep(G, D, loss, cfg.pt_weight if cfg.loss == "margin" else 0.0), run.dist)
    clip = cfg.loss == "wasserstein" and cfg.gp == 0
    X = X.to(device)

    running = RunningMean()
    batches: list[torch.Tensor] = []
    shape = (cfg.batch_size,) + (1,) * (X.ndim - 1)
    for step in run.progress(range(start, total), total=total, initial=start, desc=f"gan {cfg.loss}"):
        epoch, i = divmod(step, per_epoch)
        if i == 0 or not batches:
            batches = list(epoch_batches(n, cfg.batch_size, cfg.seed, epoch, rank=rank, world_size=world))
        real = X[batches[i].to(device)]
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(step, total // 2, total, cfg.lr_decay)
        z = _slice(torch.randn(cfg.batch_size, cfg.nz), rank, world).to(device)
        eps = _slice(torch.rand(shape), rank, world).to(device)
        with torch.no_grad():
            fake = G(z)
        loss_d, energies = critic_step(real, fake, eps)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        if clip:
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-cfg.clip, cfg.clip)
        values = {"loss_d": loss_d.detach(), "energy_real": energies[0], "energy_fake": energies[1]}
        if (step + 1) % cfg.n_critic == 0 or cfg.dry_run:
            D.requires_grad_(False)
            z = _slice(torch.randn(cfg.batch_size, cfg.nz), rank, world).to(device)
            loss_g, _ = generator_step(z)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            values["grad_norm_g"] = torch.nn.utils.get_total_norm(
                [p.grad for p in G.parameters() if p.grad is not None]
            )
            opt_g.step()
            if averaged:
                averaged["ema"].update_parameters(G)
            D.requires_grad_(True)
            values["loss_g"] = loss_g.detach()
        running.add(**values)
        done = step + 1
        if run.should_log(done, total):
            logged = running.pop(run.dist)
            diagnostics.record(logged["energy_fake"] - logged["energy_real"], logged.get("grad_norm_g"))
            run.log(done, **logged)
        stop = budget.spent(run.dist, device)
        if run.is_main and (done % cfg.sample_every == 0 or done == total or stop):
            evaluator.save_samples(G_eval, D, fixed_z, done)
        if done % cfg.eval_every == 0 or done == total or stop:
            with budget.paused():
                evaluator.evaluate(G_eval, D, diagnostics, done)
            diagnostics.warn(done) if run.is_main else None
        if run.should_checkpoint(done, total) or stop:
            run.save_checkpoint(
                done,
                extra={"train_s": budget.elapsed()},
                generator=G,
                critic=D,
                opt_g=opt_g,
                opt_d=opt_d,
                diagnostics=diagnostics,
                **averaged,
            )
        if stop:
            total = done
            break
    if not run.is_main:
        return {}
    if start >= total and total > 0 and evaluator.last is None:  # resumed a finished run: evaluate again
        evaluator.evaluate(G_eval, D, diagnostics, total)
    result = dict(evaluator.last or {})
    result.update(diagnostics.summary())
    result["iterations"] = total
    for name, fig in gan_figures(run, evaluator, G_eval, D, fixed_z).items():
        run.save_figure(name, fig)
    run.export_weights("generator", G_eval.state_dict())
    run.export_weights("critic", D.state_dict())
    return result


class _Evaluator:
    """Metrics of the generator's samples (:func:`ebmlab.metrics.generative.evaluate_samples`) and pictures."""

    def __init__(self, cfg: GanConfig, run: Run, data, opponent: torch.nn.Module) -> None:
        self.cfg, self.run, self.data = cfg, run, data
        self.opponent = opponent  # the generator the critic was trained against: refinement must use it
        self.last: dict | None = None

    @torch.no_grad()
    def samples(self, G, n: int, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        was = G.training
        G.eval()
        out = torch.cat(
            [
                G(torch.randn(min(500, n - i), self.cfg.nz, generator=g).to(self.run.device)).cpu()
                for i in range(0, n, 500)
            ]
        )
        G.train(was)
        return out

    def refined(self, G, D, n: int, seed: int) -> tuple[torch.Tensor, float | None]:
        """n samples refined by an energy's density ratio (:mod:`ebmlab.gan.refine`) and the acceptance
        rate (None for descent): accepted by the critic D the run trained against G (``rejection``) or by a
        logistic critic fitted afresh to G (``refit``), or moved by descent on D's latent energy."""
        from dataclasses import replace

        g = torch.Generator().manual_seed(seed)
        own, was = D, (G.training, D.training)
        G.eval()
        own.eval()
        if self.cfg.refine == "refit":
            with torch.random.fork_rng(devices=[]):  # leaves the training run's random stream alone
                torch.manual_seed(seed)
                fresh = build_networks(
                    replace(self.cfg, loss="logistic", pack=1, critic_norm="none"), tuple(self.data.x.shape[1:])
                )[1].to(self.run.device)
            D = fit_ratio_critic(
                G, fresh, self.data.x, self.cfg.nz, g, steps=self.cfg.refit_steps, device=self.run.device
            )
        if self.cfg.refine == "descent":
            out = (
                descend_latent(
                    G,
                    D,
                    self.cfg.loss,
                    n,
                    self.cfg.nz,
                    g,
                    self.cfg.descent_steps,
                    self.cfg.descent_step,
                    device=self.run.device,
                ),
                None,
            )
        else:
            with torch.no_grad():
                out = rejection_sample(
                    G,
                    D,
                    "logistic" if self.cfg.refine == "refit" else self.cfg.loss,
                    n,
                    self.cfg.nz,
                    g,
                    device=self.run.device,
                )
        G.train(was[0])
        own.train(was[1])
        return out

    def refine_source(self, G):
        """The generator a refinement samples from: the critic's own opponent, or the evaluated one for refit."""
        return G if self.cfg.refine == "refit" else self.opponent

    def evaluate(self, G, D, diagnostics: Diagnostics, step: int) -> None:
        if not self.run.is_main:
            return
        start = time.time()
        seed = self.cfg.seed * 1_000_003 + step
        fake = self.samples(G, self.cfg.n_eval, seed=seed)
        metrics = evaluate_samples(fake, self.data, self.cfg.data_dir or None, device=self.run.device)
        if self.cfg.refine != "none":
            raw = {f"raw_{k}": v for k, v in metrics.items()}
            try:
                kept, rate = self.refined(self.refine_source(G), D, self.cfg.n_eval, seed + 1)
                metrics = {
                    **evaluate_samples(kept, self.data, self.cfg.data_dir or None, device=self.run.device),
                    **({} if rate is None else {"acceptance_rate": rate}),
                    **raw,
                }
            except ConfigError as exc:  # the critic rejects (nearly) everything: report the raw samples
                warn(f"ebmlab: warning at step {step}: {exc}; the refined metrics are those of the raw samples")
                metrics = {**metrics, "acceptance_rate": 0.0, **raw}
        own = {k[4:]: v for k, v in metrics.items() if k.startswith("raw_")} or metrics  # the generator's own samples
        if self.data.mixture is not None:
            diagnostics.record_modes(own["modes_captured"], len(self.data.mixture.centers), own["reverse_kl"])
        else:
            diagnostics.record_diversity(own["diversity"])
        metrics["eval_s"] = time.time() - start
        self.last = metrics
        self.run.log(step, **metrics)

    def picture(self, G, D, fixed_z: torch.Tensor, title: str):
        """Samples from the fixed noise (images) or 2,500 samples (points, refined when --refine), as a figure."""
        mix = self.data.mixture
        if mix is not None:
            if self.cfg.refine != "none":
                return samples_figure(
                    self.refined(self.refine_source(G), D, self.cfg.n_eval, self.cfg.seed + 2)[0],
                    mix,
                    title
                    + (
                        " (descended on the critic's energy)"
                        if self.cfg.refine == "descent"
                        else " (accepted by the critic)"
                    ),
                )
            return samples_figure(self.samples(G, self.cfg.n_eval, seed=self.cfg.seed + 2), mix, title)
        with torch.no_grad():
            was = G.training
            G.eval()
            out = G(fixed_z).cpu()
            G.train(was)
        return samples_figure(out, None, title)

    def save_samples(self, G, D, fixed_z: torch.Tensor, step: int) -> None:
        import matplotlib.pyplot as plt

        fig = self.picture(G, D, fixed_z, f"step {step}")
        (self.run.dir / "samples").mkdir(exist_ok=True)
        fig.savefig(self.run.dir / "samples" / f"step_{step:07d}.png", dpi=80)
        plt.close(fig)


def gan_figures(run: Run, evaluator: _Evaluator, G, D, fixed_z) -> dict:
    """``samples`` (final) and ``diagnostics`` (energies, losses, generator gradient, modes or diversity)."""
    from ebmlab.viz.backend import file_backend

    file_backend()
    import matplotlib.pyplot as plt

    from ebmlab.viz.curves import read_metrics_log

    figs = {"samples": evaluator.picture(G, D, fixed_z, f"{run.config.loss}: samples")}
    records = read_metrics_log(run.dir / "metrics.jsonl")
    train = [r for r in records if "energy_real" in r]
    evals = [r for r in records if "eval_s" in r]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.4))
    steps = [r["step"] for r in train]
    axes[0].plot(steps, [r["energy_real"] for r in train], label="F(y), data")
    axes[0].plot(steps, [r["energy_fake"] for r in train], label="F(ȳ), generated")
    axes[0].set_title("critic energies (unstable convergence)", fontsize=10)
    axes[0].legend(fontsize=8)
    axes[1].plot(steps, [r["loss_d"] for r in train], label="L_d (critic)")
    g = [r for r in train if "loss_g" in r]
    axes[1].plot([r["step"] for r in g], [r["loss_g"] for r in g], label="L_g (generator)")
    axes[1].set_title("losses", fontsize=10)
    axes[1].legend(fontsize=8)
    axes[2].semilogy([r["step"] for r in g], [max(r["grad_norm_g"], 1e-12) for r in g])
    axes[2].set_title("‖∂L_g/∂θ_G‖ (vanishing gradient)", fontsize=10)
    if evaluator.data.mixture is not None:
        axes[3].plot([r["step"] for r in evals], [r["modes_captured"] for r in evals], "o-", label="modes captured")
        ax2 = axes[3].twinx()
        ax2.plot(
            [r["step"] for r in evals],
            [100 * r["high_quality"] for r in evals],
            "s--",
            color="C1",
            label="high quality (%)",
        )
        ax2.set_ylim(0, 100)
        axes[3].set_ylim(0, len(evaluator.data.mixture.centers) + 0.5)
        axes[3].set_title("mode collapse: modes (o), high-quality % (s)", fontsize=10)
    else:
        axes[3].plot([r["step"] for r in evals], [r["diversity"] for r in evals], "o-")
        axes[3].axhline(0.5, color="C3", lw=0.8, ls=":")
        axes[3].set_title("mode collapse: sample diversity / real", fontsize=10)
    for ax in axes:
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    figs["diagnostics"] = fig
    return figs
