"""Invariance of single units and of pooled outputs to small translations and rotations.

For patches x and transformed versions T(x) (shifted by 1–2 pixels, or rotated
by up to 15°, both cut from the same photograph around the same point), a
response r (one unit's output z_i, or one pool's √(Σ_{i∈P} z_i²)) is invariant
when r(x) and r(T(x)) stay correlated over the patches. A unit's response is
taken as it is: rectifying a linear unit's output (|z_i|) would already pool
its two signs. :func:`invariance` returns
the mean over units (pools) of that correlation for single units and for
pooled outputs, and their ratio. :func:`image_pairs` makes the same kinds of
pairs from whole images (for convolutional codes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ebmlab.errors import DataError

__all__ = ["transformed_pairs", "image_pairs", "invariance", "pooled_by_index", "response_correlation"]


def transformed_pairs(
    n: int,
    size: int,
    seed: int = 0,
    shifts: Sequence[int] = (1, 2),
    angles: Sequence[float] = (5.0, 10.0, 15.0),
    images=None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pairs (x, T(x)) of size×size patches of scikit-image's photographs, n per transformation.

    Keys: ``shift`` (each pair shifted by a random one of ``shifts`` pixels in a random one
    of 4 directions) and ``rotation`` (rotated by ± a random one of ``angles`` degrees about
    the patch centre). Patches are mean-removed; rows are flattened.
    """
    from skimage.transform import rotate

    from ebmlab.data.patches import _as_images

    imgs = _as_images(images)
    rng = np.random.default_rng(seed)
    margin = size // 2 + max(max(shifts), 1) + size // 2 + 2
    out = {}
    for kind in ("shift", "rotation"):
        a, b = np.empty((n, size * size)), np.empty((n, size * size))
        for k in range(n):
            img = imgs[rng.integers(len(imgs))]
            h, w = img.shape
            big = 2 * margin
            r0, c0 = rng.integers(0, h - big), rng.integers(0, w - big)
            crop = np.array(img[r0 : r0 + big, c0 : c0 + big], dtype=np.float64)
            centre = margin - size // 2
            a[k] = crop[centre : centre + size, centre : centre + size].ravel()
            if kind == "shift":
                d = int(rng.choice(shifts))
                dr, dc = [(d, 0), (-d, 0), (0, d), (0, -d)][rng.integers(4)]
                b[k] = crop[centre + dr : centre + dr + size, centre + dc : centre + dc + size].ravel()
            else:
                angle = float(rng.choice(angles)) * (1 if rng.random() < 0.5 else -1)
                turned = rotate(crop, angle, resize=False, order=1, mode="reflect")
                b[k] = turned[centre : centre + size, centre : centre + size].ravel()
        a -= a.mean(1, keepdims=True)
        b -= b.mean(1, keepdims=True)
        out[kind] = (a.astype(np.float32), b.astype(np.float32))
    return out


def image_pairs(
    images: torch.Tensor, seed: int = 0, shifts: Sequence[int] = (1, 2), angles: Sequence[float] = (5.0, 10.0, 15.0)
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Pairs (x, T(x)) of whole images (N×C×H×W): ``shift`` and ``rotation`` as in :func:`transformed_pairs`.

    Shifts move each image by a random one of ``shifts`` pixels in a random one of 4
    directions, filling with zeros; rotations turn it by ± a random one of ``angles``
    degrees about its centre (bilinear, zeros outside). Meant for images on a zero
    background such as MNIST and Fashion-MNIST.
    """
    import torch.nn.functional as F

    if images.ndim != 4:
        raise DataError(f"image_pairs needs N×C×H×W images, got shape {tuple(images.shape)}")
    g = torch.Generator().manual_seed(seed)
    n = images.shape[0]
    x = images.float()
    h, w = x.shape[-2:]
    m = max(shifts)
    padded = F.pad(x, (m, m, m, m))  # zeros come in where the image moves away
    d = torch.tensor(list(shifts))[torch.randint(len(shifts), (n,), generator=g)]
    direction = torch.randint(4, (n,), generator=g)
    shifted = torch.empty_like(x)
    for k in range(n):
        dr, dc = [(1, 0), (-1, 0), (0, 1), (0, -1)][int(direction[k])]
        r, c = m - dr * int(d[k]), m - dc * int(d[k])
        shifted[k] = padded[k, :, r : r + h, c : c + w]
    deg = torch.tensor(list(angles), dtype=torch.float64)[torch.randint(len(angles), (n,), generator=g)]
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double()
    theta = torch.deg2rad(deg * sign)
    cos, sin = torch.cos(theta), torch.sin(theta)
    affine = torch.stack(
        [
            torch.stack([cos, -sin, torch.zeros(n, dtype=torch.float64)], 1),
            torch.stack([sin, cos, torch.zeros(n, dtype=torch.float64)], 1),
        ],
        1,
    ).float()
    grid = F.affine_grid(affine, list(x.shape), align_corners=False)
    rotated = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return {"shift": (x, shifted), "rotation": (x, rotated)}


def response_correlation(r1: torch.Tensor, r2: torch.Tensor, min_std: float = 1e-8) -> torch.Tensor:
    """Pearson correlation over rows between matching columns of r1 and r2 (N×K → K); NaN where constant."""
    r1 = r1.double() - r1.double().mean(0)
    r2 = r2.double() - r2.double().mean(0)
    s = r1.norm(dim=0) * r2.norm(dim=0)
    corr = (r1 * r2).sum(0) / s.clamp_min(min_std)
    return torch.where(s > min_std, corr, torch.full_like(corr, float("nan")))


@dataclass(frozen=True)
class Invariance:
    single: float  # mean correlation of single units z_i
    pooled: float  # mean correlation of pooled outputs √(Σ z²)
    ratio: float


def pooled_by_index(z: torch.Tensor, pool_index: torch.Tensor) -> torch.Tensor:
    """√(Σ_{i∈P_j} z_i²) for the pools given as a padded index (p×k, padding = m): N×m → N×p."""
    zp = torch.cat([z, z.new_zeros(z.shape[0], 1)], 1)
    return zp.pow(2)[:, pool_index].sum(2).sqrt()


def invariance(
    encode: Callable[[torch.Tensor], torch.Tensor],
    pool: torch.Tensor | Callable[[torch.Tensor], torch.Tensor],
    pairs: tuple[np.ndarray, np.ndarray] | tuple[torch.Tensor, torch.Tensor],
) -> Invariance:
    """Mean response correlation of single units and of pools over the pairs, and pooled/single.

    ``pool`` is a padded pool index (p×k, see :class:`~ebmlab.sparse.groups.Pools`) or a
    function from codes to pooled outputs (e.g. L2 pooling of code maps). Codes and
    pooled outputs may have any shape after the batch dimension; every entry is a unit.
    """
    a, b = (torch.as_tensor(p) for p in pairs)
    if a.shape != b.shape or a.ndim < 2:
        raise DataError("invariance needs two matching arrays of inputs, one row per input")
    pool_fn = pool if callable(pool) else (lambda z: pooled_by_index(z, pool))
    with torch.no_grad():
        za, zb = encode(a), encode(b)
        pa, pb = pool_fn(za), pool_fn(zb)
    single = float(np.nanmean(response_correlation(za.flatten(1), zb.flatten(1)).numpy()))
    pooled = float(np.nanmean(response_correlation(pa.flatten(1), pb.flatten(1)).numpy()))
    if not np.isfinite(single) or za[0].numel() == 0:
        raise DataError("no unit responded to the inputs: invariance is undefined")
    return Invariance(single=single, pooled=pooled, ratio=pooled / single if single > 0 else float("inf"))
