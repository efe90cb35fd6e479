"""Learning a dictionary for sparse coding, online over mini-batches.

The energy of a signal x with code z under dictionary D (n×m, unit-norm atoms)
is E(x, z; D) = ½‖x − Dz‖² + λ‖z‖₁ (Olshausen & Field, Nature 1996). Learning
alternates, on each mini-batch X_b (b×n):

1. inference: Z_b = argmin_Z Σᵢ E(xᵢ, zᵢ; D)  (a Lasso solver, FISTA by default);
2. learning: a projected gradient step on the mean energy,
       D ← Π( D + η (X_b − Z_b Dᵀ)ᵀ Z_b / b ),
   where Π renormalises every column to unit L2 norm (the constraint ‖d_j‖ = 1
   keeps the L1 term from being cheated by growing D and shrinking z).

This is the stochastic scheme of Olshausen & Field with the unit-norm
projection used by Mairal, Bach, Ponce & Sapiro (ICML 2009) and Gregor & LeCun
(ICML 2010, §5, who learn D with "stochastic gradient descent" this way).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ebmlab.data import epoch_batches
from ebmlab.errors import ConfigError, DataError
from ebmlab.sparse.solvers import SolverResult, get_solver, lasso_objective

__all__ = ["Dictionary", "LearningResult", "learn_dictionary", "normalise_columns"]


def normalise_columns(D: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Π(D): every column divided by its L2 norm (columns of norm < eps are left as they are)."""
    norms = D.norm(dim=0, keepdim=True)
    return D / torch.where(norms > eps, norms, torch.ones_like(norms))


class Dictionary(nn.Module):
    """A dictionary D (n×m, atoms as unit-norm columns) with its sparse-coding energy.

    ``weight`` is the n×m matrix D; ``decode(Z) = Z Dᵀ``; ``infer`` minimises
    the energy ½‖x − Dz‖² + λ‖z‖₁ over z with a solver of
    :mod:`ebmlab.sparse.solvers`.
    """

    def __init__(self, n_features: int, n_atoms: int, weight: torch.Tensor | None = None):
        super().__init__()
        if weight is None:
            weight = normalise_columns(torch.randn(n_features, n_atoms))
        if weight.shape != (n_features, n_atoms):
            raise DataError(f"dictionary weight must be {n_features}×{n_atoms}, got {tuple(weight.shape)}")
        self.weight = nn.Parameter(weight.clone(), requires_grad=False)

    @property
    def n_features(self) -> int:
        return self.weight.shape[0]

    @property
    def n_atoms(self) -> int:
        return self.weight.shape[1]

    def decode(self, Z: torch.Tensor) -> torch.Tensor:
        """Reconstruction Dz for every row of Z (N×m) -> N×n."""
        return Z @ self.weight.T

    def energy(self, X: torch.Tensor, Z: torch.Tensor, lam: float) -> torch.Tensor:
        """Per-row energy ½‖x − Dz‖² + λ‖z‖₁."""
        return lasso_objective(X, self.weight, Z, lam)

    def infer(self, X: torch.Tensor, lam: float, solver: str = "fista", **kw) -> SolverResult:
        """Inference: codes minimising the energy, by the named solver."""
        return get_solver(solver)(X, self.weight, lam, **kw)

    @torch.no_grad()
    def normalise_(self) -> None:
        self.weight.copy_(normalise_columns(self.weight))


@dataclass
class LearningResult:
    """The learned dictionary and the mean energy of each mini-batch (after inference, before the step)."""

    dictionary: Dictionary
    energies: list[float] = field(default_factory=list)


def init_from_data(X: torch.Tensor, n_atoms: int, generator: torch.Generator) -> torch.Tensor:
    """Initial atoms: randomly chosen signals (with replacement if N < m), normalised, plus small noise."""
    idx = torch.randint(0, X.shape[0], (n_atoms,), generator=generator)
    D = X[idx].T.clone()
    D += 0.01 * D.norm(dim=0).mean() * torch.randn(D.shape, generator=generator, dtype=D.dtype)
    return normalise_columns(D)


@torch.no_grad()
def dictionary_step(D: torch.Tensor, Xb: torch.Tensor, Zb: torch.Tensor, lr: float) -> torch.Tensor:
    """One projected gradient step D ← Π(D + η (X_b − Z_b Dᵀ)ᵀ Z_b / b) on the mean energy."""
    R = Xb - Zb @ D.T
    return normalise_columns(D + lr * (R.T @ Zb) / Xb.shape[0])


def learn_dictionary(
    X: torch.Tensor,
    n_atoms: int,
    lam: float,
    *,
    steps: int = 1000,
    batch_size: int = 256,
    lr: float = 30.0,
    solver: str = "fista",
    solver_iter: int = 50,
    solver_tol: float = 1e-4,
    seed: int = 0,
    D0: torch.Tensor | None = None,
) -> LearningResult:
    """Learn D (n×m) on the rows of X (N×n) by alternating inference and projected gradient steps.

    Mini-batches follow :func:`ebmlab.data.epoch_batches` (deterministic for
    ``seed``); the initial atoms are signals drawn with ``seed``. ``lr`` is η; with
    unit-norm 8×8 patches η ≈ 30 works (the gradient of the mean energy is small: codes are sparse). Returns the :class:`Dictionary` and the
    energy trajectory.
    """
    if not isinstance(X, torch.Tensor) or X.dim() != 2 or X.shape[0] == 0:
        raise DataError(f"X must be a non-empty 2-D tensor N×n, got {getattr(X, 'shape', type(X).__name__)}")
    if n_atoms < 1:
        raise ConfigError(f"n_atoms must be >= 1, got {n_atoms}")
    if steps < 0 or batch_size < 1:
        raise ConfigError(f"steps must be >= 0 and batch_size >= 1, got {steps} and {batch_size}")
    if not lr > 0:
        raise ConfigError(f"lr must be > 0, got {lr}")
    infer = get_solver(solver)
    g = torch.Generator().manual_seed(seed)
    D = init_from_data(X.cpu(), n_atoms, g).to(X) if D0 is None else normalise_columns(D0.to(X))
    energies = []
    N = X.shape[0]
    b = min(batch_size, N)
    batches: list[torch.Tensor] = []
    for step in range(steps):
        epoch, k = divmod(step, N // b)
        if k == 0:
            batches = list(epoch_batches(N, b, seed, epoch))
        Xb = X[batches[k].to(X.device)]
        res = infer(Xb, D, lam, max_iter=solver_iter, tol=solver_tol)
        energies.append(res.objective)
        D = dictionary_step(D, Xb, res.z, lr)
    return LearningResult(Dictionary(X.shape[1], n_atoms, weight=D), energies)
