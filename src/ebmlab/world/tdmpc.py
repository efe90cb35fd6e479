"""TD-MPC2's recipe: a latent model with reward, termination and value heads, planned through by MPPI.

``ebmlab world train --actor mppi``. One network, :class:`~ebmlab.world.tdmpc.ValueWorld`, holds

- an encoder h(s) → z (symlog inputs; with ``--observation pixels``, stacked frames through the conv trunk of
  :class:`~ebmlab.world.latent.FrameEncoder`, trained by these losses only, never the state),
- latent dynamics z' = f(z, a),
- an outcome head: the reward r(z, a) and whether the step ends the episode, d(z, a),
- an ensemble of ``heads`` action values Q_i(z, a) with a Polyak target copy,
- a policy prior π(z): a squashed Gaussian,

every z a simplicial embedding (SimNorm: groups of 8 coordinates, each a
softmax). Trained together on sequences of ``horizon`` + 1 real steps
(:meth:`~ebmlab.world.tdmpc.ValueWorld.update`): the dynamics by latent consistency,
‖f(ẑ_t, a_t) − sg h(s_{t+1})‖² (no decoder, no reconstruction), the reward and
the value by cross-entropy on two-hot targets in symlog space (so one set of
bins serves rewards of 0.01 and returns of 900), Q's targets by temporal
differences,

    y_t = r_t + γ (1 − d_t) min(Q̄_i, Q̄_j)(h(s_{t+1}), π(h(s_{t+1}))),

two target heads drawn at random, nothing bootstrapped past a terminal step
(the ``terminated`` flag the environment gave, not a time limit), and the
termination head by binary cross-entropy on d_t — so plans know where an
imagined episode ends. The policy then climbs the average of two Q heads
(scaled by the running spread of Q) with a small entropy bonus, on the latent
states the model imagined.

Planning (:class:`~ebmlab.world.tdmpc.MPPI`): at each decision, action sequences over ``horizon``
steps — some from the policy prior, the rest from a Gaussian warm-started from
the previous decision — are scored by the episodic return the model predicts,

    G = Σ_t γ^t alive_t r(ẑ_t, a_t) + γ^H alive_H Q(ẑ_H, π(ẑ_H)),   alive_t = Π_{k<t} (1 − d(ẑ_k, a_k)),

and the Gaussian refitted to the elites weighted by exp(temperature · G); the
action is the first of an elite drawn by those weights. Hansen, Su & Wang,
"TD-MPC2: Scalable, Robust World Models for Continuous Control" (ICLR 2024);
the sizes here are smaller than theirs, for a CPU. Where TD-MPC2's users report
trouble with episodes that end on failure (issues #32, #62 and #73 of its
repository), this one treats termination throughout: no bootstrap after it in
the targets, and the planner's return stops there.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from ebmlab.world.latent import FrameEncoder
from ebmlab.world.td_value import td_targets

__all__ = ["ValueWorld", "MPPI", "symlog", "symexp", "two_hot", "SimNorm", "random_shift"]

BINS, LOW, HIGH = 101, -10.0, 10.0  # the support of the two-hot distributions, in symlog units
SHIFT = 3  # pixels a frame may move when it is learnt from (TD-MPC2's, at 64 × 64)


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


def two_hot(y: torch.Tensor) -> torch.Tensor:
    """Values (…) → distributions over the bins (…×BINS): symlog(y) split between its two neighbouring bins."""
    x = ((symlog(y).clamp(LOW, HIGH) - LOW) / (HIGH - LOW) * (BINS - 1)).clamp(0, BINS - 1 - 1e-6)
    lower = x.floor()
    upper_weight = x - lower
    out = torch.zeros(*y.shape, BINS, dtype=y.dtype)
    out.scatter_(-1, lower.long()[..., None], (1 - upper_weight)[..., None])
    out.scatter_add_(-1, lower.long()[..., None] + 1, upper_weight[..., None])
    return out


def decode(logits: torch.Tensor) -> torch.Tensor:
    """Logits over the bins (…×BINS) → the value their mean stands for (…)."""
    support = torch.linspace(LOW, HIGH, BINS, dtype=logits.dtype)
    return symexp((logits.softmax(-1) * support).sum(-1))


def two_hot_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the logits (…×BINS) against the two-hot targets of y (…)."""
    return -(two_hot(y) * logits.log_softmax(-1)).sum(-1)


def random_shift(frames: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Frames (…×C×S×S) each moved by a random whole number of pixels in [−pad, pad] along both axes, the edges
    repeated (DrQ's augmentation, which TD-MPC2 applies to every frame it learns from)."""
    x = frames.reshape(-1, *frames.shape[-3:])
    n, _, side, _ = x.shape
    padded = F.pad(x.float(), (pad,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(side))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(side))[:, None, None, :]
    moved = padded[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None], rows, cols]
    return moved.to(frames.dtype).reshape(frames.shape)


class SimNorm(nn.Module):
    """Groups of ``group`` coordinates, each mapped to a simplex by a softmax (simplicial normalisation)."""

    def __init__(self, group: int = 8) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # written out: torch's softmax over a last dimension of 8 is 4x slower on a CPU (2x with its backward)
        x = x.unflatten(-1, (-1, self.group))
        e = (x - x.amax(-1, keepdim=True).detach()).exp()
        return (e / e.sum(-1, keepdim=True)).flatten(-2)


def _block(n_in: int, n_out: int, dropout: float = 0.0) -> list[nn.Module]:
    return [nn.Linear(n_in, n_out), nn.LayerNorm(n_out), nn.SiLU(), *([nn.Dropout(dropout)] if dropout else [])]


def _net(n_in: int, hidden: int, n_out: int, last: nn.Module | None = None, dropout: float = 0.0) -> nn.Sequential:
    out = nn.Linear(hidden, n_out)
    if last is None:  # a head over bins starts at zero: every value equally likely
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
    return nn.Sequential(*_block(n_in, hidden, dropout), *_block(hidden, hidden), out, *([last] if last else []))


class ValueWorld(nn.Module):
    """The encoder, dynamics, outcome head, Q ensemble and policy prior of TD-MPC2's recipe (see the module doc).
    Actions inside are in [−1, 1] units; :meth:`~ebmlab.world.tdmpc.ValueWorld.unit` and :meth:`~ebmlab.world.tdmpc.ValueWorld.env_action` convert."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        low: torch.Tensor,
        high: torch.Tensor,
        latent: int = 64,
        hidden: int = 256,
        heads: int = 5,
        gamma: float = 0.99,
        tau: float = 0.01,
        frames: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if latent % 8:
            raise ValueError(f"the latent size must be a multiple of 8 (SimNorm's groups), got {latent}")
        self.act_dim, self.gamma, self.tau = act_dim, gamma, tau
        self.pixels = frames is not None  # (channels, side) of the stacked frames it sees instead of the state
        if self.pixels:
            self.encoder = nn.Sequential(FrameEncoder(latent, frames[1], frames[0]), SimNorm())
        else:
            self.encoder = _net(obs_dim, hidden, latent, SimNorm())
        self.dynamics = _net(latent + act_dim, hidden, latent, SimNorm())
        self.outcome = _net(latent + act_dim, hidden, BINS + 1)  # reward bins, then the termination logit
        self.q = nn.ModuleList(_net(latent + act_dim, hidden, BINS) for _ in range(heads))
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.policy = _net(latent, hidden, 2 * act_dim, nn.Identity())
        self.register_buffer("low", low.clone())
        self.register_buffer("high", high.clone())
        self.register_buffer("q_scale", torch.ones(()))
        self.register_buffer("frames_fitted", torch.tensor(False))

    @torch.no_grad()
    def fit_frame_statistics(self, frames: torch.Tensor) -> None:
        """The frames' mean and spread, once (from the first data; they then stay, for the encoder's sake)."""
        if self.pixels and not self.frames_fitted:
            self.encoder[0].fit_statistics(frames)
            self.frames_fitted.fill_(True)

    def unit(self, action: torch.Tensor) -> torch.Tensor:
        return 2 * (action - self.low) / (self.high - self.low) - 1

    def env_action(self, action: torch.Tensor) -> torch.Tensor:
        return self.low + (action.clamp(-1, 1) + 1) / 2 * (self.high - self.low)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.encoder(obs) if self.pixels else self.encoder(symlog(obs))

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.dynamics(torch.cat([z, a], -1))

    def reward_and_end(self, z: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The predicted reward and probability that the step ends the episode."""
        out = self.outcome(torch.cat([z, a], -1))
        return decode(out[..., :BINS]), torch.sigmoid(out[..., BINS])

    def pi(self, z: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A squashed Gaussian's sample (…×A) and its log-density (…)."""
        mean, log_std = self.policy(z).chunk(2, -1)
        log_std = -10 + 6 * (torch.tanh(log_std) + 1)  # in [−10, 2]
        noise = torch.randn(mean.shape, generator=generator)
        x = mean + noise * log_std.exp()
        logp = (-0.5 * noise**2 - log_std - 0.5 * torch.log(torch.tensor(2 * torch.pi))).sum(-1)
        action = torch.tanh(x)
        return action, logp - torch.log((1 - action**2).clamp_min(1e-6)).sum(-1)

    def q_values(self, z: torch.Tensor, a: torch.Tensor, generator: torch.Generator, how: str, target=False):
        """Two heads drawn at random, their ``min`` (targets) or ``avg`` (planning, the policy)."""
        heads = self.q_target if target else self.q
        pair = torch.randperm(len(heads), generator=generator)[:2]
        x = torch.cat([z, a], -1)
        values = torch.stack([decode(heads[int(i)](x)) for i in pair])
        return values.min(0).values if how == "min" else values.mean(0)

    def update(
        self,
        obs: torch.Tensor,
        next_obs: torch.Tensor,
        act: torch.Tensor,
        reward: torch.Tensor,
        terminated: torch.Tensor,
        mask: torch.Tensor,
        opt: torch.optim.Optimizer,
        policy_opt: torch.optim.Optimizer,
        generator: torch.Generator,
        rho: float = 0.5,
        entropy: float = 1e-4,
    ) -> dict:
        """One step of the model and Q (and one of the policy) on B sequences: the start states (B×D), the next
        states, actions in [−1, 1] units, rewards, terminations and masks (B×H: 1 while in the start's episode)."""
        horizon = act.shape[1]
        if self.pixels:  # every frame moved by up to 3 pixels (frames of 64 × 64), each time it is learnt from
            obs, next_obs = random_shift(obs, SHIFT, generator), random_shift(next_obs, SHIFT, generator)
        weight = mask * rho ** torch.arange(horizon, dtype=mask.dtype)
        weight = weight / weight.sum()
        with torch.no_grad():
            targets = self.encode(next_obs)  # B×H×L
            next_action, _ = self.pi(targets, generator)
            bootstrap = self.q_values(targets, next_action, generator, "min", target=True)
            y = td_targets(reward, bootstrap, terminated, self.gamma)  # nothing after a terminal step
        z = [self.encode(obs)]
        for t in range(horizon):
            z.append(self.step(z[-1], act[:, t]))
        before, after = torch.stack(z[:-1], 1), torch.stack(z[1:], 1)
        x = torch.cat([before, act], -1)
        outcome = self.outcome(x)
        terms = {
            "consistency": (weight * ((after - targets) ** 2).mean(-1)).sum(),
            "reward": (weight * two_hot_loss(outcome[..., :BINS], reward)).sum(),
            "termination": (
                weight * F.binary_cross_entropy_with_logits(outcome[..., BINS], terminated, reduction="none")
            ).sum(),
            "value": sum((weight * two_hot_loss(head(x), y)).sum() for head in self.q) / len(self.q),
        }
        loss = 20 * terms["consistency"] + 0.1 * terms["reward"] + terms["termination"] + 0.1 * terms["value"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 20.0)
        opt.step()

        latent = before.detach()
        action, logp = self.pi(latent, generator)
        q = self.q_values(latent, action, generator, "avg")
        with torch.no_grad():  # Q's spread (5th to 95th percentile), followed slowly: the policy's step size
            spread = torch.quantile(q[:, 0], 0.95) - torch.quantile(q[:, 0], 0.05)
            self.q_scale.lerp_(spread.clamp_min(1.0), 0.01)
        policy_loss = (weight * (entropy * logp - q / self.q_scale)).sum()
        policy_opt.zero_grad(set_to_none=True)
        policy_loss.backward()
        nn.utils.clip_grad_norm_(self.policy.parameters(), 20.0)
        policy_opt.step()
        with torch.no_grad():
            for p, target in zip(self.q.parameters(), self.q_target.parameters(), strict=True):
                target.lerp_(p, self.tau)
        terms["policy"] = policy_loss
        return {k: float(v.detach()) for k, v in terms.items()}

    def planned_return(self, z: torch.Tensor, actions: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """G (see the module doc) of the plans ``actions`` (N×H×A) from the latent states z (N×L)."""
        total, alive, discount = 0.0, torch.ones(len(z)), 1.0
        for t in range(actions.shape[1]):
            reward, end = self.reward_and_end(z, actions[:, t])
            total = total + discount * alive * reward
            alive, discount = alive * (1 - end), discount * self.gamma
            z = self.step(z, actions[:, t])
        action, _ = self.pi(z, generator)
        return total + discount * alive * self.q_values(z, action, generator, "avg")


class MPPI:
    """Model-predictive path integral control over a :class:`~ebmlab.world.tdmpc.ValueWorld` with its policy prior (see the module
    doc); TD-MPC2's numbers of samples, elites and iterations unless told."""

    def __init__(
        self,
        world: ValueWorld,
        horizon: int,
        generator: torch.Generator,
        samples: int = 512,
        elites: int = 64,
        policy_samples: int = 24,
        iterations: int = 6,
        temperature: float = 0.5,
        min_std: float = 0.05,
        max_std: float = 2.0,
    ) -> None:
        self.world, self.horizon, self.generator = world, horizon, generator
        self.samples, self.elites, self.policy_samples, self.iterations = samples, elites, policy_samples, iterations
        self.temperature, self.min_std, self.max_std = temperature, min_std, max_std
        self.previous: torch.Tensor | None = None

    def reset(self) -> None:
        self.previous = None

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        world, g, H, A = self.world, self.generator, self.horizon, self.world.act_dim
        z = world.encode(torch.as_tensor(obs)[None])
        prior, zp = [], z.expand(self.policy_samples, -1)
        for _ in range(H):
            action, _ = world.pi(zp, g)
            prior.append(action)
            zp = world.step(zp, action)
        prior = torch.stack(prior, 1)
        mean = torch.zeros(H, A)
        if self.previous is not None:
            mean[:-1] = self.previous[1:]
        std = torch.full((H, A), self.max_std)
        zs = z.expand(self.samples, -1)
        for _ in range(self.iterations):
            noise = torch.randn(self.samples - self.policy_samples, H, A, generator=g)
            actions = torch.cat([prior, (mean + std * noise).clamp(-1, 1)])
            value = world.planned_return(zs, actions, g)
            value, index = value.topk(self.elites)
            elite = actions[index]
            score = torch.exp(self.temperature * (value - value.max()))
            score = score / score.sum()
            mean = (score[:, None, None] * elite).sum(0)
            std = (score[:, None, None] * (elite - mean) ** 2).sum(0).sqrt().clamp(self.min_std, self.max_std)
        chosen = elite[torch.multinomial(score, 1, generator=g)[0]]
        self.previous = mean
        return world.env_action(chosen[0])


def value_world_optimisers(world: ValueWorld, lr: float) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for the model and Q (the encoder at 0.3 × ``lr``, as TD-MPC2) and Adam for the policy prior."""
    rest = [p for name, p in world.named_parameters() if not name.startswith(("encoder.", "policy.", "q_target."))]
    opt = torch.optim.Adam([{"params": list(world.encoder.parameters()), "lr": 0.3 * lr}, {"params": rest}], lr=lr)
    return opt, torch.optim.Adam(world.policy.parameters(), lr=lr, eps=1e-5)


def fit_value_world(
    world: ValueWorld,
    opt: torch.optim.Optimizer,
    policy_opt: torch.optim.Optimizer,
    data,
    steps: int,
    batch: int,
    horizon: int,
    generator: torch.Generator,
) -> dict:
    """``steps`` updates (:meth:`~ebmlab.world.tdmpc.ValueWorld.update`) on sequences of ``horizon`` transitions from random starts
    in the buffer, each masked past its episode's end; returns the last update's terms."""
    n, terms = len(data), {}
    obs = data.frames if world.pixels else data.obs
    next_obs = data.next_frames if world.pixels else data.next_obs
    world.fit_frame_statistics(obs)
    world.train()
    for _ in range(steps):
        start = torch.randint(n, (batch,), generator=generator)
        idx = (start[:, None] + torch.arange(horizon)).clamp(max=n - 1)
        mask = (data.episode[idx] == data.episode[start][:, None]) & (idx - start[:, None] == torch.arange(horizon))
        terms = world.update(
            obs[start],
            next_obs[idx],
            world.unit(data.act[idx]),
            data.reward[idx],
            data.terminated[idx].float(),
            mask.float(),
            opt,
            policy_opt,
            generator,
        )
    world.eval()
    return {f"model_{k}": v for k, v in terms.items()}
