"""Measuring a topographic map of filters: Gabor fits, orientation map, neighbours, pinwheels.

The units of a map sit on a side×side grid (row-major: unit i at (i // side,
i % side)), wrapping at the edges when the map is a torus.

- :func:`fit_gabor` fits g(u, v) = A exp(−u'²/2σ_u² − v'²/2σ_v²) cos(2π f u' + φ)
  (u', v' the pixel offsets from (x₀, y₀) rotated by θ, θ the direction of the
  carrier's wave vector) by least squares from several starts; ``r2`` is the
  fraction of the filter's variance the fit explains.
- :func:`neighbour_orientation_ratio` compares the mean orientation difference
  (mod π, in [0, π/2]) of neighbouring units with the same figure for the units
  shuffled over the map (its expectation over random permutations).
- :func:`find_pinwheels` finds the plaquettes (2×2 blocks of units) around which
  the orientation turns by ±π: the winding of exp(2iθ) around the plaquette.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ebmlab.errors import DataError

__all__ = ["GaborFit", "fit_gabor", "fit_gabors", "neighbour_orientation_ratio", "find_pinwheels", "orientation_figure"]


@dataclass(frozen=True)
class GaborFit:
    """Parameters of a fitted Gabor (pixels, radians) and the variance it explains (r2)."""

    x0: float
    y0: float
    theta: float
    freq: float
    phase: float
    sigma_u: float
    sigma_v: float
    amplitude: float
    r2: float

    @property
    def orientation(self) -> float:
        """θ modulo π, in [0, π)."""
        return self.theta % math.pi


def gabor(params, h: int, w: int) -> np.ndarray:
    """The h×w image of a Gabor with params (x0, y0, θ, f, φ, σ_u, σ_v, A)."""
    x0, y0, th, f, ph, su, sv, a = params
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dx, dy = xx - x0, yy - y0
    u = dx * np.cos(th) + dy * np.sin(th)
    v = -dx * np.sin(th) + dy * np.cos(th)
    return a * np.exp(-0.5 * (u / su) ** 2 - 0.5 * (v / sv) ** 2) * np.cos(2 * np.pi * f * u + ph)


def _centred(g: np.ndarray) -> np.ndarray:
    g = g.ravel()
    return g - g.mean()


def fit_gabor(image) -> GaborFit:
    """Least-squares Gabor fit of one 2-D filter, started from its spectral peak and energy centroid.

    Filter and Gabor are both taken without their mean (filters learned on
    mean-removed patches have none), so ``r2`` is the share of the filter's
    variance around its mean that the fit explains.
    """
    from scipy.optimize import least_squares

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 3:
        raise DataError(f"fit_gabor needs a 2-D filter of at least 3×3 pixels, got shape {img.shape}")
    h, w = img.shape
    img_c = (img - img.mean()).ravel()
    total = float((img_c**2).sum())
    if total == 0:
        return GaborFit(w / 2, h / 2, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0)
    pad = 4 * max(h, w)
    spec = np.abs(np.fft.fft2(img - img.mean(), s=(pad, pad)))
    spec[0, 0] = 0
    ky, kx = np.unravel_index(int(spec.argmax()), spec.shape)
    fy = (ky - pad if ky > pad // 2 else ky) / pad
    fx = (kx - pad if kx > pad // 2 else kx) / pad
    energy = img**2
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = float((energy * xx).sum() / energy.sum()), float((energy * yy).sum() / energy.sum())
    f0, th0 = math.hypot(fx, fy), math.atan2(fy, fx)
    amp = float(np.abs(img).max())
    lo = [-1.0, -1.0, -np.inf, 0.0, -np.inf, 0.5, 0.5, -np.inf]
    hi = [w, h, np.inf, 0.5, np.inf, 2.0 * max(h, w), 2.0 * max(h, w), np.inf]
    best = None
    # the carrier's phase at the centroid, from the filter's correlation with the two quadrature carriers
    u0 = (xx - cx) * math.cos(th0) + (yy - cy) * math.sin(th0)
    c, s = float((img * np.cos(2 * np.pi * f0 * u0)).sum()), float((img * np.sin(2 * np.pi * f0 * u0)).sum())
    phase0 = math.atan2(-s, c)
    for sigma in (max(h, w) / 6, max(h, w) / 3):
        x0 = [cx, cy, th0, min(max(f0, 1e-3), 0.49), phase0, sigma, sigma, amp]
        res = least_squares(lambda p: _centred(gabor(p, h, w)) - img_c, x0, bounds=(lo, hi), max_nfev=300)
        if best is None or res.cost < best.cost:
            best = res
    p = best.x
    r2 = 1.0 - 2.0 * float(best.cost) / total
    return GaborFit(*[float(v) for v in p], r2=max(r2, 0.0))


def fit_gabors(filters) -> list[GaborFit]:
    """Gabor fits of a stack of filters (K×h×w)."""
    return [fit_gabor(f) for f in np.asarray(filters)]


def _circular_difference(a, b):
    d = np.abs(a - b) % np.pi
    return np.minimum(d, np.pi - d)


def neighbour_orientation_ratio(theta, side: int, wrap: bool = True, shuffles: int = 200, seed: int = 0) -> dict:
    """Mean orientation difference between grid neighbours, and its ratio to the same for shuffled units.

    ``theta``: orientations (radians, mod π) of the side² units in map order. Returns
    ``neighbour`` (mean difference of right and down neighbours, in radians),
    ``shuffled`` (its mean over ``shuffles`` random permutations) and ``ratio``.
    """
    t = np.asarray(theta, dtype=np.float64) % np.pi
    if t.size != side * side:
        raise DataError(f"an orientation map of side {side} needs {side * side} values, got {t.size}")

    def mean_diff(values):
        T = values.reshape(side, side)
        if wrap:
            return float(
                np.mean(
                    [
                        _circular_difference(T, np.roll(T, -1, 0)).mean(),
                        _circular_difference(T, np.roll(T, -1, 1)).mean(),
                    ]
                )
            )
        return float(
            np.mean(
                np.concatenate(
                    [_circular_difference(T[:-1], T[1:]).ravel(), _circular_difference(T[:, :-1], T[:, 1:]).ravel()]
                )
            )
        )

    rng = np.random.default_rng(seed)
    near = mean_diff(t)
    shuffled = float(np.mean([mean_diff(rng.permutation(t)) for _ in range(shuffles)]))
    return {"neighbour": near, "shuffled": shuffled, "ratio": near / shuffled if shuffled > 0 else float("nan")}


def find_pinwheels(theta, side: int, wrap: bool = True) -> list[tuple[float, float, int]]:
    """Pinwheels of an orientation map: (row, col) of each plaquette's centre and its sign (+1 or −1).

    The phase 2θ is followed around the plaquette (i, j) → (i, j+1) → (i+1, j+1) → (i+1, j) → (i, j),
    each step taken the short way round; a total of ±2π marks a pinwheel.
    """
    T = 2.0 * (np.asarray(theta, dtype=np.float64) % np.pi).reshape(side, side)
    rows = side if wrap else side - 1
    out = []
    for i in range(rows):
        for j in range(rows):
            i1, j1 = (i + 1) % side, (j + 1) % side
            loop = [T[i, j], T[i, j1], T[i1, j1], T[i1, j], T[i, j]]
            steps = np.diff(loop)
            steps = (steps + np.pi) % (2 * np.pi) - np.pi
            winding = int(round(float(steps.sum()) / (2 * np.pi)))
            if winding:
                out.append((i + 0.5, j + 0.5, winding))
    return out


def orientation_figure(theta, side: int, pinwheels=None, title: str = "orientation map"):
    """A figure colouring each unit by its orientation (cyclic colour map), pinwheels marked
    (white circles: +, black squares: −)."""
    from ebmlab.viz.backend import file_backend

    file_backend()
    import matplotlib.pyplot as plt

    T = (np.asarray(theta, dtype=np.float64) % np.pi).reshape(side, side)
    fig, ax = plt.subplots(figsize=(5, 4.4))
    im = ax.imshow(T, cmap="hsv", vmin=0, vmax=np.pi, interpolation="nearest")
    for r, c, s in pinwheels or []:
        ax.plot(
            c,
            r,
            "o" if s > 0 else "s",
            ms=7,
            mfc="white" if s > 0 else "black",
            mec="black" if s > 0 else "white",
            mew=1.2,
        )
    cb = fig.colorbar(im, ax=ax, ticks=[0, np.pi / 4, np.pi / 2, 3 * np.pi / 4, np.pi])
    cb.ax.set_yticklabels(["0°", "45°", "90°", "135°", "180°"])
    ax.set_title(title + (f" ({len(pinwheels)} pinwheels)" if pinwheels is not None else ""), fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig
