"""Tiling a batch of images (samples, filters, dictionary atoms) into one picture."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ebmlab.errors import DataError


def image_grid(
    images: torch.Tensor | np.ndarray,
    nrow: int = 8,
    padding: int = 2,
    normalize: bool = False,
    scale_each: bool = False,
    pad_value: float = 1.0,
) -> np.ndarray:
    """Tile N×C×H×W images into one H'×W'×C float array in [0, 1].

    nrow images per row, ``padding`` pixels of ``pad_value`` between and
    around them. With ``normalize``, values are mapped as x ↦ (x − min) / (max − min)
    over the whole batch, or over each image when ``scale_each`` (useful for
    filters of either sign); without it they are clipped to [0, 1].
    """
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.ndim != 4:
        raise DataError(f"image_grid expects N×C×H×W images, got shape {x.shape}")
    if x.shape[0] == 0:
        raise DataError("image_grid got no images")
    if nrow <= 0 or padding < 0:
        raise DataError(f"need nrow > 0 and padding >= 0, got nrow={nrow}, padding={padding}")
    x = x.astype(np.float32)
    if normalize:
        axes = (1, 2, 3) if scale_each else None
        lo = x.min(axis=axes, keepdims=True)
        hi = x.max(axis=axes, keepdims=True)
        x = (x - lo) / np.maximum(hi - lo, 1e-12)
    x = np.clip(x, 0.0, 1.0)
    n, c, h, w = x.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), pad_value, np.float32)
    for i in range(n):
        r, q = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + q * (w + padding)
        grid[top : top + h, left : left + w] = x[i].transpose(1, 2, 0)
    return grid


def save_image_grid(path: str | Path, images: torch.Tensor | np.ndarray, **kwargs) -> Path:
    """Write :func:`image_grid` of ``images`` as a PNG (grey images with a grey colour map)."""
    from matplotlib.image import imsave  # no figure, no GUI backend needed

    grid = image_grid(images, **kwargs)
    if grid.shape[2] not in (1, 3, 4):
        raise DataError(f"cannot save images with {grid.shape[2]} channels; use 1, 3 or 4")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if grid.shape[2] == 1:
        imsave(path, grid[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0, format="png")
    else:
        imsave(path, grid, format="png")
    return path


def tiles_figure(images: torch.Tensor | np.ndarray, nrow: int, title: str, width: float = 8.0):
    """A matplotlib figure of image tiles (K×1×h×w), each scaled to its own range."""
    from ebmlab.viz.backend import file_backend

    file_backend()
    import matplotlib.pyplot as plt

    grid = image_grid(images, nrow=nrow, padding=1, normalize=True, scale_each=True)
    fig, ax = plt.subplots(figsize=(width, width * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid[:, :, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    return fig
