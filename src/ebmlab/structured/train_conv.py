"""Training loop of convolutional group-sparse features (``ebmlab sparse conv``).

Stacked pre-training (Jarrett, Kavukcuoglu, Ranzato & LeCun, ICCV 2009) of
:class:`~ebmlab.structured.conv_ae.ConvGroupSparseAE` layers: layer 1 learns to
reconstruct the images (mean image removed) under the L2-pooled group norm;
layer 2 then learns the same energy on layer 1's pooled maps, and so on. Each
layer is trained by Adam for ``epochs`` epochs (cosine decay of the learning
rate over its own epochs), its decoder filters kept at unit norm, and its input
maps standardised with statistics of the training set.

At the end the decoders are discarded and a linear probe
(:func:`ebmlab.metrics.probe.linear_probe`) is trained on the pooled maps of the
top layer (``probe_accuracy``), beside the same probe on one trained layer
only, on the raw pixels, and on a stack of the same shape with random encoder
filters (features of the same size). Invariance of pooled outputs against
single units is measured on test images shifted by 1–2 pixels and rotated by
5–15°.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ebmlab.data import dataset_names, epoch_batches, load_dataset
from ebmlab.metrics.probe import linear_probe
from ebmlab.runtime import Run, RunningMean, TrainConfig, check
from ebmlab.runtime.distributed import wrap_model
from ebmlab.sparse.optim import lr_factor
from ebmlab.structured.conv_ae import ConvStack, l2_pool
from ebmlab.structured.invariance import image_pairs, invariance

__all__ = ["ConvConfig", "train_conv", "stack_features"]


@dataclass(frozen=True)
class ConvConfig(TrainConfig):
    """Two convolutional layers (32 7×7 filters, then 64 5×5), 2×2 L2 pools, on Fashion-MNIST."""

    data: str = field(
        default="fashion-mnist",
        metadata={
            "help": "Labelled image set to learn features on (and probe them).",
            "choices": tuple(dataset_names()),
        },
    )
    data_dir: str = field(
        default="",
        metadata={
            "help": "Folder with the IDX files of mnist/fashion-mnist (empty: $EBMLAB_DATA, /usr/share/datasets, the cache)."
        },
    )
    channels: tuple[int, ...] = field(
        default=(32, 64), metadata={"help": "Code maps per layer, e.g. 32,64 (one number per layer)."}
    )
    kernels: tuple[int, ...] = field(default=(7, 5), metadata={"help": "Odd filter side per layer, e.g. 7,5."})
    pool: int = field(
        default=2, metadata={"help": "Pools are pool × pool windows of the code maps (L2 pooling, stride pool)."}
    )
    map_pool: int = field(
        default=1,
        metadata={"help": "Code maps per pool: pools span this many consecutive maps (must divide every --channels)."},
    )
    lam: float = field(default=0.03, metadata={"help": "λ, the weight of the group norm in every layer's energy."})
    eps: float = field(default=1e-4, metadata={"help": "ε in √(ε + ‖z_P‖²), the smoothing of the group norm at 0."})
    epochs: int = field(default=3, metadata={"help": "Epochs of training per layer."})
    batch_size: int = field(
        default=128, metadata={"help": "Global mini-batch size (split evenly over torchrun processes)."}
    )
    lr: float = field(default=2e-3, metadata={"help": "Adam learning rate (cosine decay over each layer's epochs)."})
    probe_epochs: int = field(default=15, metadata={"help": "Epochs of the linear probes on the frozen features."})
    compare: bool = field(
        default=True, metadata={"help": "Also probe raw pixels, one layer, and random filters of the same shape."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.data in dataset_names(), f"--data must be one of {', '.join(dataset_names())}, got {self.data!r}")
        check(
            len(self.channels) >= 1 and all(c >= 1 for c in self.channels),
            f"--channels needs one positive count per layer, got {self.channels}",
        )
        check(
            len(self.kernels) == len(self.channels),
            f"--kernels needs one size per layer: {len(self.channels)} layers in --channels, {len(self.kernels)} kernels",
        )
        check(
            all(k >= 1 and k % 2 == 1 for k in self.kernels),
            f"--kernels must be odd (maps keep their size), got {self.kernels}",
        )
        check(self.pool >= 1, f"--pool must be >= 1, got {self.pool}")
        check(
            self.map_pool >= 1 and all(c % self.map_pool == 0 for c in self.channels),
            f"pools of --map-pool {self.map_pool} maps do not tile --channels {self.channels}; choose a common divisor",
        )
        check(self.lam >= 0, f"--lam must be >= 0, got {self.lam}")
        check(self.eps > 0, f"--eps must be > 0, got {self.eps}")
        check(self.epochs >= 0, f"--epochs must be >= 0, got {self.epochs}")
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(self.lr > 0, f"--lr must be > 0, got {self.lr}")
        check(self.probe_epochs >= 1, f"--probe-epochs must be >= 1, got {self.probe_epochs}")


@torch.no_grad()
def stack_features(
    stack: ConvStack, x: torch.Tensor, depth: int | None = None, batch: int = 1000
) -> list[torch.Tensor]:
    """Pooled maps of layers 1..depth for all of x, computed in batches on the stack's device; kept there."""
    device = next(stack.parameters()).device
    parts = [stack.features(x[i : i + batch].to(device), depth) for i in range(0, len(x), batch)]
    return [torch.cat(p) for p in zip(*parts)]


class _EnergyOf(torch.nn.Module):
    """forward(x) -> (total energy, detached terms) of one layer, so DDP sees the whole step."""

    def __init__(self, layer, lam: float) -> None:
        super().__init__()
        self.layer, self.lam = layer, lam

    def forward(self, x):
        t = self.layer.energy(x, self.lam)
        return t["total"], torch.stack([t["reconstruction"].detach(), t["group"].detach(), t["active"].detach()])


def train_conv(cfg: ConvConfig, run: Run) -> dict:
    """Pre-train the layers one by one, then probe the features (see the module doc)."""
    device = run.device
    rank, world = run.dist.rank, run.dist.world_size
    data_dir = cfg.data_dir or None
    train, test = load_dataset(cfg.data, "train", data_dir=data_dir), load_dataset(cfg.data, "test", data_dir=data_dir)
    x_train, x_test = train.images.float(), test.images.float()
    if x_train.ndim == 3:
        x_train, x_test = x_train[:, None], x_test[:, None]
    mean_image = x_train.mean(0, keepdim=True)
    x_train, x_test = x_train - mean_image, x_test - mean_image
    n = len(x_train)
    check(n >= cfg.batch_size, f"--batch-size ({cfg.batch_size}) is larger than the {n} training images")

    stack = ConvStack(
        x_train.shape[1],
        cfg.channels,
        cfg.kernels,
        cfg.pool,
        cfg.eps,
        generator=torch.Generator().manual_seed(cfg.seed),
        maps=cfg.map_pool,
    ).to(device)
    opt = torch.optim.Adam(stack.parameters(), lr=cfg.lr)  # only the layer in training has gradients
    per_epoch = n // cfg.batch_size
    per_layer = cfg.epochs * per_epoch
    total = per_layer * len(stack)
    start = run.restore(model=stack, optimizer=opt)

    running = RunningMean()
    inputs, step_fn, current = None, None, -1
    batches: list[torch.Tensor] = []
    for step in run.progress(range(start, total), total=total, initial=start, desc="conv"):
        index, local = divmod(step, per_layer)
        layer = stack.layers[index]
        if index != current:  # a new layer: its inputs are the pooled maps of the (frozen) layers below
            current = index
            inputs = x_train.to(device) if index == 0 else stack_features(stack, x_train, index)[-1]
            if local == 0:
                layer.fit_input_(inputs)
                layer.init_from_patches_(inputs, torch.Generator().manual_seed(cfg.seed + index))
            step_fn = wrap_model(_EnergyOf(layer, cfg.lam), run.dist)
        epoch, i = divmod(local, per_epoch)
        if i == 0 or not batches:
            batches = list(epoch_batches(n, cfg.batch_size, cfg.seed + index, epoch, rank=rank, world_size=world))
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(local, 0, per_layer, "cosine")
        loss, terms = step_fn(inputs[batches[i].to(device)])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        layer.normalise_decoder_()
        running.add(
            **{
                f"reconstruction_layer{index + 1}": terms[0],
                f"group_norm_layer{index + 1}": terms[1],
                f"active_layer{index + 1}": terms[2],
            }
        )
        if run.should_log(step + 1, total) or (step + 1) % per_layer == 0:
            run.log(step + 1, **running.pop(run.dist), lr=opt.param_groups[0]["lr"])
        if run.should_checkpoint(step + 1, total) or (step + 1) % per_layer == 0:
            run.save_checkpoint(step + 1, model=stack, optimizer=opt)
    del inputs
    if cfg.epochs == 0:  # no training: still standardise every layer's inputs as training would have
        for index, layer in enumerate(stack.layers):
            layer.fit_input_(x_train.to(device) if index == 0 else stack_features(stack, x_train, index)[-1])
    if not run.is_main:
        return {}
    return evaluate(cfg, run, stack, (x_train, train.labels), (x_test, test.labels), mean_image)


def evaluate(cfg: ConvConfig, run: Run, stack: ConvStack, train, test, mean_image) -> dict:
    """Energies on the test set, invariance, linear probes and figures of a trained stack."""
    device = run.device
    (x_train, y_train), (x_test, y_test) = train, test
    result: dict[str, float] = {}
    stack.eval()
    with torch.no_grad():
        h = x_test[:2000].to(device)
        for index, layer in enumerate(stack.layers, start=1):
            t = layer.energy(h, cfg.lam)
            result[f"reconstruction_layer{index}"] = float(t["reconstruction"])
            result[f"relative_reconstruction_error_layer{index}"] = float(
                2 * t["reconstruction"] / layer.standardise(h).pow(2).flatten(1).sum(1).mean()
            )
            result[f"active_fraction_layer{index}"] = float(t["active"])
            h = layer.features(h)

    # invariance of each layer's pooled maps against its single units
    pairs = image_pairs(x_test[:2000] + mean_image, seed=cfg.seed + 7)
    for index, layer in enumerate(stack.layers, start=1):

        def encode(x, index=index, layer=layer):
            x = (x - mean_image).to(device)
            below = stack_features(stack, x, index - 1)[-1] if index > 1 else x
            return layer.encode(layer.standardise(below)).cpu()

        inv = {
            kind: invariance(encode, lambda z: l2_pool(z, cfg.pool, maps=cfg.map_pool), p) for kind, p in pairs.items()
        }
        result.update({f"invariance_ratio_layer{index}_{kind}": v.ratio for kind, v in inv.items()})
        result[f"invariance_ratio_layer{index}"] = float(
            np.mean([v.pooled for v in inv.values()]) / np.mean([v.single for v in inv.values()])
        )
    result["invariance_ratio"] = result["invariance_ratio_layer1"]

    def probe(f_train, f_test) -> float:
        return linear_probe(
            f_train, y_train, f_test, y_test, epochs=cfg.probe_epochs, seed=cfg.seed, device=device
        ).test_accuracy

    depth = len(stack)
    feats_train, feats_test = stack_features(stack, x_train), stack_features(stack, x_test)
    result["feature_dims"] = int(feats_train[-1][0].numel())
    result["probe_accuracy"] = probe(feats_train[-1], feats_test[-1])
    probes = {f"{depth} trained layers": result["probe_accuracy"]}
    if cfg.compare:
        if depth > 1:
            result["probe_accuracy_layer1"] = probe(feats_train[0], feats_test[0])
            probes["1 trained layer"] = result["probe_accuracy_layer1"]
        del feats_train, feats_test
        result["probe_accuracy_pixels"] = probe(x_train, x_test)
        probes["pixels"] = result["probe_accuracy_pixels"]
        random = ConvStack(
            x_train.shape[1],
            cfg.channels,
            cfg.kernels,
            cfg.pool,
            cfg.eps,
            generator=torch.Generator().manual_seed(cfg.seed + 1),
            maps=cfg.map_pool,
        ).to(device)
        for index, layer in enumerate(random.layers):  # random filters, inputs standardised like the trained stack's
            layer.fit_input_(x_train.to(device) if index == 0 else stack_features(random, x_train, index)[-1])
        r_train, r_test = stack_features(random, x_train), stack_features(random, x_test)
        result["probe_accuracy_random"] = probe(r_train[-1], r_test[-1])
        probes[f"{depth} random layers"] = result["probe_accuracy_random"]
        if depth > 1:
            result["probe_accuracy_random_layer1"] = probe(r_train[0], r_test[0])
            probes["1 random layer"] = result["probe_accuracy_random_layer1"]
    for name, fig in conv_figures(stack, probes, run.dir / "metrics.jsonl").items():
        run.save_figure(name, fig)
    run.export_weights(
        "conv", {k: v.detach().cpu() for k, v in stack.state_dict().items()} | {"mean_image": mean_image}
    )
    return result


def conv_figures(stack: ConvStack, probes: dict[str, float], metrics_log) -> dict:
    """``filters``: layer 1's encoder and decoder filters; ``probe``: test accuracy by feature set; ``energy``."""
    from ebmlab.viz.backend import file_backend

    file_backend()
    import matplotlib.pyplot as plt

    from ebmlab.viz.curves import metric_figure
    from ebmlab.viz.grid import image_grid

    first = stack.layers[0]
    W, D = first.W.detach().cpu(), first.D.detach().cpu()
    nrow = int(np.ceil(np.sqrt(W.shape[0])))
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.6))
    for ax, filt, title in ((axes[0], W, "layer 1 encoder filters W_k"), (axes[1], D, "layer 1 decoder filters D_k")):
        grid = image_grid(
            filt[:, :1] if filt.shape[1] != 3 else filt, nrow=nrow, padding=1, normalize=True, scale_each=True
        )
        ax.imshow(grid[:, :, 0] if grid.shape[2] == 1 else grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    figs = {"filters": fig}

    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(probes)))
    names = list(probes)
    values = [100 * probes[k] for k in names]
    bars = ax.barh(names, values, color=["C3" if "trained" in k else "0.6" for k in names])
    for bar, v in zip(bars, values):
        ax.text(v + 0.1, bar.get_y() + bar.get_height() / 2, f"{v:.2f} %", va="center", fontsize=9)
    lo = min(values) - 2
    ax.set_xlim(lo, max(values) + 1.5)
    ax.invert_yaxis()
    ax.set_xlabel("linear probe: test accuracy (%)")
    fig.tight_layout()
    figs["probe"] = fig
    for index in range(1, len(stack) + 1):
        curve = metric_figure(
            metrics_log,
            f"reconstruction_layer{index}",
            "½‖x − x̂‖²",
            f"layer {index}: reconstruction energy during its training",
        )
        if curve is not None:
            figs[f"energy_layer{index}"] = curve
    return figs
