"""Policies trained through a world model that leaves the ego car to its kinematics (Sobal, Canziani, Carion,
Cho & LeCun, "Separating the World and Ego Models for Self-Driving", ICLR 2022 workshop, arXiv 2204.07184).

A ``kinematic`` :class:`~ebmlab.world.driving.model.TrafficModel` predicts the
other cars in views centred on a reference track (the ego's position at the
last conditioning frame, moving on at its speed then), from their past alone.
The ego car moves by its exact, differentiable kinematics, and what it sees and
pays at each step is computed from where it is: the predicted cars shifted by its
offset from the track (bilinear, :func:`ego_views`), the lane markings and the
road's edges drawn at its lateral position (:func:`~ebmlab.world.traffic.raster.road_channels`).
A policy's steering and speed thus act on its costs exactly, and the model need
not learn what steering does, which PPUU's own model, trained on drivers who
rarely steer, does not (docs/RESULTS.md, the steering probe).

Since the world model sees neither the ego's states nor its actions (in replay
mode, PPUU's protocol, the others do not react to it), its futures of a training
window do not depend on the policy: they are drawn once into a :class:`SampleBank`
— for each window one future with the model's dropout off and ``samples`` with
as many dropout masks, all under one z sequence drawn from the prior — and the
policy trains on the bank. MPUR's cost is PPUU's (proximity + 0.2 lane + 1.0
off-road, discounted by 0.99) on the first future, and its uncertainty the
variance of that cost over the dropout masks' futures, normalised by its
statistics along the recorded drivers' own trajectories and hinged at 0.5
(PPUU also adds the variance of the predicted images and states: here the
first does not depend on the policy and the second is zero).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ebmlab.world.driving.data import TrafficWindows, reference_track
from ebmlab.world.driving.model import TrafficModel
from ebmlab.world.traffic.episodes import ego_state
from ebmlab.world.traffic.image_costs import COST_WEIGHTS, image_costs, profile_costs, proximity_window
from ebmlab.world.traffic.image_costs import mask_speed as mask_speed_of
from ebmlab.world.traffic.kinematics import kinematic_step
from ebmlab.world.traffic.raster import HEIGHT, SCALE, WIDTH, ego_channel, road_channels
from ebmlab.world.traffic.recording import CONDITIONING
from ebmlab.world.traffic.road import Road

__all__ = [
    "shift_views",
    "ego_views",
    "track_views",
    "SampleBank",
    "build_bank",
    "calibrate_uncertainty",
    "kinematic_rollout",
    "kinematic_mpur_loss",
    "kinematic_mper_loss",
]


def shift_views(
    images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, window: tuple[slice, slice] | None = None
) -> torch.Tensor:
    """Images B×K×H×W centred on a point, seen from (dx, dy) m away from it (B each; along, across the road):
    bilinear, zero where the original view does not reach, differentiable in dx and dy. With ``window`` (rows,
    columns), only those pixels of the shifted view."""
    B = len(images)
    rows = (2 * torch.arange(HEIGHT, device=images.device) + 1) / HEIGHT - 1
    cols = (2 * torch.arange(WIDTH, device=images.device) + 1) / WIDTH - 1
    if window is not None:
        rows, cols = rows[window[0]], cols[window[1]]
    gy = rows[None, :, None] - (2 * SCALE / HEIGHT) * dx[:, None, None]
    gx = cols[None, None, :] + (2 * SCALE / WIDTH) * dy[:, None, None]
    shape = (B, len(rows), len(cols))
    grid = torch.stack([gx.expand(shape), gy.expand(shape)], -1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def ego_views(
    cars: torch.Tensor,
    dx: torch.Tensor,
    dy: torch.Tensor,
    y: torch.Tensor,
    length: torch.Tensor,
    width: torch.Tensor,
    road: Road,
) -> torch.Tensor:
    """B×K×4×H×W ego-centred views of an ego car (dx, dy) m from the centre of ``cars`` (B×K×H×W: K predicted
    cars channels of reference-track views), at lateral position ``y``, of size (length, width) (all B)."""
    B, K = cars.shape[:2]
    shifted = shift_views(cars, dx, dy)
    lanes, offroad = road_channels(y, road)
    zero = torch.zeros_like(y)
    own = ego_channel(zero, zero, length, width)
    full = lambda profile: profile[:, None, None, :].expand(B, K, HEIGHT, WIDTH)  # noqa: E731
    return torch.stack([full(lanes), shifted, own[:, None].expand(B, K, HEIGHT, WIDTH), full(offroad)], 2)


def track_views(views: torch.Tensor, states: torch.Tensor, road: Road) -> torch.Tensor:
    """The reference-track views (B×C×4×H×W, ego channel empty) of a car's own last C views and states (B×C×…),
    the track starting from its last state: each view's cars shifted by the track's offset from the car then."""
    B, C = states.shape[:2]
    cx, cy = reference_track(states[:, -1], torch.arange(-C + 1, 1))
    dx, dy = (cx - states[..., 0]).flatten(), (cy - states[..., 1]).flatten()
    cars = shift_views(views[:, :, 1].reshape(B * C, 1, HEIGHT, WIDTH), dx, dy).view(B, C, HEIGHT, WIDTH)
    lanes, offroad = road_channels(cy.flatten(), road)
    out = torch.zeros(B, C, 4, HEIGHT, WIDTH, dtype=views.dtype, device=views.device)
    out[:, :, 0] = lanes.view(B, C, 1, WIDTH)
    out[:, :, 1] = cars
    out[:, :, 3] = offroad.view(B, C, 1, WIDTH)
    return out


def _weighted(costs: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(COST_WEIGHTS[k] * costs[k] for k in COST_WEIGHTS)


@dataclass
class SampleBank:
    """Training windows with the world model's futures drawn once (see the module's docstring).

    views n×C×4×H×W (uint8, the recorded car's own conditioning views), states n×C×4, track n×3 (x, y, vx of the
    reference track's start), size n×2 (length, width), futures n×(1 + samples)×T×H×W (uint8, predicted cars
    channels in reference-track views), recorded n×T×4 (the recorded car's future states), and the mean and
    spread of the cost's variance over the dropout futures along the recorded trajectories (``u_mean``, ``u_std``).
    """

    views: torch.Tensor
    states: torch.Tensor
    track: torch.Tensor
    size: torch.Tensor
    futures: torch.Tensor
    recorded: torch.Tensor
    u_mean: float = 0.0
    u_std: float = 1.0

    def __len__(self) -> int:
        return len(self.states)

    def batch(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        i = torch.randint(len(self), (n,), generator=generator)
        return {
            "views": self.views[i].float() / 255,
            "states": self.states[i],
            "track": self.track[i],
            "size": self.size[i],
            "futures": self.futures[i].float() / 255,
            "recorded": self.recorded[i],
        }


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as bytes (a quarter of the memory), for banks and DAgger's logs."""
    return (images * 255).round_().to(torch.uint8)


@torch.no_grad()
def build_bank(
    model: TrafficModel,
    windows: TrafficWindows,
    n: int,
    samples: int,
    generator: torch.Generator,
    chunk: int = 32,
    progress=iter,
) -> SampleBank:
    """Draw ``n`` windows of ``windows`` (frame ``track``, future = the horizon) and the model's futures of each:
    one with dropout off, ``samples`` with dropout masks, all under one z sequence from the prior. ``progress``
    wraps the iterable of chunks (a progress bar)."""
    if windows.frame != "track":
        raise ValueError("a kinematic ego's bank needs reference-track windows (TrafficWindows(..., frame='track'))")
    T, C, rec = windows.future, CONDITIONING, windows.rec
    parts: dict[str, list] = {k: [] for k in ("views", "states", "track", "size", "futures", "recorded")}
    model.eval()
    for start in progress(range(0, n, chunk)):
        m = min(chunk, n - start)
        w = windows.sample(m, generator)
        z = torch.randn(m, T, model.latent_dim, generator=generator) if model.latent_dim else None
        rep = lambda t: t.repeat_interleave(samples, 0)  # noqa: E731
        first, _, _ = model.unroll(w["images"][:, :C], w["states"][:, :C], w["actions"], z=z)
        model.past.train()  # the dropout masks: MPUR's epistemic uncertainty
        rest, _, _ = model.unroll(
            rep(w["images"][:, :C]), rep(w["states"][:, :C]), rep(w["actions"]), z=None if z is None else rep(z)
        )
        model.eval()
        futures = torch.cat([first[:, None], rest.view(m, samples, *rest.shape[1:])], 1)[:, :, :, 1]
        parts["futures"].append(to_uint8(futures))
        parts["views"].append(to_uint8(w["views"]))
        parts["states"].append(w["states"][:, :C])
        parts["track"].append(w["track"])
        parts["size"].append(torch.stack([rec.cars["length"][w["cars"]], rec.cars["width"][w["cars"]]], -1))
        parts["recorded"].append(w["states"][:, C:])
    return calibrate_uncertainty(SampleBank(**{k: torch.cat(v) for k, v in parts.items()}), rec.road, chunk)


@torch.no_grad()
def calibrate_uncertainty(bank: SampleBank, road: Road, chunk: int = 32) -> SampleBank:
    """Set the bank's ``u_mean`` and ``u_std``: the mean and spread of the cost's variance over its sampled
    futures (all but the first) along the recorded drivers' own trajectories, MPUR's normalisation."""
    variances = []
    for start in range(0, len(bank), chunk):
        b = {k: getattr(bank, k)[start : start + chunk] for k in ("track", "size", "recorded")}
        b["futures"] = bank.futures[start : start + chunk].float() / 255
        costs = _step_costs(b, b["recorded"], road)
        variances.append(costs[:, :, 1:].var(2).flatten())
    u = torch.cat(variances)
    bank.u_mean, bank.u_std = float(u.mean()), float(u.std().clamp_min(1e-8))
    return bank


def _step_costs(batch: dict, states: torch.Tensor, road: Road) -> torch.Tensor:
    """B×T×K weighted costs of an ego car along ``states`` (B×T×4) against each of the K futures of ``batch``."""
    cx, cy = reference_track(batch["track"], torch.arange(1, states.shape[1] + 1))
    return torch.stack(
        [_seen(batch, t, s, cx, cy, s[:, 2:].norm(dim=-1), road)[1] for t, s in enumerate(states.unbind(1))], 1
    )


def _seen(
    batch: dict,
    t: int,
    state: torch.Tensor,
    cx: torch.Tensor,
    cy: torch.Tensor,
    speed: torch.Tensor,
    road: Road,
    views_needed: bool = True,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The ego views (B×K×4×H×W) of an ego car in ``state`` (B×4) at step ``t`` of the batch's K futures, the
    reference track at (cx, cy) (B×T each), and their weighted costs (B×K) with the mask sized by ``speed`` (B).
    Without ``views_needed`` (a planner's rollout: nothing looks at them) the views are None and the same costs
    come from the cars channel and the road's column profiles (:func:`profile_costs`), not full images."""
    if not views_needed:
        K = batch["futures"].shape[1]
        window = proximity_window(speed)  # only where the proximity mask can be > 0: the same costs, sooner
        shifted = shift_views(batch["futures"][:, :, t], state[:, 0] - cx[:, t], state[:, 1] - cy[:, t], window)
        lanes, offroad = road_channels(state[:, 1], road)
        costs = profile_costs(shifted, lanes[:, None], offroad[:, None], speed[:, None].expand(-1, K), window)
        return None, _weighted(costs)
    views = ego_views(
        batch["futures"][:, :, t],
        state[:, 0] - cx[:, t],
        state[:, 1] - cy[:, t],
        state[:, 1],
        batch["size"][:, 0],
        batch["size"][:, 1],
        road,
    )
    return views, _weighted(image_costs(views, speed[:, None].expand(views.shape[:2])))


def kinematic_rollout(
    policy,
    batch: dict,
    horizon: int,
    road: Road,
    actions: torch.Tensor | None = None,
    mask_speed: str = "own",
    trained_steps: int | None = None,
) -> dict[str, torch.Tensor]:
    """π (or the given ``actions``, B×T×2) drives the ego car ``horizon`` steps by its kinematics from a batch's
    pasts (``states``, and ``views`` for π), seeing the first future's cars from where it is. Returns states
    B×T×4, actions B×T×2 and costs B×T×K (against every future).

    ``mask_speed`` sets the speed that sizes the proximity mask (safe distance 1.5 · |v| + 1 m): ``own``, the
    ego's speed at each step (PPUU); ``start``, its speed when the rollout starts, for every step — so that
    slowing down does not shorten the mask: with the others replayed, a car that slows is caught by the one
    behind, which a mask that shrinks with the ego's speed sees too late; or ``max``, the larger of the two, so
    that speeding up still lengthens it (docs/RESULTS.md).

    ``trained_steps`` k: π's parameters get the gradient of its first k actions only; from step k on the rollout
    goes on with a frozen copy of π (the gradient still flows through what it sees, so the earlier actions pay
    for how π will react). Each trained action thus sees at least ``horizon`` − k steps of its consequences,
    while with every action trained (None, PPUU) the last ones see almost none and learn the end of the
    horizon's lesson — brake, since the car behind arrives after it — everywhere (docs/RESULTS.md)."""
    trained = horizon if trained_steps is None or actions is not None else trained_steps
    if not 1 <= trained <= horizon:
        raise ValueError(f"trained_steps must be in [1, horizon={horizon}], not {trained_steps}")
    states = batch["states"]
    start_speed = states[:, -1, 2:].norm(dim=-1)
    acting = [policy] if actions is None else []
    if trained < horizon:
        acting.append(copy.deepcopy(policy).requires_grad_(False))
    codes = [pi.encoder(batch["views"]) for pi in acting]
    cx, cy = reference_track(batch["track"], torch.arange(1, horizon + 1))
    out = {"states": [], "actions": [], "costs": []}
    state = states[:, -1]
    # the kinematics' own variables, carried (a stopped car keeps its heading); the gradient passes the stop
    x, y, psi, own = state[:, 0], state[:, 1], torch.atan2(state[:, 3], state[:, 2]), start_speed
    for t in range(horizon):
        if t == trained and len(acting) == 2:  # π's own gradient stops here; its frozen copy drives on
            acting, codes = acting[1:], codes[1:]
        a = acting[0].act(codes[0], states) if actions is None else actions[:, t]
        x, y, psi, own = kinematic_step(x, y, psi, own, a[:, 0], a[:, 1], road.dt, straight_through=True)
        state = ego_state(x, y, psi, own)
        speed = mask_speed_of(own, start_speed, mask_speed)
        views, costs = _seen(batch, t, state, cx, cy, speed, road, views_needed=actions is None)
        out["costs"].append(costs)
        out["states"].append(state), out["actions"].append(a)
        if actions is None:
            codes = [torch.cat([c[:, 1:], pi.encoder(views[:, 0])[:, None]], 1) for c, pi in zip(codes, acting)]
            states = torch.cat([states[:, 1:], state[:, None]], 1)
    return {k: torch.stack(v, 1) for k, v in out.items()}


def kinematic_mpur_loss(
    policy,
    bank: SampleBank,
    batch: dict,
    horizon: int,
    road: Road,
    gamma: float = 0.99,
    uncertainty_weight: float = 0.05,
    threshold: float = 0.5,
    mask_speed: str = "own",
    trained_steps: int | None = None,
):
    """MPUR through a kinematic ego: discounted cost of the first future + λ_u · Σ_t [u_t − τ]⁺, u_t the
    normalised variance of the cost over the dropout futures (``trained_steps``: :func:`kinematic_rollout`)."""
    out = kinematic_rollout(policy, batch, horizon, road, mask_speed=mask_speed, trained_steps=trained_steps)
    discount = gamma ** torch.arange(horizon, dtype=torch.float32)
    task = (out["costs"][:, :, 0] * discount).sum(1).mean()
    terms = {"task_cost": task.detach(), "speed": out["states"][..., 2:].norm(dim=-1).mean().detach()}
    total = task
    if uncertainty_weight > 0 and out["costs"].shape[2] > 2:
        u = (out["costs"][:, :, 1:].var(2) - bank.u_mean) / bank.u_std
        penalty = (u - threshold).clamp_min(0).sum(1).mean()
        total = total + uncertainty_weight * penalty
        terms["uncertainty"] = penalty.detach()
    return total, terms


def kinematic_mper_loss(policy, batch: dict, horizon: int, road: Road):
    """MPER through a kinematic ego: the policy pays for leaving the recorded driver's future states."""
    out = kinematic_rollout(policy, batch, horizon, road)
    norm = policy.norm
    state = ((norm.states(out["states"]) - norm.states(batch["recorded"][:, :horizon])) ** 2).mean()
    return state, {"state_mse": state.detach(), "cost": out["costs"][:, :, 0].mean().detach()}
