"""Training windows cut from recorded traffic: what a recorded driver saw, did, and saw next.

A window starts at a frame t of a car of the chosen split and holds its
``CONDITIONING`` frames up to t (images and states), the actions it took from t
on, and the ``future`` frames after t; images are rasterised when a window is
drawn (:func:`~ebmlab.world.traffic.episodes.views`), never stored. Actions and
state changes are normalised by the training split's statistics
(:class:`Normalisation`), as in PPUU.

Two frames of reference for the images: ``ego`` (PPUU's: each image centred on
the car) and ``track``, for a world model that leaves the ego car to its
kinematics (:mod:`~ebmlab.world.driving.kinematic_ego`): every image of the
window centred on a point moving along the road at the car's speed at t from
where the car was at t (:func:`reference_track`), the car itself not drawn.
Such a window also holds the car's own (ego-centred) views of its conditioning
frames, which a policy reads.
"""

from __future__ import annotations

import torch
from torch import nn

from ebmlab.world.traffic.episodes import views
from ebmlab.world.traffic.recording import CONDITIONING, Recording
from ebmlab.world.traffic.road import Road

__all__ = ["Normalisation", "TrafficWindows", "reference_track", "FRAMES"]

FRAMES = ("ego", "track")


def reference_track(state: torch.Tensor, steps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centres (x, y: B×K) of views ``steps`` (K, may be negative) steps from a car in state ``state`` (B×3 or more:
    x, y, vx, …): along the road at its speed vx from its position, at its lateral position."""
    x = state[:, :1] + state[:, 2:3] * Road.dt * steps.to(state)
    return x, state[:, 1:2].expand_as(x)


class Normalisation(nn.Module):
    """Means and standard deviations of states (x, y, vx, vy), their one-step changes, and actions (a, b)."""

    def __init__(self) -> None:
        super().__init__()
        for name, dim in (("state", 4), ("delta", 4), ("action", 2)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, rec: Recording, cars: torch.Tensor) -> "Normalisation":
        states, deltas, actions = [], [], []
        for car in cars.tolist():
            tr = rec.trajectory(car)
            s = torch.stack([tr["x"], tr["y"], tr["v"] * torch.cos(tr["psi"]), tr["v"] * torch.sin(tr["psi"])], -1)
            states.append(s)
            deltas.append(s[1:] - s[:-1])
            actions.append(torch.stack([tr["a"][:-1], tr["b"][:-1]], -1))
        for name, data in (("state", states), ("delta", deltas), ("action", actions)):
            data = torch.cat(data)
            getattr(self, f"{name}_mean").copy_(data.mean(0))
            getattr(self, f"{name}_std").copy_(data.std(0).clamp_min(1e-6))
        return self

    def states(self, s: torch.Tensor) -> torch.Tensor:
        return (s - self.state_mean) / self.state_std

    def actions(self, a: torch.Tensor) -> torch.Tensor:
        return (a - self.action_mean) / self.action_std

    def unactions(self, a: torch.Tensor) -> torch.Tensor:
        return a * self.action_std + self.action_mean


class TrafficWindows:
    """Draws windows (conditioning frames, actions, future frames) from cars ``cars`` of ``rec``."""

    def __init__(self, rec: Recording, cars: torch.Tensor, future: int, frame: str = "ego") -> None:
        if frame not in FRAMES:
            from ebmlab.errors import ConfigError

            raise ConfigError(f"unknown frame of reference {frame!r}; choose one of {', '.join(FRAMES)}")
        self.rec, self.future, self.frame = rec, future, frame
        first, last = rec.cars["first"][cars], rec.cars["last"][cars]
        starts = last - future - (first + CONDITIONING - 1)  # how many start frames each car offers
        keep = starts > 0
        self.cars, self.first, self.starts = cars[keep], first[keep] + CONDITIONING - 1, starts[keep]
        if len(self.cars) == 0:
            from ebmlab.errors import DataError

            raise DataError(f"no car of the split is long enough for {CONDITIONING} + {future} frames; record longer")
        self.weights = self.starts.float()

    def __len__(self) -> int:
        return int(self.starts.sum())

    def sample(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``n`` windows (frames weighted equally): images n×(C + F)×4×H×W, states n×(C + F)×4, actions n×F×2 —
        C = CONDITIONING frames up to t, then the F = ``future`` frames after it; actions from t to t + F − 1."""
        pick = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        t = self.first[pick] + (torch.rand(n, generator=generator) * self.starts[pick]).long()
        return self.at(self.cars[pick], t)

    def at(self, cars: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """The windows of ``cars`` whose last conditioning frame is ``t``; in the ``track`` frame also the cars'
        own views of their conditioning frames (``views``) and the reference track's start (``track``: x, y, vx)."""
        offsets = torch.arange(-CONDITIONING + 1, self.future + 1)
        n, k = len(cars), len(offsets)
        frames = (t[:, None] + offsets).flatten()
        every = cars.repeat_interleave(k)
        images, states = views(self.rec, every, frames)
        out = {}
        if self.frame == "track":
            out["views"] = images.view(n, k, *images.shape[1:])[:, :CONDITIONING]
            last = states.view(n, k, 4)[:, CONDITIONING - 1]
            cx, cy = reference_track(last, offsets)
            images, _ = views(self.rec, every, frames, centre=(cx.flatten(), cy.flatten()))
            images[:, 2] = 0.0  # the world model does not see the ego car
            out["track"] = last[:, :3]
        c = self.rec.cars
        env, slot = c["env"][cars], c["slot"][cars]
        act_t = t[:, None] + torch.arange(self.future)
        actions = torch.stack(
            [
                self.rec.frames["a"][env[:, None], act_t, slot[:, None]],
                self.rec.frames["b"][env[:, None], act_t, slot[:, None]],
            ],
            -1,
        )
        return {
            "images": images.view(n, k, *images.shape[1:]),
            "states": states.view(n, k, 4),
            "actions": actions,
            "cars": cars,
            "t": t,
            **out,
        }
