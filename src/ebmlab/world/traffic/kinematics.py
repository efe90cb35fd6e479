"""The kinematics every car moves by, the ego car's as in PPUU (Henaff et al. 2019, section 3 and its code).

A car has a position p, a heading ψ (direction d = (cos ψ, sin ψ)) and a speed v;
an action is (a, b): acceleration a (m/s²) and curvature b (1/m), clipped to
``ACTION_LOW``/``ACTION_HIGH``. One step of dt:

    p ← p + v · d · dt,      ψ ← ψ + b · v · dt,      v ← max(v + a · dt, 0).

The simulated drivers move by the same law, so that the actions stored with a
recording (:func:`actions_from_states`) reproduce every recorded trajectory.
"""

from __future__ import annotations

import torch

__all__ = ["ACTION_LOW", "ACTION_HIGH", "clip_action", "kinematic_step", "actions_from_states"]

ACTION_LOW = (-8.0, -0.15)  # (a m/s², b 1/m): hard braking, a turning radius of about 7 m
ACTION_HIGH = (4.0, 0.15)


def clip_action(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return a.clamp(ACTION_LOW[0], ACTION_HIGH[0]), b.clamp(ACTION_LOW[1], ACTION_HIGH[1])


def kinematic_step(x, y, psi, v, a, b, dt: float, straight_through: bool = False):
    """(x, y, ψ, v) one step on; every argument is a tensor of one shape (actions already clipped).

    With ``straight_through`` the values are the same, but the gradient passes the stop (v ≥ 0) as if it were
    not there: a car planned to a standstill still learns that accelerating would move it. Without it, every
    action of a plan that stops the car has no gradient, and a planner or a policy trained through the
    kinematics stays stopped while the car behind runs into it (docs/RESULTS.md)."""
    x = x + v * torch.cos(psi) * dt
    y = y + v * torch.sin(psi) * dt
    psi = psi + b * v * dt
    v = v + a * dt
    v = v + (v.clamp_min(0.0) - v).detach() if straight_through else v.clamp_min(0.0)
    return x, y, psi, v


def actions_from_states(psi: torch.Tensor, v: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The actions (a, b) that take states t to t + 1 along the last axis (time); T−1 of them.

    a = Δv / dt and b = Δψ / (v dt) (zero where the car stands: it cannot turn).
    Exact where the speed did not hit zero from above, which the drivers' clipped
    accelerations keep true up to rounding."""
    a = (v[..., 1:] - v[..., :-1]) / dt
    moving = v[..., :-1] > 1e-6
    b = torch.where(moving, (psi[..., 1:] - psi[..., :-1]) / (v[..., :-1].clamp_min(1e-6) * dt), torch.zeros_like(a))
    return a, b
