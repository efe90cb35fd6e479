"""Small Lasso problems shared by the sparse-coding tests."""

import torch


def sparse_problem(N, n, m, density, seed=0, dtype=torch.float64):
    """Signals X (N×n) that really are sparse combinations of unit-norm atoms D (n×m), plus noise."""
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(n, m, generator=g, dtype=dtype)
    D = D / D.norm(dim=0)
    Z = torch.randn(N, m, generator=g, dtype=dtype) * (torch.rand(N, m, generator=g) < density)
    X = Z @ D.T + 0.05 * torch.randn(N, n, generator=g, dtype=dtype)
    return X, D
