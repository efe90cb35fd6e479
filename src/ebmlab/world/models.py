"""Forward models ŝ_{t+1} = s_t + g(s_t, a_t, z_t): deterministic, with a latent variable, or an ensemble.

The network g predicts the change of state, in units normalised by the data's
statistics (:class:`Normaliser`, fitted to the replay buffer before each fit).

- Deterministic: z is absent; the loss is the squared error of the change.
- Latent variable (aleatoric uncertainty; Henaff, Canziani & LeCun, ICLR 2019,
  "Model-predictive policy learning with uncertainty regularization"): an
  encoder q(z | s, a, s') infers z from the true next state during training,
  its information limited by a KL term to N(0, I) and by setting z to zero for
  a fraction ``z_dropout`` of the samples (one half by default), so that the
  deterministic part predicts all it can; at planning time z = 0 (the mean
  outcome) or z ~ N(0, I) (a sampled future).
- Ensemble (epistemic uncertainty): K independently initialised members fitted
  on the same data; their spread is the model's doubt. MC dropout
  (``dropout`` > 0, kept on at prediction) is the cheaper alternative.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Normaliser", "ForwardModel", "Ensemble", "PendulumDynamics", "mlp", "spread"]


def mlp(n_in: int, n_out: int, hidden: int, layers: int, dropout: float = 0.0) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(n_in if i == 0 else hidden, hidden), nn.SiLU()]
        if dropout > 0:
            mods.append(nn.Dropout(dropout))
    mods.append(nn.Linear(hidden if layers else n_in, n_out))
    return nn.Sequential(*mods)


def spread(x: torch.Tensor) -> torch.Tensor:
    """The standard deviation of the rows of ``x``, at least 1e-6 (a constant feature is not divided by zero); ones
    for a single row."""
    return x.std(0).clamp_min(1e-6) if len(x) > 1 else torch.ones(x.shape[1])


class Normaliser(nn.Module):
    """Mean and standard deviation of states, actions and state changes (buffers, saved with the model)."""

    def __init__(self, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        for name, dim in (("obs", obs_dim), ("act", act_dim), ("delta", obs_dim)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor) -> None:
        """Statistics of the data; those of states over both ends of the transitions, since a rollout feeds
        predicted next states back in (a feature seen only in terminal states, as InvertedDoublePendulum's
        constraint force, would otherwise be divided by a zero spread and blow the rollout up)."""
        states = torch.cat([obs, next_obs])
        for name, x in (("obs", states), ("act", act), ("delta", next_obs - obs)):
            getattr(self, f"{name}_mean").copy_(x.mean(0))
            getattr(self, f"{name}_std").copy_(spread(x))

    def inputs(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return torch.cat([(obs - self.obs_mean) / self.obs_std, (act - self.act_mean) / self.act_std], dim=-1)


class ForwardModel(nn.Module):
    """ŝ' = s + μ_Δ + σ_Δ · g(norm(s), norm(a), z); ``latent_dim`` > 0 adds the latent variable z."""

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: int = 200, layers: int = 3, latent_dim: int = 0, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.latent_dim = obs_dim, act_dim, latent_dim
        self.norm = Normaliser(obs_dim, act_dim)
        self.g = mlp(obs_dim + act_dim + latent_dim, obs_dim, hidden, layers, dropout)
        if latent_dim:
            # q(z | s, a, s'): mean and log-variance from the inputs and the normalised true change
            self.posterior = mlp(2 * obs_dim + act_dim, 2 * latent_dim, hidden, 1)

    def forward(self, obs: torch.Tensor, act: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm.inputs(obs, act)
        if self.latent_dim:
            if z is None:
                z = x.new_zeros(x.shape[:-1] + (self.latent_dim,))
            x = torch.cat([x, z], dim=-1)
        return obs + self.norm.delta_mean + self.norm.delta_std * self.g(x)

    def loss(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        next_obs: torch.Tensor,
        kl_weight: float = 1.0,
        z_dropout: float = 0.5,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict]:
        """Squared error of the normalised change (+ kl_weight · KL(q(z|s,a,s') ‖ N(0, I)) with a latent)."""
        x = self.norm.inputs(obs, act)
        target = (next_obs - obs - self.norm.delta_mean) / self.norm.delta_std
        terms = {}
        if self.latent_dim:
            mean, logvar = self.posterior(torch.cat([x, target], dim=-1)).chunk(2, dim=-1)
            noise = torch.randn(mean.shape, generator=generator).to(mean)
            z = mean + (0.5 * logvar).exp() * noise
            keep = (torch.rand(len(z), 1, generator=generator) >= z_dropout).to(z)  # z := 0 for a fraction
            x = torch.cat([x, z * keep], dim=-1)
            terms["kl"] = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(-1).mean()
        terms["prediction"] = ((self.g(x) - target) ** 2).sum(-1).mean()
        total = terms["prediction"] + kl_weight * terms.get("kl", 0.0)
        return total, {k: v.detach() for k, v in terms.items()}


class Ensemble(nn.Module):
    """K forward models; forward returns the members' mean prediction, :meth:`members` each one (K×…)."""

    def __init__(self, models: list[ForwardModel]) -> None:
        super().__init__()
        self.models = nn.ModuleList(models)
        self.obs_dim, self.act_dim, self.latent_dim = models[0].obs_dim, models[0].act_dim, 0

    def members(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(obs, act) for m in self.models])

    def forward(self, obs: torch.Tensor, act: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        return self.members(obs, act).mean(0)


class PendulumDynamics(nn.Module):
    """Pendulum-v1's own step on its observations (cos θ, sin θ, θ̇), written in torch: the true model, an oracle
    to plan through in place of a learned one (g = 10, m = l = 1, dt = 0.05, |u| ≤ 2, |θ̇| ≤ 8):

        θ̇' = clip(θ̇ + (3g/2 · sin θ + 3u) · dt, −8, 8),    θ' = θ + θ̇' · dt.
    """

    def forward(self, obs: torch.Tensor, act: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        theta, speed = torch.atan2(obs[..., 1], obs[..., 0]), obs[..., 2]
        speed = (speed + (15.0 * torch.sin(theta) + 3.0 * act[..., 0].clamp(-2, 2)) * 0.05).clamp(-8, 8)
        theta = theta + speed * 0.05
        return torch.stack([torch.cos(theta), torch.sin(theta), speed], -1)
