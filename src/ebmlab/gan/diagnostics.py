"""Detectors of the three classic GAN pitfalls, run on what the training loop logs.

- Unstable convergence: the energy gap F(ȳ) − F(y) between generated and real
  samples swings back and forth instead of settling. :func:`oscillation_score`
  is the most negative autocorrelation, over lags 2 … n/2, of the first
  differences of the gap's last ``window`` logged values: a periodic swing of
  period P gives ≈ −1 at lag P/2, noise and monotone trends give ≈ 0 (lag 1 is
  skipped because differenced noise has autocorrelation −½ there). Flagged when
  the score is at most −0.5.
- Vanishing gradient: the norm of the generator's gradient ‖∂L_g/∂θ_G‖.
  :func:`vanishing_ratio` is the smallest median over windows of a tenth of the
  logged values (at least 5), relative to the median of the first window;
  flagged below 0.1 (the saturating logistic loss with a confident critic:
  log(1 − D(G(z))) is flat where D(G(z)) ≈ 0, and the gradient falls by one to
  two orders of magnitude while the non-saturating loss keeps its size).
- Mode collapse: on a known 2-D mixture, fewer modes captured than exist or a
  reverse KL above 0.1; on images, the diversity of samples (mean pairwise
  distance in the evaluation classifier's feature space, relative to the same
  for real images: :func:`ebmlab.metrics.images.diversity`) below 0.5.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Diagnostics", "oscillation_score", "vanishing_ratio", "warn"]

OSCILLATION_THRESHOLD = -0.5
VANISHING_RATIO = 0.1
DIVERSITY_THRESHOLD = 0.5
REVERSE_KL_THRESHOLD = 0.1


def oscillation_score(values, window: int = 100) -> float:
    """Most negative autocorrelation of the differenced last ``window`` values (lags ≥ 2); 0 if too short."""
    x = np.asarray(values, dtype=np.float64)[-window:]
    x = x[np.isfinite(x)]
    if len(x) < 30:
        return 0.0
    d = np.diff(x)
    d = d - d.mean()
    denom = float(d @ d)
    if denom <= 1e-300:
        return 0.0
    lags = range(2, len(d) // 2 + 1)
    return float(min(d[:-k] @ d[k:] / denom * len(d) / (len(d) - k) for k in lags))


def vanishing_ratio(grad_norms) -> float:
    """Smallest windowed median of ``grad_norms`` over the first window's median (1 if too short)."""
    g = np.asarray(grad_norms, dtype=np.float64)
    g = g[np.isfinite(g)]
    if len(g) < 10:
        return 1.0
    w = max(5, len(g) // 10)
    first = float(np.median(g[:w]))
    if first <= 0:
        return 1.0
    return float(min(np.median(g[i : i + w]) for i in range(0, len(g) - w + 1)) / first)


@dataclass
class Diagnostics:
    """Collects the logged signals, decides which pitfalls show, and warns once about each."""

    gaps: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    warned: set[str] = field(default_factory=set)
    collapse: bool = False

    def record(self, energy_gap: float, grad_norm: float | None) -> None:
        self.gaps.append(float(energy_gap))
        if grad_norm is not None:
            self.grad_norms.append(float(grad_norm))

    def record_modes(self, captured: int, n_modes: int, reverse_kl: float) -> None:
        self.collapse = captured < n_modes or reverse_kl > REVERSE_KL_THRESHOLD

    def record_diversity(self, ratio: float) -> None:
        self.collapse = ratio < DIVERSITY_THRESHOLD

    def summary(self) -> dict[str, float]:
        score, ratio = oscillation_score(self.gaps), vanishing_ratio(self.grad_norms)
        return {
            "oscillation_score": score,
            "generator_grad_ratio": ratio,
            "warn_oscillation": int(score <= OSCILLATION_THRESHOLD),
            "warn_vanishing_gradient": int(ratio < VANISHING_RATIO),
            "warn_mode_collapse": int(self.collapse),
        }

    def warn(self, step: int, write=None) -> list[str]:
        """Print a warning for each pitfall that shows now and was not reported before; return their names."""
        messages = {
            "oscillation": "the energy gap F(fake) − F(real) oscillates (unstable convergence); "
            "try a lower --lr or --n-critic > 1",
            "vanishing_gradient": "the generator's gradient has fallen below 10 % of its initial size "
            "(vanishing gradient); the non-saturating loss avoids it",
            "mode_collapse": "the samples cover too few modes (mode collapse)",
        }
        s = self.summary()
        new = [k for k in messages if s[f"warn_{k}"] and k not in self.warned]
        for k in new:
            self.warned.add(k)
            (write or warn)(f"ebmlab: warning at step {step}: {messages[k]}")
        return new

    def state_dict(self) -> dict:
        return {
            "gaps": list(self.gaps),
            "grad_norms": list(self.grad_norms),
            "warned": sorted(self.warned),
            "collapse": self.collapse,
        }

    def load_state_dict(self, state: dict) -> None:
        self.gaps, self.grad_norms = list(state["gaps"]), list(state["grad_norms"])
        self.warned, self.collapse = set(state["warned"]), bool(state["collapse"])


def warn(message: str) -> None:
    """Print ``message`` on stderr above any progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)
