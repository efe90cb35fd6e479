"""Training loop of the discriminative recurrent sparse auto-encoder (DrSAE).

Rolfe & LeCun, "Discriminative Recurrent Sparse Auto-Encoders", ICLR 2013
(arXiv:1301.3775). Learning has two phases over the same model:

1. unsupervised: minimise ½‖x − D z(T)‖² + λ‖z(T)‖₁ (the Lasso energy at the
   encoder's output) over E, S, b, D for ``unsup_epochs`` epochs;
2. discriminative: add w · logloss(C z(T)/‖z(T)‖, y) for ``sup_epochs``
   epochs.

After every step the decoder columns are projected back to unit norm. The
loop is written out step by step; it uses the runtime's run folder,
checkpoints (bit-exact resume on CPU), metrics log and DDP helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ebmlab.data import dataset_names, epoch_batches, load_dataset
from ebmlab.runtime import Run, RunningMean, TrainConfig, check
from ebmlab.runtime.distributed import wrap_model
from ebmlab.sparse.drsae import DrSAE, UnitAnalysis, analyse_units
from ebmlab.sparse.optim import OPTIMIZERS, lr_factor, make_optimizer

__all__ = ["DrsaeConfig", "train_drsae", "accuracy", "drsae_figures"]


@dataclass(frozen=True)
class DrsaeConfig(TrainConfig):
    """DrSAE hyper-parameters (paper: 400 units, T = 11 iterations)."""

    data: str = field(
        default="mnist5k",
        metadata={"help": "Labelled image set to train and test on.", "choices": tuple(dataset_names())},
    )
    data_dir: str = field(
        default="",
        metadata={
            "help": "Folder with the IDX files of mnist/fashion-mnist (empty: $EBMLAB_DATA, /usr/share/datasets, the cache)."
        },
    )
    units: int = field(default=400, metadata={"help": "Hidden units m of the recurrent encoder (the code size)."})
    steps: int = field(
        default=11, metadata={"help": "Encoder iterations T, the steps unrolled for back-propagation through time."}
    )
    lam: float = field(default=0.3, metadata={"help": "λ, the weight of the L1 penalty λ‖z(T)‖₁ on the code."})
    cls_weight: float = field(
        default=5.0, metadata={"help": "w, the weight of the logistic loss in the supervised phase."}
    )
    unsup_epochs: int = field(
        default=10,
        metadata={"help": "Epochs of unsupervised learning (reconstruction + L1) before the labels are used."},
    )
    sup_epochs: int = field(default=12, metadata={"help": "Epochs with the classification term added."})
    lr: float = field(
        default=1e-3, metadata={"help": "Learning rate of E, S, b, D and C (C's times --classifier-lr-scale)."}
    )
    classifier_lr_scale: float = field(
        default=1.0,
        metadata={
            "help": "Learning-rate multiplier for the classifier C (it reads unit-norm codes, so its weights grow large)."
        },
    )
    lr_decay: str = field(
        default="cosine",
        metadata={"help": "Learning-rate schedule over the supervised phase.", "choices": ("cosine", "none")},
    )
    batch_size: int = field(
        default=100, metadata={"help": "Global mini-batch size (split evenly over torchrun processes)."}
    )
    optimizer: str = field(
        default="adam", metadata={"help": "Optimiser: adam, or sgd with momentum 0.9.", "choices": OPTIMIZERS}
    )
    center: bool = field(
        default=True, metadata={"help": "Subtract the mean training image from every input (kept in the model)."}
    )
    weight_decay: float = field(
        default=0.0, metadata={"help": "Decoupled weight decay of every weight (AdamW; L2 for sgd); 0 turns it off."}
    )
    input_dropout: float = field(
        default=0.0,
        metadata={
            "help": "Fraction of input pixels dropped when encoding during training (the clean image is reconstructed)."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.units >= 1, f"--units must be >= 1, got {self.units}")
        check(self.steps >= 1, f"--steps must be >= 1 (the encoder needs at least one iteration), got {self.steps}")
        check(self.lam >= 0, f"--lam must be >= 0, got {self.lam}")
        check(self.cls_weight >= 0, f"--cls-weight must be >= 0, got {self.cls_weight}")
        check(self.unsup_epochs >= 0, f"--unsup-epochs must be >= 0, got {self.unsup_epochs}")
        check(self.sup_epochs >= 1, f"--sup-epochs must be >= 1 (the classifier needs training), got {self.sup_epochs}")
        check(self.lr > 0, f"--lr must be > 0, got {self.lr}")
        check(self.classifier_lr_scale > 0, f"--classifier-lr-scale must be > 0, got {self.classifier_lr_scale}")
        check(self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}")
        check(0 <= self.input_dropout < 1, f"--input-dropout must be in [0, 1), got {self.input_dropout}")
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(
            self.optimizer in OPTIMIZERS, f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
        )
        check(self.lr_decay in ("cosine", "none"), f"--lr-decay must be cosine or none, got {self.lr_decay!r}")
        check(self.data in dataset_names(), f"--data must be one of {', '.join(dataset_names())}, got {self.data!r}")


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> float:
    """Fraction of samples whose arg-max logit is the label."""
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        logits = model(x[i : i + batch_size].to(device))
        correct += int((logits.argmax(1).cpu() == y[i : i + batch_size]).sum())
    return correct / max(1, x.shape[0])


class _LossOf(torch.nn.Module):
    """forward(x, y, w) -> the DrSAE loss terms, so DDP sees the whole step."""

    def __init__(self, model: DrSAE, input_dropout: float = 0.0) -> None:
        super().__init__()
        self.model = model
        self.input_dropout = input_dropout

    def forward(self, x, y, cls_weight: float):
        terms = self.model.loss(x, y, cls_weight=cls_weight, input_dropout=self.input_dropout)
        return terms.total, torch.stack(
            [terms.reconstruction.detach(), terms.sparsity.detach(), terms.classification.detach()]
        )


def train_drsae(cfg: DrsaeConfig, run: Run) -> dict:
    """Train a DrSAE (unsupervised, then discriminative) and report its accuracy.

    Returns flat metrics: ``test_accuracy``, ``train_accuracy``, the final
    loss terms on the test set, sparsity, and the numbers of part- and
    categorical-units found by :func:`ebmlab.sparse.drsae.analyse_units`.
    """
    device = run.device
    rank, world = run.dist.rank, run.dist.world_size
    data_dir = cfg.data_dir or None
    train = load_dataset(cfg.data, split="train", data_dir=data_dir)
    test = load_dataset(cfg.data, split="test", data_dir=data_dir)
    x_train = train.images.reshape(train.images.shape[0], -1)
    x_test = test.images.reshape(test.images.shape[0], -1)
    y_train, y_test = train.labels, test.labels
    n, n_input = x_train.shape

    model = DrSAE(n_input, cfg.units, len(train.classes), cfg.steps, cfg.lam)
    if cfg.center:
        model.set_input_mean(x_train.mean(0))
    model.to(device)
    others = [p for name, p in model.named_parameters() if name != "C"]
    opt = make_optimizer(
        [{"params": others}, {"params": [model.C], "lr": cfg.lr * cfg.classifier_lr_scale}],
        cfg.optimizer,
        cfg.lr,
        weight_decay=cfg.weight_decay,
    )
    base_lrs = [g["lr"] for g in opt.param_groups]
    step_fn = wrap_model(_LossOf(model, cfg.input_dropout), run.dist)  # DDP averages gradients over ranks

    per_epoch = n // cfg.batch_size
    unsup_steps = cfg.unsup_epochs * per_epoch
    total = (cfg.unsup_epochs + cfg.sup_epochs) * per_epoch
    start = run.restore(model=model, optimizer=opt)
    x_dev, y_dev = x_train.to(device), y_train.to(device)
    batches: list[torch.Tensor] = []
    running = RunningMean()
    for step in run.progress(range(start, total), total=total, initial=start, desc="drsae"):
        epoch, k = divmod(step, per_epoch)
        if k == 0 or not batches:
            batches = list(epoch_batches(n, cfg.batch_size, cfg.seed, epoch, rank=rank, world_size=world))
        idx = batches[k].to(device)
        supervised = step >= unsup_steps
        factor = lr_factor(step, unsup_steps, total, cfg.lr_decay)
        for g, lr0 in zip(opt.param_groups, base_lrs):
            g["lr"] = lr0 * factor
        loss, terms = step_fn(x_dev[idx], y_dev[idx], cfg.cls_weight if supervised else 0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.normalise_decoder_()
        # each rank averages over its slice; the mean over ranks (at pop) is the global batch mean
        running.add(reconstruction=terms[0], sparsity=terms[1], classification=terms[2])
        if run.should_log(step + 1, total):
            means = running.pop(run.dist)
            rec, spars, cls = means["reconstruction"], means["sparsity"], means["classification"]
            metrics = {"reconstruction": rec, "sparsity": spars, "loss": rec + spars}
            if supervised:
                metrics.update(classification=cls, loss=rec + spars + cfg.cls_weight * cls)
            metrics["lr"] = opt.param_groups[0]["lr"]
            run.log(step + 1, **metrics)
        if (step + 1) % per_epoch == 0 and (step + 1) > unsup_steps and run.is_main:
            run.log(step + 1, test_accuracy_epoch=accuracy(model, x_test, y_test))
        if run.should_checkpoint(step + 1, total):
            run.save_checkpoint(step + 1, model=model, optimizer=opt)

    # -------------------------------------------------------------- evaluation
    model.eval()
    result: dict[str, float] = {
        "test_accuracy": accuracy(model, x_test, y_test),
        "train_accuracy": accuracy(model, x_train, y_train),
    }
    result["test_error"] = 1.0 - result["test_accuracy"]
    with torch.no_grad():
        sums = torch.zeros(4, dtype=torch.float64)
        for i in range(0, x_test.shape[0], 2000):
            xb, yb = x_test[i : i + 2000].to(device), y_test[i : i + 2000].to(device)
            t = model.loss(xb, yb, cls_weight=cfg.cls_weight)
            z = model.encode(xb)
            nb = xb.shape[0]
            sums += torch.tensor(
                [
                    t.reconstruction.item() * nb,
                    t.sparsity.item() * nb,
                    t.classification.item() * nb,
                    float((z > 0).sum()),
                ],
                dtype=torch.float64,
            )
    m_test = x_test.shape[0]
    result["test_reconstruction"] = float(sums[0] / m_test)
    result["test_sparsity"] = float(sums[1] / m_test)
    result["test_classification"] = float(sums[2] / m_test)
    result["test_active_fraction"] = float(sums[3] / (m_test * cfg.units))
    analysis = analyse_units(model, x_test, y_test)
    result.update(analysis.summary())
    if run.is_main:
        for name, fig in drsae_figures(model, analysis, image_shape=tuple(train.images.shape[1:])).items():
            run.save_figure(name, fig)
        run.export_weights("drsae", {k: v.detach().cpu() for k, v in model.state_dict().items()})
    return result


def drsae_figures(model: DrSAE, analysis: UnitAnalysis, image_shape: tuple[int, ...], count: int = 32) -> dict:
    """Figures of the paper's unit analysis (matplotlib figures by name).

    * ``units_decoder``: decoder columns D_i (and encoder rows E_i) of the
      most categorical units (largest S_ii) and of the most part-like ones;
    * ``units_measure``: histogram of S_ii with the split, and S_ii against
      cos(E_i, D_i) coloured by kind;
    * ``units_activity``: mean activity of both kinds over the iterations t.
    """
    from ebmlab.viz.backend import file_backend

    file_backend()
    import matplotlib.pyplot as plt

    from ebmlab.viz.grid import image_grid

    C, H, W = (1, *image_shape) if len(image_shape) == 2 else image_shape[-3:]
    order = torch.argsort(analysis.measure, descending=True)
    cat = [int(i) for i in order if analysis.categorical[i]][:count]
    part = [int(i) for i in reversed(order.tolist()) if analysis.part[i]][:count]
    D, E = model.D.detach().cpu(), model.E.detach().cpu()

    def tiles(ax, vectors, title):
        ax.set_title(title, fontsize=9)
        ax.axis("off")
        if vectors:
            images = torch.stack(vectors).reshape(len(vectors), C, H, W)
            grid = image_grid(images, nrow=8, padding=1, normalize=True, scale_each=True)
            ax.imshow(grid[:, :, 0] if grid.shape[2] == 1 else grid, cmap="gray", vmin=0, vmax=1)

    figs = {}
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    tiles(
        axes[0, 0],
        [D[:, i] for i in cat],
        f"categorical units: decoder columns D_i ({len(cat)} of {int(analysis.categorical.sum())})",
    )
    tiles(axes[0, 1], [E[i] for i in cat], "categorical units: encoder rows E_i")
    tiles(
        axes[1, 0],
        [D[:, i] for i in part],
        f"part units: decoder columns D_i ({len(part)} of {int(analysis.part.sum())})",
    )
    tiles(axes[1, 1], [E[i] for i in part], "part units: encoder rows E_i")
    fig.tight_layout()
    figs["units_decoder"] = fig

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    s = analysis.self_connection.numpy()
    a1.hist(
        [s[analysis.part.numpy()], s[analysis.categorical.numpy()]],
        bins=40,
        stacked=True,
        color=["C0", "C3"],
        label=["part", "categorical"],
    )
    a1.axvline(analysis.threshold, color="C3", ls="--", label=f"split {analysis.threshold:.2f}")
    a1.set_xlabel("self-connection S_ii")
    a1.set_ylabel("units")
    a1.legend()
    cosv = analysis.enc_dec_cosine.numpy()
    for mask, name, colour in (
        (~analysis.active, "inactive", "0.7"),
        (analysis.part, "part", "C0"),
        (analysis.categorical, "categorical", "C3"),
    ):
        mask = mask.numpy()
        if mask.any():
            a2.scatter(s[mask], cosv[mask], s=8, label=name, color=colour)
    a2.set_xlabel("self-connection S_ii")
    a2.set_ylabel("cos(encoder row E_i, decoder column D_i)")
    a2.legend()
    fig.tight_layout()
    figs["units_measure"] = fig

    if analysis.mean_activation is not None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
        act = analysis.mean_activation
        t = torch.arange(act.shape[0]).numpy()
        kinds = ((analysis.categorical, "categorical", "C3"), (analysis.part, "part", "C0"))
        for mask, name, colour in kinds:
            if mask.any():
                a1.plot(t, act[:, mask].mean(1).numpy(), marker="o", color=colour, label=f"{name} units")
                live = [int(i) for i in torch.nonzero(mask & analysis.active).flatten()][:20]
                for j, i in enumerate(live):
                    curve = act[:, i] / act[:, i].max().clamp_min(1e-12)
                    a2.plot(t, curve.numpy(), color=colour, alpha=0.5, lw=1, label=name if j == 0 else None)
        a1.set_xlabel("iteration t")
        a1.set_ylabel("mean activity z̄(t) over units of a kind")
        a1.legend()
        a2.set_xlabel("iteration t")
        a2.set_ylabel("z̄_i(t) / max_t z̄_i(t)")
        a2.set_title("single units (up to 20 of each kind)", fontsize=9)
        a2.legend()
        fig.tight_layout()
        figs["units_activity"] = fig
    return figs
