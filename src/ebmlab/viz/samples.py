"""Pictures of generated samples: a scatter over a 2-D mixture's modes, a grid of images."""

from __future__ import annotations

from ebmlab.viz.backend import file_backend  # noqa: E402

file_backend()
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ebmlab.viz.grid import image_grid  # noqa: E402

__all__ = ["scatter_figure", "images_figure", "samples_figure"]


def scatter_figure(points: torch.Tensor, mix, title: str):
    """Points over the mixture's modes, each mode circled at 3σ (the high-quality zone)."""
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    points = points.detach().cpu()
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, color="C0")
    for c in mix.centers:
        ax.add_patch(plt.Circle((float(c[0]), float(c[1])), 3 * mix.sigma, fill=False, color="C3", lw=0.8))
    reach = float(mix.centers.abs().max()) * 1.5
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    return fig


def images_figure(images: torch.Tensor, title: str, nrow: int = 8, size: float = 6.0):
    """Images N×C×H×W in [−1, 1] tiled ``nrow`` to a row."""
    grid = image_grid((images.detach().cpu() + 1) / 2, nrow=nrow)
    fig, ax = plt.subplots(figsize=(size, size * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid[:, :, 0] if grid.shape[2] == 1 else grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    return fig


def samples_figure(samples: torch.Tensor, mix, title: str):
    """A scatter when ``mix`` (the 2-D mixture) is given, else an image grid."""
    return scatter_figure(samples, mix, title) if mix is not None else images_figure(samples, title)
