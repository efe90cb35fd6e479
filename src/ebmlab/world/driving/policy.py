"""Driving policies trained on recorded traffic only, three ways (Henaff, Canziani & LeCun, ICLR 2019):

- ``imitation``: 1-step imitation, ‖π(past) − a_recorded‖² on normalised actions;
- ``mper``: model-predictive policy learning with expert regularisation — π drives
  the forward model for ``horizon`` steps from a recorded past and pays for
  leaving the recorded driver's future, ‖ŝ − s‖² + ‖î − i‖²;
- ``mpur``: model-predictive policy learning with uncertainty regularisation — π
  drives the stochastic model (z ~ N(0, I)) for ``horizon`` steps and pays the
  discounted cost Σ_t γ^t [proximity + 0.2 lane + 1.0 off-road] of the predicted
  images, plus λ_u · Σ_t [u_t − τ]⁺, where u_t is the variance, over ``samples``
  dropout masks of the model, of its predicted images, states and costs,
  normalised by its statistics on training data, and hinged at τ = 0.5. The
  penalty keeps π where the model is sure, so it cannot exploit the model's errors.

In energy terms π is amortised inference: it predicts the action sequence that
minimises the trajectory's energy, which MPC (:mod:`ebmlab.world.driving.mpc`)
finds by gradient descent for each state instead.
"""

from __future__ import annotations

import torch
from torch import nn

from ebmlab.world.driving.data import Normalisation
from ebmlab.world.driving.model import FrameEncoder, TrafficModel
from ebmlab.world.traffic.image_costs import COST_WEIGHTS, image_costs
from ebmlab.world.traffic.image_costs import mask_speed as mask_speed_of
from ebmlab.world.traffic.kinematics import ACTION_HIGH, ACTION_LOW
from ebmlab.world.traffic.recording import CONDITIONING

__all__ = ["DrivingPolicy", "rollout", "dropout_uncertainty", "imitation_loss", "mper_loss", "mpur_loss", "KINDS"]

KINDS = ("imitation", "mper", "mpur")


class DrivingPolicy(nn.Module):
    """a = π(last CONDITIONING frames, states): its own frame encoder, an MLP, actions within the bounds."""

    def __init__(self, frame_dim: int = 64, hidden: int = 256, width: int = 16) -> None:
        super().__init__()
        self.norm = Normalisation()
        self.encoder = FrameEncoder(frame_dim, width)
        self.net = nn.Sequential(
            nn.Linear(CONDITIONING * (frame_dim + 4), hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2),
        )
        self.register_buffer("low", torch.tensor(ACTION_LOW))
        self.register_buffer("high", torch.tensor(ACTION_HIGH))

    def normalised(self, codes: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """The action in the training split's normalised units, from frame codes B×C×d and states B×C×4."""
        return self.net(torch.cat([codes, self.norm.states(states)], -1).flatten(1))

    def act(self, codes: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """B×2 actions in physical units, within the kinematics' bounds."""
        a = self.norm.unactions(self.normalised(codes, states))
        return torch.maximum(torch.minimum(a, self.high), self.low)

    def forward(self, images: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        return self.act(self.encoder(images), states)


def _costs(images: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """PPUU's weighted cost of predicted images (…×4×H×W) at the speeds of predicted states (…×4): … ."""
    c = image_costs(images, states[..., 2:].norm(dim=-1))
    return sum(COST_WEIGHTS[k] * c[k] for k in COST_WEIGHTS)


def dropout_uncertainty(
    model: TrafficModel, images, states, actions, samples: int = 10, generator=None, codes=None, z=None, last=None
) -> torch.Tensor:
    """B×3: the variance over ``samples`` dropout masks of the model's next image, state and cost (one step)."""
    B = len(states)
    codes = model.encoder(images) if codes is None else codes
    last = images[:, -1] if last is None else last
    rep = lambda t: t.repeat_interleave(samples, 0)  # noqa: E731
    was = model.training
    model.past.train()
    if z is None and model.latent_dim:
        z = torch.randn(B, model.latent_dim, generator=generator).to(states)
    image, state, _ = model.step(
        rep(codes), rep(states), rep(last), rep(actions[:, 0]), z=None if z is None else rep(z)
    )
    model.train(was)
    cost = _costs(image, state).view(B, samples)
    image, state = image.view(B, samples, -1), model.norm.states(state).view(B, samples, -1)
    return torch.stack([image.var(1).mean(-1), state.var(1).mean(-1), cost.var(1)], -1)


def rollout(
    model: TrafficModel,
    policy: DrivingPolicy,
    images: torch.Tensor,
    states: torch.Tensor,
    horizon: int,
    generator=None,
    uncertainty_samples: int = 0,
) -> dict[str, torch.Tensor]:
    """π drives the model ``horizon`` steps from recorded pasts (images B×C×…, states B×C×4), z ~ N(0, I).
    Returns predicted images B×T×…, states B×T×4, actions B×T×2 and (with ``uncertainty_samples``) the
    normalised dropout uncertainty B×T×3."""
    m_codes, p_codes = model.encoder(images), policy.encoder(images)
    out = {"images": [], "states": [], "actions": [], "uncertainty": []}
    last = images[:, -1]
    for _ in range(horizon):
        a = policy.act(p_codes, states)
        z = torch.randn(len(a), model.latent_dim, generator=generator).to(a) if model.latent_dim else None
        image, state, _ = model.step(m_codes, states, last, a, z=z)
        if uncertainty_samples:
            u = dropout_uncertainty(model, None, states, a[:, None], uncertainty_samples, generator, m_codes, z, last)
            out["uncertainty"].append((u - model.uncertainty_mean) / model.uncertainty_std)
        out["images"].append(image), out["states"].append(state), out["actions"].append(a)
        last = image
        m_codes = torch.cat([m_codes[:, 1:], model.encoder(image)[:, None]], 1)
        p_codes = torch.cat([p_codes[:, 1:], policy.encoder(image)[:, None]], 1)
        states = torch.cat([states[:, 1:], state[:, None]], 1)
    return {k: torch.stack(v, 1) for k, v in out.items() if v}


def imitation_loss(policy: DrivingPolicy, window: dict) -> tuple[torch.Tensor, dict]:
    C = CONDITIONING
    pred = policy.normalised(policy.encoder(window["images"][:, :C]), window["states"][:, :C])
    loss = ((pred - policy.norm.actions(window["actions"][:, 0])) ** 2).mean()
    return loss, {"imitation_mse": loss.detach()}


def mper_loss(policy: DrivingPolicy, model: TrafficModel, window: dict, horizon: int, generator=None):
    C = CONDITIONING
    out = rollout(model, policy, window["images"][:, :C], window["states"][:, :C], horizon, generator)
    real_s, real_i = window["states"][:, C : C + horizon], window["images"][:, C : C + horizon]
    state = ((model.norm.states(out["states"]) - model.norm.states(real_s)) ** 2).mean()
    image = ((out["images"] - real_i) ** 2).mean()
    return state + image, {"state_mse": state.detach(), "image_mse": image.detach()}


def mpur_loss(
    policy: DrivingPolicy,
    model: TrafficModel,
    window: dict,
    horizon: int,
    gamma: float = 0.99,
    uncertainty_weight: float = 0.05,
    threshold: float = 0.5,
    samples: int = 10,
    generator=None,
    mask_speed: str = "own",
):
    """MPUR's loss from the windows' pasts; ``mask_speed`` sizes the proximity mask by the ego's own predicted
    speed (``own``, PPUU), its speed at the window's last frame (``start``) or the larger (``max``):
    :func:`~ebmlab.world.traffic.image_costs.mask_speed`."""
    C = CONDITIONING
    out = rollout(
        model,
        policy,
        window["images"][:, :C],
        window["states"][:, :C],
        horizon,
        generator,
        uncertainty_samples=samples if uncertainty_weight > 0 else 0,
    )
    discount = gamma ** torch.arange(horizon, dtype=torch.float32)
    start = window["states"][:, C - 1, 2:].norm(dim=-1)[:, None]
    costs = image_costs(out["images"], mask_speed_of(out["states"][..., 2:].norm(dim=-1), start, mask_speed))
    weighted = sum(COST_WEIGHTS[k] * costs[k] for k in COST_WEIGHTS)
    task = (weighted * discount).sum(1).mean()
    terms = {k: costs[k].mean().detach() for k in costs}
    total = task
    if uncertainty_weight > 0:
        penalty = (out["uncertainty"] - threshold).clamp_min(0).sum(-1).sum(1).mean()
        total = total + uncertainty_weight * penalty
        terms["uncertainty"] = penalty.detach()
    terms["task_cost"] = task.detach()
    terms["speed"] = out["states"][..., 2:].norm(dim=-1).mean().detach()
    return total, terms
