"""PPUU's forward model of ego-centred traffic views: 20 frames and states in, the next frame and state out.

Henaff, Canziani & LeCun (ICLR 2019), section 2 and their code: a deterministic
predictor f(s_{t−19..t}, a_t) of the next image and state, and a stochastic one
with a latent z_t for what the past cannot tell (what the other drivers will
do). In the course's terms it is an energy over (past, action, next) with a
regularised latent:

    E = ‖ î_{t+1} − i_{t+1} ‖² + ‖ ŝ_{t+1} − s_{t+1} ‖²,     î, ŝ = f(past, a_t, z_t),

z_t inferred by a posterior q(z | past, next) during training, its
information limited by β · KL(q ‖ N(0, I)) (β about 1e-6) and by drawing z
from the prior N(0, I) instead for half of the samples (z-dropout 0.5), so
that the deterministic path predicts all it can. At planning time z ~ N(0, I).

Here each frame (4×117×24) is encoded once into a vector by a small CNN, the
last 20 encodings and states go through an MLP with dropout (whose masks give
the epistemic uncertainty of MPUR), the action and z are added to its hidden
state, and a decoder draws the next frame; the next state is the last plus a
predicted change, in the units of the training split's statistics. Unrolled,
predicted frames are fed back in (as PPUU trains it: 20 predicted frames).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ebmlab.world.driving.data import Normalisation
from ebmlab.world.traffic.kinematics import kinematic_step
from ebmlab.world.traffic.raster import HEIGHT, WIDTH
from ebmlab.world.traffic.recording import CONDITIONING
from ebmlab.world.traffic.road import Road

__all__ = ["FrameEncoder", "FrameDecoder", "TrafficModel", "STATE_WEIGHT", "EGO_MODELS", "kinematic_state_step"]

EGO_MODELS = ("learned", "kinematic")


def kinematic_state_step(state: torch.Tensor, action: torch.Tensor, dt: float = Road.dt) -> torch.Tensor:
    """The next state (x, y, vx, vy: B×4) of a car in ``state`` under ``action`` (B×2, physical units, clipped
    by the caller), by the kinematics every car moves by; differentiable."""
    v = state[:, 2:].norm(dim=-1)
    psi = torch.atan2(state[:, 3], state[:, 2])
    x, y, psi, v = kinematic_step(state[:, 0], state[:, 1], psi, v, action[:, 0], action[:, 1], dt)
    return torch.stack([x, y, v * torch.cos(psi), v * torch.sin(psi)], -1)


STATE_WEIGHT = 0.02  # the state error (in one-step changes, ~1) beside the image error (per pixel, ~0.01)


class FrameEncoder(nn.Module):
    """4×117×24 image → ``dim`` vector (three strided convolutions, then a linear map)."""

    def __init__(self, dim: int = 128, width: int = 16) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(4, width, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n = self.conv(torch.zeros(1, 4, HEIGHT, WIDTH)).shape[1]
        self.out = nn.Linear(n, dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        lead = images.shape[:-3]
        return self.out(self.conv(images.reshape(-1, 4, HEIGHT, WIDTH))).view(*lead, -1)


class FrameDecoder(nn.Module):
    """(``dim`` vector, last frame) → next frame: transposed convolutions back through the encoder's sizes to
    full-resolution features, which two convolutions read beside the last frame to predict the change,
    î_{t+1} = clamp(i_t + Δ, 0, 1). Between frames 0.1 s apart little moves, so the model starts from the
    last frame and learns the motion (a vector-to-image decoder alone learns the average frame first)."""

    def __init__(self, dim: int = 256, width: int = 16) -> None:
        super().__init__()
        self.width = width
        self.inp = nn.Linear(dim, 2 * width * 15 * 3)
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * width, 2 * width, 3, 2, 1, output_padding=(0, 1)),
            nn.ReLU(),  # 29×6
            nn.ConvTranspose2d(2 * width, width, 3, 2, 1, output_padding=(1, 1)),
            nn.ReLU(),  # 58×12
            nn.ConvTranspose2d(width, 8, 4, 2, 1, output_padding=(1, 0)),
            nn.ReLU(),
        )  # 117×24
        self.change = nn.Sequential(nn.Conv2d(8 + 4, 8, 3, 1, 1), nn.ReLU(), nn.Conv2d(8, 4, 3, 1, 1))

    def forward(self, h: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        features = self.deconv(F.relu(self.inp(h)).view(-1, 2 * self.width, 15, 3))
        return (last + self.change(torch.cat([features, last], 1))).clamp(0.0, 1.0)


class TrafficModel(nn.Module):
    """f(frames, states, action, z) → next frame and state; ``latent_dim`` 0: deterministic."""

    def __init__(
        self,
        latent_dim: int = 0,
        frame_dim: int = 128,
        hidden: int = 256,
        dropout: float = 0.1,
        width: int = 16,
        ego: str = "learned",
    ) -> None:
        super().__init__()
        if ego not in EGO_MODELS:
            from ebmlab.errors import ConfigError

            raise ConfigError(f"unknown ego model {ego!r}; choose one of {', '.join(EGO_MODELS)}")
        self.latent_dim, self.hidden, self.frame_dim, self.ego = latent_dim, hidden, frame_dim, ego
        self.kinematic = ego == "kinematic"
        self.norm = Normalisation()
        self.encoder = FrameEncoder(frame_dim, width)
        seen = frame_dim if self.kinematic else frame_dim + 4
        self.past = nn.Sequential(
            nn.Linear(CONDITIONING * seen, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.decoder = FrameDecoder(hidden, width)
        if not self.kinematic:
            self.action = nn.Linear(2, hidden)
            # the next state from the hidden state and, directly, the last state and the action (nearly kinematics)
            self.state_head = nn.Sequential(nn.Linear(hidden + 6, hidden), nn.ReLU(), nn.Linear(hidden, 4))
        if latent_dim:
            self.z_in = nn.Linear(latent_dim, hidden)
            self.posterior = nn.Sequential(
                nn.Linear(hidden + frame_dim + 4, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim)
            )
        # statistics of the MPUR uncertainty over training windows (set after training; used to normalise it)
        self.register_buffer("uncertainty_mean", torch.zeros(3))
        self.register_buffer("uncertainty_std", torch.ones(3))

    # ------------------------------------------------------------------ one step
    def _hidden(self, codes: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """Hidden state from the last CONDITIONING frame codes (B×C×d) and states (B×C×4; not with a kinematic ego)."""
        if self.kinematic:
            return self.past(codes.flatten(1))
        return self.past(torch.cat([codes, self.norm.states(states)], -1).flatten(1))

    def step(
        self,
        codes,
        states,
        last,
        action,
        z=None,
        next_code=None,
        next_state=None,
        z_dropout: float = 0.0,
        generator=None,
    ):
        """One prediction from frame codes B×C×d, states B×C×4 and the last frame B×4×H×W. ``action`` B×2 in
        physical units. With a latent: z given, or inferred from (next_code, next_state) by the posterior
        (training), or drawn from the prior. Returns (image, state, kl)."""
        h = self._hidden(codes, states)
        pre = h
        if not self.kinematic:
            h = h + self.action(self.norm.actions(action))
        kl = h.new_zeros(())
        if self.latent_dim:
            if z is None and next_code is not None:
                target = (next_state - states[:, -1] - self.norm.delta_mean) / self.norm.delta_std
                mean, logvar = self.posterior(torch.cat([pre, next_code, target], -1)).chunk(2, -1)
                logvar = logvar.clamp(-8.0, 4.0)  # keeps exp(logvar) finite while β is tiny
                mean = 5.0 * torch.tanh(mean / 5.0)  # and z within the prior's range
                z = mean + (0.5 * logvar).exp() * torch.randn(mean.shape, generator=generator).to(mean)
                kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(-1).mean()
                if z_dropout > 0:  # z from the prior for a fraction of the samples
                    prior = torch.rand(len(z), 1, generator=generator).to(z) < z_dropout
                    z = torch.where(prior, torch.randn(z.shape, generator=generator).to(z), z)
            elif z is None:
                z = torch.randn(len(h), self.latent_dim, generator=generator).to(h)
            h = h + self.z_in(z)
        image = self.decoder(h, last)
        if self.kinematic:
            return image, kinematic_state_step(states[:, -1], action), kl
        direct = torch.cat([h, self.norm.states(states[:, -1]), self.norm.actions(action)], -1)
        state = states[:, -1] + self.norm.delta_mean + self.norm.delta_std * self.state_head(direct)
        return image, state, kl

    # ------------------------------------------------------------------ unrolled
    def unroll(
        self,
        images: torch.Tensor,
        states: torch.Tensor,
        actions: torch.Tensor,
        future_images=None,
        future_states=None,
        z_dropout: float = 0.0,
        generator=None,
        z=None,
    ):
        """Predict T steps from CONDITIONING frames (images B×C×4×H×W, states B×C×4) under ``actions`` (B×T×2,
        physical units), feeding predictions back. With ``future_*`` (B×T×…), a stochastic model infers z from
        them (training); otherwise z is given (B×T×latent) or drawn from N(0, I). Returns images B×T×4×H×W,
        states B×T×4 and the summed KL."""
        codes = self.encoder(images)
        future_codes = self.encoder(future_images) if future_images is not None and self.latent_dim else None
        out_i, out_s = [], []
        kl = images.new_zeros(())
        last = images[:, -1]
        for t in range(actions.shape[1]):
            nxt = {} if future_codes is None else {"next_code": future_codes[:, t], "next_state": future_states[:, t]}
            image, state, step_kl = self.step(
                codes,
                states,
                last,
                actions[:, t],
                z=None if z is None else z[:, t],
                z_dropout=z_dropout,
                generator=generator,
                **nxt,
            )
            last = image
            kl = kl + step_kl
            out_i.append(image), out_s.append(state)
            codes = torch.cat([codes[:, 1:], self.encoder(image)[:, None]], 1)
            states = torch.cat([states[:, 1:], state[:, None]], 1)
        return torch.stack(out_i, 1), torch.stack(out_s, 1), kl

    def loss(self, window: dict, z_dropout: float = 0.5, kl_weight: float = 1e-6, generator=None):
        """Multi-step prediction loss of a window: mean squared image error + ``STATE_WEIGHT`` × the state error in
        units of the states' one-step changes (+ β·KL)."""
        C = CONDITIONING
        images, states = window["images"], window["states"]
        pred_i, pred_s, kl = self.unroll(
            images[:, :C],
            states[:, :C],
            window["actions"],
            images[:, C:],
            states[:, C:],
            z_dropout=z_dropout,
            generator=generator,
        )
        image_loss = F.mse_loss(pred_i, images[:, C:])
        state_loss = (((pred_s - states[:, C:]) / self.norm.delta_std) ** 2).mean()  # in units of a step's change
        if self.kinematic:
            state_loss = state_loss.detach()  # the kinematics' error: nothing to learn
        kl = kl / window["actions"].shape[1]
        total = image_loss + STATE_WEIGHT * state_loss + kl_weight * kl
        return total, {"image_mse": image_loss.detach(), "state_mse": state_loss.detach(), "kl": kl.detach()}
