"""A world model learned from pixels alone: an encoder, a predictor in embedding space and a cost, never the state.

``--observation pixels --perception jepa`` or ``reconstruction``. The agent
sees stacked grey frames o; an encoder h (:func:`~ebmlab.world.perception.conv_trunk`)
maps them to an embedding z = h(o), and the forward model, cost, value, planner
and policy all work on z as the state agent works on its state
(:class:`LatentWorld`: ``dynamics`` is a :class:`~ebmlab.world.models.ForwardModel`
of z, ``cost`` a :class:`~ebmlab.world.costs.LearnedCost` of z). The simulator's
state is kept in the replay buffer for diagnostics only; no loss reads it.

In the course's terms the model is an energy over (o, a, o'): the distance
between the predicted embedding f(h(o), a) and the encoded next one h(o'),
unrolled K steps along the agent's own trajectories (latent consistency, as
TD-MPC2 trains its model) with the cost predicted from the same imagined
embeddings. An energy that only compares embeddings is low everywhere if h maps
every frame to one point; what keeps it from collapsing is the objective:

- ``jepa``: VICReg's variance and covariance terms on the batch of embeddings
  (each coordinate's spread hinged at 1, the coordinates decorrelated; Bardes,
  Ponce & LeCun, ICLR 2022), beside the cost prediction, with targets from a
  target encoder (below) — a joint-embedding predictive architecture.
- ``reconstruction``: a pixel decoder that must redraw the frames from z (the
  representation of a generative world model such as PlaNet's or Dreamer's,
  deterministic here).

Targets h̄(o') come from a copy of the encoder frozen for ``target_every``
steps of the fit (a hard-updated target network; the whole buffer is encoded
once per refresh, so a step runs the encoder on one frame stack per
sequence only). The consistency error is the mean squared difference per
coordinate; VICReg's hinge holds the embeddings' spread at 1 or more (with a
decoder their scale is left free).
"""

from __future__ import annotations

import torch
from torch import nn

from ebmlab.data.trajectories import Transitions
from ebmlab.world.costs import LearnedCost
from ebmlab.world.models import ForwardModel
from ebmlab.world.perception import conv_trunk

__all__ = ["OBJECTIVES", "LatentWorld", "FrameEncoder", "FrameDecoder", "vicreg_terms", "fit_latent"]

OBJECTIVES = ("jepa", "reconstruction")


class FrameEncoder(nn.Module):
    """Frames (…×C×S×S uint8) → embeddings (…×d), the frames first centred on the data's mean frame and scaled
    by their spread over all pixels (a scene that changes in a few pixels, a pendulum's pole on a plain
    background, is otherwise nearly one input to a fresh network: its embeddings start collapsed, and a
    variance hinge has no gradient to lift them)."""

    def __init__(self, dim: int, size: int = 64, channels: int = 2) -> None:
        super().__init__()
        self.net = conv_trunk(channels, size, dim)
        self.register_buffer("mean_frame", torch.zeros(channels, size, size))
        self.register_buffer("frame_std", torch.ones(()))

    @torch.no_grad()
    def fit_statistics(self, frames: torch.Tensor, batch: int = 1000) -> None:
        total = sum(frames[i : i + batch].float().sum(0) for i in range(0, len(frames), batch))
        mean = total / (255.0 * len(frames))
        square = sum(((frames[i : i + batch].float() / 255.0 - mean) ** 2).sum() for i in range(0, len(frames), batch))
        self.mean_frame.copy_(mean)
        self.frame_std.copy_((square / frames.numel()).sqrt().clamp_min(1e-3))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        lead = frames.shape[:-3]
        x = (frames.reshape(-1, *frames.shape[-3:]).float() / 255.0 - self.mean_frame) / self.frame_std
        return self.net(x).reshape(*lead, -1)


class FrameDecoder(nn.Module):
    """Embeddings (N×d) → frames (N×C×S×S, in [0, 1] units): the encoder's layers mirrored, transposed."""

    def __init__(self, dim: int, size: int = 64, channels: int = 2) -> None:
        super().__init__()
        side = size // 8
        self.net = nn.Sequential(
            nn.Linear(dim, 256),
            nn.SiLU(),
            nn.Linear(256, 64 * side * side),
            nn.SiLU(),
            nn.Unflatten(1, (64, side, side)),
            nn.ConvTranspose2d(64, 64, 4, 2, 1),
            nn.SiLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.SiLU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def vicreg_terms(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """VICReg's variance term (mean over coordinates of relu(1 − std)) and covariance term (squared off-diagonal
    covariances summed, divided by the dimension) of a batch of embeddings (N×d)."""
    std = (z.var(0) + 1e-4).sqrt()
    centred = z - z.mean(0)
    cov = centred.T @ centred / (len(z) - 1)
    off = cov - torch.diag(torch.diag(cov))
    return torch.relu(1 - std).mean(), off.pow(2).sum() / z.shape[1]


class LatentWorld(nn.Module):
    """Encoder, embedding dynamics, cost (and decoder for ``reconstruction``), trained together by :meth:`loss`."""

    def __init__(
        self,
        act_dim: int,
        dim: int = 32,
        size: int = 64,
        channels: int = 2,
        hidden: int = 200,
        layers: int = 3,
        objective: str = "jepa",
        cov_weight: float = 0.04,
    ) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.objective, self.dim, self.cov_weight = objective, dim, cov_weight
        self.encoder = FrameEncoder(dim, size, channels)
        self.dynamics = ForwardModel(dim, act_dim, hidden, layers)
        self.cost = LearnedCost(dim, act_dim, hidden)
        self.decoder = FrameDecoder(dim, size, channels) if objective == "reconstruction" else None

    @torch.no_grad()
    def encoded(self, data: Transitions, batch: int = 500) -> Transitions:
        """The buffer with its states replaced by the embeddings of its frames (at s and at s')."""
        was = self.encoder.training
        self.encoder.eval()

        def embed(frames: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.encoder(frames[i : i + batch]) for i in range(0, len(frames), batch)])

        out = Transitions(self.dim, data.act.shape[1])
        out.load_state_dict(
            {
                "obs": embed(data.frames),
                "act": data.act,
                "reward": data.reward,
                "next_obs": embed(data.next_frames),
                "terminated": data.terminated,
                "episode": data.episode,
            }
        )
        self.encoder.train(was)
        return out

    @torch.no_grad()
    def fit_statistics(self, latent: Transitions) -> None:
        """The dynamics' and the cost's normalisation from encoded data."""
        self.dynamics.norm.fit(latent.obs, latent.act, latent.next_obs)
        self.cost.fit_statistics(latent.obs, latent.act, latent.next_obs, latent.reward)

    def loss(
        self,
        frames: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor,
        rho: float = 0.9,
    ) -> tuple[torch.Tensor, dict]:
        """From the frames at a sequence's start (B×C×S×S), its K actions (B×K×A), rewards (B×K), target
        embeddings h̄(o_{k+1}) (B×K×d) and mask (B×K: 1 while the sequence stays in its episode): the mean
        over steps, weighted ρ^k, of the consistency error (mean square per coordinate) and of the cost's
        normalised squared error, plus the objective's own terms."""
        z0 = self.encoder(frames)
        states = [z0]
        for k in range(actions.shape[1]):
            states.append(self.dynamics(states[-1], actions[:, k]))
        before, after = torch.stack(states[:-1], 1), torch.stack(states[1:], 1)
        weight = mask * rho ** torch.arange(actions.shape[1], dtype=mask.dtype)
        weight = weight / weight.sum()
        terms = {
            "consistency": (weight * ((after - targets) ** 2).mean(-1)).sum(),
            "cost": (weight * ((self.cost(before, actions, after) + rewards) / self.cost.cost_std) ** 2).sum(),
        }
        if self.decoder is None:
            terms["variance"], terms["covariance"] = vicreg_terms(z0)
            total = terms["consistency"] + terms["cost"] + terms["variance"] + self.cov_weight * terms["covariance"]
        else:  # squared error summed over pixels (a unit-variance Gaussian's log-likelihood, as PlaNet's)
            terms["reconstruction"] = ((self.decoder(z0) - frames.float() / 255.0) ** 2).sum((1, 2, 3)).mean()
            total = terms["consistency"] + terms["cost"] + terms["reconstruction"]
        return total, {k: v.detach() for k, v in terms.items()}


def fit_latent(
    world: LatentWorld,
    opt: torch.optim.Optimizer,
    data: Transitions,
    steps: int,
    batch: int,
    horizon: int,
    target_every: int,
    generator: torch.Generator,
) -> tuple[dict, Transitions]:
    """``steps`` Adam steps on sequences of ``horizon`` transitions from random starts (a sequence is masked
    past its episode's end); targets and normalisation refreshed every ``target_every`` steps. Returns the
    last step's terms and the buffer encoded by the fitted encoder."""
    n, terms = len(data), {}
    frames, act, reward, episode = data.frames, data.act, data.reward, data.episode
    world.train()
    world.encoder.fit_statistics(frames)
    for step in range(steps):
        if step % target_every == 0:
            latent = world.encoded(data)
            world.fit_statistics(latent)
            targets = latent.next_obs
        start = torch.randint(n, (batch,), generator=generator)
        idx = (start[:, None] + torch.arange(horizon)).clamp(max=n - 1)
        mask = (episode[idx] == episode[start][:, None]) & (idx - start[:, None] == torch.arange(horizon))
        loss, terms = world.loss(frames[start], act[idx], reward[idx], targets[idx], mask.float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    world.eval()  # the statistics stay those the last steps were trained with
    return {f"model_{k}": float(v) for k, v in terms.items()}, world.encoded(data)
