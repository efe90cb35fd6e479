"""The evaluation classifier whose feature space the image metrics are measured in.

Inception weights cannot be downloaded here and are a poor fit for 28×28
images, so ebmlab trains its own classifier on each labelled set, once, and
caches it (``$XDG_CACHE_HOME/ebmlab/features/<set>-<size>px-v2.pt``). Recipe
(:data:`RECIPE`): two blocks of two 3×3 convolutions (16 then 32 channels, BatchNorm,
ReLU) each followed by 2×2 max pooling, average pooling to a 4×4 map, a 128-unit
ReLU layer — the features — and a linear layer to the classes; Adam (lr 1e-3),
batch 128, 3 epochs over the training split, seed 0, inputs in [−1, 1] at the
size the generative model works at. Its test accuracy is recorded beside it.
Training does not touch the global random generators.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ebmlab.data.images import load_images
from ebmlab.data.locate import cache_root
from ebmlab.runtime.atomic import atomic_torch_save

__all__ = ["RECIPE", "FeatureNet", "FeatureExtractor", "feature_extractor", "train_feature_net"]

RECIPE = {
    "version": 2,
    "widths": (16, 32),
    "pool": 4,
    "features": 128,
    "epochs": 3,
    "batch_size": 128,
    "lr": 1e-3,
    "seed": 0,
}


class FeatureNet(nn.Module):
    """A small CNN classifier; ``features(x)`` is its 128-d penultimate layer (see the module doc)."""

    def __init__(self, channels: int, n_classes: int, widths=(16, 32), features: int = 128, pool: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = channels
        for w in widths:
            layers += [
                nn.Conv2d(c, w, 3, padding=1),
                nn.BatchNorm2d(w),
                nn.ReLU(True),
                nn.Conv2d(w, w, 3, padding=1),
                nn.BatchNorm2d(w),
                nn.ReLU(True),
                nn.MaxPool2d(2),
            ]
            c = w
        self.body = nn.Sequential(
            *layers, nn.AdaptiveAvgPool2d(pool), nn.Flatten(), nn.Linear(c * pool * pool, features), nn.ReLU(True)
        )
        self.head = nn.Linear(features, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@dataclass
class FeatureExtractor:
    """A trained :class:`FeatureNet` (eval mode) with the test accuracy of its recipe."""

    net: FeatureNet
    accuracy: float
    dataset: str
    image_size: int

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
        device = next(self.net.parameters()).device
        return torch.cat([self.net.features(x[i : i + batch].to(device)).cpu() for i in range(0, len(x), batch)])


def train_feature_net(
    dataset: str,
    image_size: int,
    data_dir: str | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> FeatureExtractor:
    """Train the evaluation classifier on ``dataset`` at ``image_size`` by :data:`RECIPE`."""
    from tqdm.auto import tqdm

    train, test = (load_images(dataset, s, image_size, data_dir) for s in ("train", "test"))
    n_classes = int(train.labels.max()) + 1
    device = torch.device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RECIPE["seed"])
        net = FeatureNet(train.images.shape[1], n_classes, RECIPE["widths"], RECIPE["features"], RECIPE["pool"]).to(
            device
        )
        g = torch.Generator().manual_seed(RECIPE["seed"])
        opt = torch.optim.Adam(net.parameters(), lr=RECIPE["lr"])
        bs = RECIPE["batch_size"]
        steps = RECIPE["epochs"] * (len(train.images) // bs)
        bar = tqdm(
            total=steps,
            desc=f"evaluation classifier ({dataset}, {image_size}px)",
            file=sys.stderr,
            disable=not progress or None,
        )
        net.train()
        for _ in range(RECIPE["epochs"]):
            order = torch.randperm(len(train.images), generator=g)
            for i in range(0, len(order) - bs + 1, bs):
                idx = order[i : i + bs]
                loss = F.cross_entropy(net(train.images[idx].to(device)), train.labels[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                bar.update(1)
        bar.close()
    net.eval()
    with torch.no_grad():
        hits = sum(
            int((net(test.images[i : i + 1000].to(device)).argmax(1).cpu() == test.labels[i : i + 1000]).sum())
            for i in range(0, len(test.images), 1000)
        )
    return FeatureExtractor(net, hits / len(test.images), dataset, image_size)


def feature_extractor(
    dataset: str, image_size: int, data_dir: str | None = None, device: torch.device | str = "cpu"
) -> FeatureExtractor:
    """The cached evaluation classifier of ``dataset`` at ``image_size``; trained and cached on first use."""
    path = cache_root() / "features" / f"{dataset}-{image_size}px-v{RECIPE['version']}.pt"
    if path.exists():
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            net = FeatureNet(
                state["channels"], state["n_classes"], RECIPE["widths"], RECIPE["features"], RECIPE["pool"]
            )
            net.load_state_dict(state["weights"])
            return FeatureExtractor(net.to(device).eval(), state["accuracy"], dataset, image_size)
        except Exception:  # a damaged cache entry is rebuilt
            path.unlink(missing_ok=True)
    extractor = train_feature_net(dataset, image_size, data_dir, device)
    net = extractor.net
    atomic_torch_save(
        path,
        {
            "weights": {k: v.cpu() for k, v in net.state_dict().items()},
            "channels": net.body[0].in_channels,
            "n_classes": net.head.out_features,
            "accuracy": extractor.accuracy,
            "recipe": RECIPE,
        },
    )
    return extractor
