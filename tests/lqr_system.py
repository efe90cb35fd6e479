"""A known linear system and its LQR solutions, the reference for the planner and policy tests."""

import torch

DT = 0.1
A = torch.tensor([[1.0, DT], [0.0, 0.9]])  # position, velocity: a double integrator with friction
B = torch.tensor([[0.0], [DT]])
Q = torch.eye(2)
R = torch.tensor([[0.1]])


class LinearModel(torch.nn.Module):
    """s' = A s + B a, as a forward model."""

    def forward(self, s, a, z=None):
        return s @ A.T + a @ B.T


def quadratic_cost(s, a, s_next):
    """c = sᵀQs + aᵀRa (of the state before the step)."""
    return ((s @ Q) * s).sum(-1) + ((a @ R) * a).sum(-1)


def open_loop_optimum(s0: torch.Tensor, horizon: int) -> tuple[torch.Tensor, float]:
    """The plan a_0..a_{H-1} minimising Σ_t s_tᵀQs_t + a_tᵀRa_t from s0 (unbounded), and its cost."""
    n, m = B.shape
    A64, B64 = A.double(), B.double()
    Phi = torch.zeros(horizon * n, n, dtype=torch.float64)
    Gamma = torch.zeros(horizon * n, horizon * m, dtype=torch.float64)
    power = torch.eye(n, dtype=torch.float64)
    for t in range(horizon):
        Phi[t * n : (t + 1) * n] = power
        for k in range(t):
            Gamma[t * n : (t + 1) * n, k * m : (k + 1) * m] = torch.linalg.matrix_power(A64, t - 1 - k) @ B64
        power = A64 @ power
    Qbar = torch.block_diag(*[Q.double()] * horizon)
    Rbar = torch.block_diag(*[R.double()] * horizon)
    x0 = s0.double()
    a = -torch.linalg.solve(Gamma.T @ Qbar @ Gamma + Rbar, Gamma.T @ Qbar @ Phi @ x0)
    S = Phi @ x0 + Gamma @ a
    return a.reshape(horizon, m).float(), float(S @ Qbar @ S + a @ Rbar @ a)


def infinite_horizon_gain(iterations: int = 2000) -> torch.Tensor:
    """K of the stationary LQR law a = −K s, from the discrete Riccati recursion."""
    P = Q.double()
    A64, B64, Q64, R64 = A.double(), B.double(), Q.double(), R.double()
    for _ in range(iterations):
        K = torch.linalg.solve(R64 + B64.T @ P @ B64, B64.T @ P @ A64)
        P = Q64 + A64.T @ P @ (A64 - B64 @ K)
    return K.float()
