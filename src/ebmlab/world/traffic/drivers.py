"""The other drivers: IDM car-following and MOBIL lane changes, parameters drawn per driver.

IDM (Treiber, Hennecke & Helbing, Phys. Rev. E 2000): a car at speed v with a gap
s to its leader, which is Δv slower, accelerates by

    a_IDM = a_max · [1 − (v / v0)^4 − (s*(v, Δv) / s)^2],   s* = s0 + max(0, v T + v Δv / (2 √(a_max b))).

MOBIL (Kesting, Treiber & Helbing, Transp. Res. Rec. 2007): a car moves to a
neighbouring lane when the new follower need not brake harder than b_safe
(safety) and the change pays, politeness p weighing the others' loss:

    ã_c − a_c + p · [(ã_n − a_n) + (ã_o − a_o)] > Δa_th,

with c the car, n its new follower and o its old one; tildes after the change.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["DriverMix", "idm_acceleration", "mobil_incentive", "NO_LEADER_GAP"]

NO_LEADER_GAP = 1e4  # metres: a free road ahead


@dataclass(frozen=True)
class DriverMix:
    """The ranges each driver's parameters are drawn from (uniformly), and MOBIL's shared constants."""

    desired_speed: tuple[float, float] = (24.0, 33.0)  # v0, m/s (86–119 km/h)
    time_headway: tuple[float, float] = (1.0, 1.8)  # T, s
    min_gap: tuple[float, float] = (1.5, 3.0)  # s0, m
    max_accel: tuple[float, float] = (1.0, 2.0)  # a_max, m/s²
    comfort_decel: tuple[float, float] = (1.5, 2.5)  # b, m/s²
    politeness: tuple[float, float] = (0.1, 0.5)  # p
    length: tuple[float, float] = (4.2, 5.2)  # m
    width: tuple[float, float] = (1.7, 2.0)  # m
    safe_decel: float = 4.0  # b_safe, m/s²
    change_threshold: float = 0.2  # Δa_th, m/s²
    accel_noise: float = 0.3  # m/s², white noise on each step's acceleration

    FIELDS = ("desired_speed", "time_headway", "min_gap", "max_accel", "comfort_decel", "politeness", "length", "width")

    def sample(self, shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """Parameters of new drivers, …×len(FIELDS) in the order of ``FIELDS``."""
        lo, hi = torch.tensor([getattr(self, name) for name in self.FIELDS], device=device).T
        return lo + (hi - lo) * torch.rand(tuple(shape) + (len(self.FIELDS),), generator=generator, device=device)


def idm_acceleration(v, v_lead, gap, v0, T, s0, a_max, b):
    """IDM's acceleration (tensors of one shape; ``gap`` bumper to bumper, NO_LEADER_GAP for a free road)."""
    s_star = s0 + (v * T + v * (v - v_lead) / (2.0 * torch.sqrt(a_max * b))).clamp_min(0.0)
    return a_max * (1.0 - (v / v0) ** 4 - (s_star / gap.clamp_min(0.1)) ** 2)


def mobil_incentive(
    self_new, self_old, new_follower_new, new_follower_old, old_follower_new, old_follower_old, politeness
):
    """MOBIL's incentive ã_c − a_c + p · [(ã_n − a_n) + (ã_o − a_o)] (compare with Δa_th)."""
    return (self_new - self_old) + politeness * (
        (new_follower_new - new_follower_old) + (old_follower_new - old_follower_old)
    )
