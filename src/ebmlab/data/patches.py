"""Random patches of natural photographs bundled with scikit-image.

Photographs used by default (all load offline; colour ones converted to grey
with skimage.color.rgb2gray, pixel values in [0, 1]):

    camera, astronaut, coffee, chelsea, coins, brick, grass, gravel

Left out: text and page (scanned documents), horse (a binary silhouette),
immunohistochemistry (microscopy), hubble_deep_field (mostly black sky), and
moon, clock and rocket (most of their 8×8 patches are nearly flat).

Sampling: for each patch an image is drawn uniformly, then a top-left corner
uniformly among the positions where the size×size patch fits; the patch is
flattened row-major. Then, in order, for each patch p ∈ R^(size²):

    mean removal            p ← p − mean(p)
    contrast normalisation  p ← p / max(‖p‖₂, size · floor)

so patches have unit L2 norm unless their RMS contrast ‖p‖₂ / size is below
``contrast_floor`` (default 0.01 of the intensity range), where they are scaled
as if at the floor instead of amplifying noise. Unit-norm patches are the
convention under which λ = 0.15 is used for 8×8 patches and 256 atoms.
Finally, optionally, ZCA whitening fitted on this sample (:mod:`ebmlab.data.whiten`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from ebmlab.data.whiten import zca_fit
from ebmlab.errors import DataError

PHOTOGRAPHS = ("camera", "astronaut", "coffee", "chelsea", "coins", "brick", "grass", "gravel")
BUNDLED = PHOTOGRAPHS + (
    "moon",
    "clock",
    "rocket",
    "text",
    "page",
    "horse",
    "immunohistochemistry",
    "hubble_deep_field",
)


@lru_cache(maxsize=None)
def photograph(name: str) -> np.ndarray:
    """A scikit-image bundled image as a read-only float32 grey array in [0, 1]."""
    import skimage.color
    import skimage.data

    if name not in BUNDLED:
        raise DataError(f"unknown photograph {name!r}; choose from {', '.join(BUNDLED)}")
    image = getattr(skimage.data, name)()
    if image.ndim == 3:
        grey = skimage.color.rgb2gray(image[..., :3])
    else:
        grey = image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)
    grey = np.ascontiguousarray(grey, dtype=np.float32)
    grey.flags.writeable = False
    return grey


def _as_images(images: Sequence | None) -> list[np.ndarray]:
    if images is None:
        images = PHOTOGRAPHS
    arrays = [photograph(im) if isinstance(im, str) else np.asarray(im, dtype=np.float32) for im in images]
    if not arrays or any(a.ndim != 2 for a in arrays):
        raise DataError("images must be a non-empty list of photograph names or 2-D grey arrays")
    return arrays


def sample_patches(n: int, size: int, seed: int, images: Sequence | None = None) -> np.ndarray:
    """n raw size×size patches as rows (n×size², float32), deterministic for a seed."""
    if n <= 0 or size <= 0:
        raise DataError(f"need n > 0 and size > 0, got n={n}, size={size}")
    arrays = _as_images(images)
    if any(min(a.shape) < size for a in arrays):
        raise DataError(f"patch size {size} is larger than an image ({min(min(a.shape) for a in arrays)} px)")
    rng = np.random.default_rng(seed)
    which = rng.integers(len(arrays), size=n)
    rows, cols = rng.random(n), rng.random(n)  # uniform in [0, 1), scaled per image below
    out = np.empty((n, size, size), dtype=np.float32)
    for k, image in enumerate(arrays):
        sel = np.flatnonzero(which == k)
        if sel.size == 0:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(image, (size, size))
        r = (rows[sel] * windows.shape[0]).astype(np.int64)
        c = (cols[sel] * windows.shape[1]).astype(np.int64)
        out[sel] = windows[r, c]
    return out.reshape(n, size * size)


def load_patches(
    n: int = 10000,
    size: int = 8,
    seed: int = 0,
    remove_mean: bool = True,
    contrast: bool = True,
    whiten: str = "none",
    images: Sequence | None = None,
    contrast_floor: float = 0.01,
    zca_eps: float = 1e-2,
) -> torch.Tensor:
    """Random photograph patches, float32 n×size², preprocessed as in the module doc.

    whiten: "none" or "zca" (fitted on these n patches with relative ε = zca_eps;
    call :func:`ebmlab.data.zca_fit` on un-whitened patches to get the transform).
    """
    if whiten not in ("none", "zca"):
        raise DataError(f"whiten must be 'none' or 'zca', got {whiten!r}")
    if contrast_floor <= 0:
        raise DataError(f"contrast_floor must be > 0, got {contrast_floor}")
    x = torch.from_numpy(sample_patches(n, size, seed, images))
    if remove_mean:
        x -= x.mean(dim=1, keepdim=True)
    if contrast:
        norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
        x /= norms.clamp_min(size * contrast_floor)
    if whiten == "zca":
        x = zca_fit(x, eps=zca_eps).apply(x)
    return x
