"""Gradient MPC through the forward model at test time: planning as inference, for each step of each episode.

The action sequence a_{t..t+H−1} is the latent variable of the trajectory
energy E(a) = Σ_k γ^k [proximity + 0.2 lane + 1.0 off-road](î_{t+k}, ŝ_{t+k}),
the images and states predicted by the model from the last 20 views (z = 0,
the mean future); ``iterations`` Adam steps on a (normalised) minimise it, the
first action is taken, and the rest of the plan, shifted, starts the next step
(receding horizon, warm start), as in :mod:`ebmlab.world.planners` for the
smaller tasks.

Through a model with a kinematic ego (:mod:`~ebmlab.world.driving.kinematic_ego`)
the others' future does not depend on the plan: it is predicted once per
decision (z = 0, dropout off) from the last 20 views seen from the reference
track, and the plan moves only the ego car, by its kinematics, through it.

:class:`ConstantVelocityMpc` plans the same way through the simplest world model
that sees only the present — every other car goes on at its current velocity —
the floor that a learnt world model must beat (docs/RESULTS.md). :class:`FutureMpc` plans through the
episodes' own future (:meth:`~ebmlab.world.traffic.episodes.Episodes.future`: the recording in replay mode, an
imagined world's next steps there): a perfect world model, the ceiling, and a privileged expert for a policy
to learn from. :class:`FittedWorldMpc` plans through the world fitted to the recording
(:mod:`~ebmlab.world.driving.imagined`): at every decision the other cars are driven on from the present frame by
IDM/MOBIL with parameters fitted to the training cars — a world model of ten fitted numbers, within PPUU's rules.
"""

from __future__ import annotations

import torch

from ebmlab.world.driving.evaluate import NoAction
from ebmlab.world.driving.model import TrafficModel
from ebmlab.world.driving.policy import _costs
from ebmlab.world.traffic.kinematics import ACTION_HIGH, ACTION_LOW

__all__ = ["MpcDriver", "ConstantVelocityMpc", "FutureMpc", "FittedWorldMpc"]


class MpcDriver(NoAction):
    name = "mpc"

    def __init__(
        self,
        model: TrafficModel | None,
        horizon: int = 10,
        iterations: int = 5,
        lr: float = 0.1,
        gamma: float = 0.99,
        mask_speed: str = "own",
        norm=None,
    ) -> None:
        """``model`` None: a subclass supplies the futures (:meth:`futures`) and ``norm``, the actions' scale."""
        self.model, self.horizon, self.iterations, self.lr, self.gamma = model, horizon, iterations, lr, gamma
        self.mask_speed, self.norm = mask_speed, norm if model is None else model.norm
        if model is not None:
            model.eval()
            for p in model.parameters():
                p.requires_grad_(False)
        self.low, self.high = torch.tensor(ACTION_LOW), torch.tensor(ACTION_HIGH)

    @torch.no_grad()
    def start(self, episodes) -> None:
        images, self.states = episodes.history()
        self.codes = self.model.encoder(images) if self.model is not None else None
        self.last = images[:, -1]
        self.plan = torch.zeros(len(self.states), self.horizon, 2)  # normalised actions; 0 = the data's mean
        self.views, self.road, self.size = images, episodes.road, torch.stack([episodes.length, episodes.width], -1)

    def _actions(self, plan: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(self.norm.unactions(plan), self.high), self.low)

    def _take(self, plan: torch.Tensor):
        """Take the plan's first action; the rest, shifted, starts the next decision."""
        with torch.no_grad():
            first = self._actions(plan[:, 0])
            self.plan = torch.cat([plan[:, 1:], plan[:, -1:]], 1).detach()
        return first[:, 0], first[:, 1]

    def __call__(self, episodes, images, states):
        if self.model is None or self.model.kinematic:
            return self._kinematic(episodes, images, states)
        m = self.model
        with torch.no_grad():
            self.codes = torch.cat([self.codes[:, 1:], m.encoder(images)[:, None]], 1)
            self.states = torch.cat([self.states[:, 1:], states[:, None]], 1)
            self.last = images
        plan = self.plan.clone().requires_grad_()
        opt = torch.optim.Adam([plan], lr=self.lr)
        discount = self.gamma ** torch.arange(self.horizon, dtype=torch.float32)
        zero = torch.zeros(len(states), m.latent_dim) if m.latent_dim else None
        for _ in range(self.iterations):
            codes, s, last = self.codes, self.states, self.last
            energy = 0.0
            for k in range(self.horizon):
                a = self._actions(plan[:, k])
                image, state, _ = m.step(codes, s, last, a, z=zero)
                last = image
                energy = energy + discount[k] * _costs(image, state)
                codes = torch.cat([codes[:, 1:], m.encoder(image)[:, None]], 1)
                s = torch.cat([s[:, 1:], state[:, None]], 1)
            opt.zero_grad()
            energy.sum().backward()
            opt.step()
        return self._take(plan)

    @torch.no_grad()
    def futures(self, episodes) -> torch.Tensor:
        """B×H×H'×W': the other cars' next ``horizon`` cars channels seen from the reference track (the ego's
        position now, moving on at its speed): here the model's prediction from the last 20 views (z = 0)."""
        from ebmlab.world.driving.kinematic_ego import track_views

        m = self.model
        zero = torch.zeros(len(self.states), self.horizon, m.latent_dim) if m.latent_dim else None
        future, _, _ = m.unroll(
            track_views(self.views, self.states, self.road),
            self.states,
            torch.zeros(len(self.states), self.horizon, 2),
            z=zero,
        )
        return future[:, :, 1]

    def _kinematic(self, episodes, images, states):
        from ebmlab.world.driving.kinematic_ego import kinematic_rollout

        with torch.no_grad():
            self.views = torch.cat([self.views[:, 1:], images[:, None]], 1)
            self.states = torch.cat([self.states[:, 1:], states[:, None]], 1)
        batch = {
            "states": self.states,
            "track": self.states[:, -1, :3],
            "size": self.size,
            "futures": self.futures(episodes)[:, None],
        }
        plan = self.plan.clone().requires_grad_()
        opt = torch.optim.Adam([plan], lr=self.lr)
        discount = self.gamma ** torch.arange(self.horizon, dtype=torch.float32)
        for _ in range(self.iterations):
            out = kinematic_rollout(
                None, batch, self.horizon, self.road, actions=self._actions(plan), mask_speed=self.mask_speed
            )
            opt.zero_grad()
            (out["costs"][:, :, 0] * discount).sum().backward()
            opt.step()
        return self._take(plan)


class ConstantVelocityMpc(MpcDriver):
    """Gradient MPC through a world model without learning: every other car goes on at its current velocity
    (:func:`~ebmlab.world.traffic.episodes.driven_on`); the ego moves by its kinematics. ``norm``: the training
    split's :class:`~ebmlab.world.driving.data.Normalisation`, the plan's scale."""

    def __init__(
        self,
        norm,
        horizon: int = 30,
        iterations: int = 5,
        lr: float = 0.1,
        gamma: float = 0.99,
        mask_speed: str = "max",
    ) -> None:
        super().__init__(None, horizon, iterations, lr, gamma, mask_speed=mask_speed, norm=norm)

    @torch.no_grad()
    def futures(self, episodes) -> torch.Tensor:
        from ebmlab.world.driving.data import reference_track
        from ebmlab.world.traffic.episodes import driven_on

        cx, cy = reference_track(self.states[:, -1], torch.arange(1, self.horizon + 1))
        return driven_on(episodes.others(), cx, cy, episodes.road)


class FutureMpc(ConstantVelocityMpc):
    """Gradient MPC whose world model is exact: the other cars' futures are the episodes' own
    (:meth:`~ebmlab.world.traffic.episodes.Episodes.future`), known ahead because they do not react to the ego
    car. Privileged, so not a driver for the test cars but a ceiling for planning, and an expert whose labels a
    policy that sees only the present can learn from (Chen, Zhou, Koltun & Krähenbühl, "Learning by Cheating",
    CoRL 2019)."""

    @torch.no_grad()
    def futures(self, episodes) -> torch.Tensor:
        from ebmlab.world.driving.data import reference_track
        from ebmlab.world.traffic.episodes import seen_from

        cx, cy = reference_track(self.states[:, -1], torch.arange(1, self.horizon + 1))
        return seen_from(episodes.future(self.horizon), cx, cy, episodes.road)


class FittedWorldMpc(ConstantVelocityMpc):
    """Gradient MPC through the world fitted to the recording: at every decision the other cars are driven on for
    ``horizon`` steps from the present (recorded) frame by IDM/MOBIL with the fitted parameters, no noise and no
    car entering (the mean future of the cars there now), the replaced car left in as a ghost its followers follow, as in replay mode. ``fit``: an
    :class:`~ebmlab.world.driving.imagined.IdmFit` of the training cars. Replay mode only: there the present
    frame is the recording's."""

    def __init__(self, norm, rec, fit, horizon: int = 30, iterations: int = 5, lr: float = 0.1, gamma: float = 0.99,
                 mask_speed: str = "max") -> None:  # fmt: skip
        import dataclasses

        super().__init__(norm, horizon, iterations, lr, gamma, mask_speed=mask_speed)
        self.rec, self.fit, self.world = rec, dataclasses.replace(fit, noise=0.0), None

    def start(self, episodes) -> None:
        from ebmlab.errors import ConfigError

        if episodes.mode != "replay" or hasattr(episodes, "offsets"):
            raise ConfigError("gradient MPC through the fitted world plans in replay mode only (--mode replay)")
        super().start(episodes)
        self.world = None

    @torch.no_grad()
    def futures(self, episodes) -> torch.Tensor:
        from ebmlab.world.driving.data import reference_track
        from ebmlab.world.driving.imagined import FittedTrafficWorld
        from ebmlab.world.traffic.episodes import seen_from

        offsets = episodes.t - episodes.start  # the present frame, counted from where each episode began
        if self.world is None:
            self.world = FittedTrafficWorld(self.rec, episodes.cars, offsets, self.horizon + 1, self.fit, inflow=False)
        else:
            self.world.offsets = offsets
            self.world.reset(torch.arange(len(episodes.cars)), episodes.cars)
        cx, cy = reference_track(self.states[:, -1], torch.arange(1, self.horizon + 1))
        return seen_from(self.world.future(self.horizon), cx, cy, episodes.road)
