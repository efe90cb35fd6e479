"""The traffic state of many independent environments at once, and its step (no Python loop over cars).

Every environment has the same number of car slots; a slot is a car while
``alive``. The cars' continuous state and their drivers' parameters are one
B×N×F tensor (columns named by ``FIELDS``), so that finding neighbours costs one
gather, not one per quantity. Each step, in every environment at once:

1. cars are sorted by (lane, x): each car's leader is the next car in its lane,
   its follower the previous one, and the leader and follower it would have in a
   neighbouring lane are found by a binary search (``torch.searchsorted``) — no
   car × car matrix; a car whose body is over two lanes (changing lanes) is in
   both lists: the cars behind it in either lane follow it, and it follows the
   nearer-braking of its two leaders;
2. IDM gives every driver's acceleration, plus a little noise (which lets
   stop-and-go waves grow); past the segment a downstream bottleneck caps each
   lane's desired speed by a speed that rises and falls in time;
3. every ``_EVERY`` steps, a rotating share of the drivers (each one every
   1 / ``lane_change_rate`` seconds) weigh a lane change by MOBIL and, when it
   is safe and pays, steer towards the new lane's centre (at most 0.2 rad off the
   road's direction, so that a slow car moves over slowly);
4. every car moves by :func:`~ebmlab.world.traffic.kinematics.kinematic_step`;
   the ego car (one slot per environment, or none) by the action it is given;
5. cars past the road's end leave; every ``_EVERY`` steps, a new car enters each
   lane at the upstream end with probability inflow · ``_EVERY`` · dt when there
   is room (MOBIL and entries run on different steps, which keeps a step cheap).

The drivers see the ego car like any other car: it sorts into the lane it is
over (the ``reactive`` mode of :mod:`~ebmlab.world.traffic.episodes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ebmlab.world.traffic.drivers import NO_LEADER_GAP, DriverMix, idm_acceleration, mobil_incentive
from ebmlab.world.traffic.kinematics import clip_action, kinematic_step
from ebmlab.world.traffic.road import Road

__all__ = ["TrafficConfig", "Traffic", "FIELDS", "COL"]

FIELDS = ("x", "y", "psi", "v", "lane", "since_change") + DriverMix.FIELDS
COL = {name: i for i, name in enumerate(FIELDS)}
_X, _Y, _PSI, _V, _LANE, _SINCE = range(6)
_V0, _T, _S0, _AMAX, _B, _POLITE, _LEN, _WID = (COL[n] for n in DriverMix.FIELDS)
_LANE_KEY = 1e4  # sort key = lane · _LANE_KEY + x; larger than any position
_DEAD_KEY = 1e6
_EVERY = 5  # MOBIL decisions and entries run once every this many steps
_MAX_HEADING = 0.2  # rad: a driver changing lanes steers at most this far off the road's direction


@dataclass(frozen=True)
class TrafficConfig:
    """How dense and how unsteady the traffic is."""

    road: Road = field(default_factory=Road)
    drivers: DriverMix = field(default_factory=DriverMix)
    slots: int = 192  # car slots per environment (at most this many cars)
    inflow: float = 1800.0  # vehicles per hour per lane offered at the upstream end
    bottleneck_low: float = 1.5  # m/s: the slowest the downstream bottleneck lets a lane go
    bottleneck_high: float = 22.0  # m/s: the fastest
    bottleneck_period: tuple[float, float] = (50.0, 110.0)  # s, drawn per lane and environment
    lane_change_rate: float = 0.25  # MOBIL decisions per driver per second
    lane_change_cooldown: float = 4.0  # s between two changes of one driver
    lateral_speed: float = 1.2  # m/s: the most a driver moves sideways while changing lanes
    init_density: float = 45.0  # vehicles per km per lane when a simulation starts
    warmup: float = 60.0  # s simulated before anything is shown or recorded


def _idm(car: torch.Tensor, v_lead: torch.Tensor, gap: torch.Tensor, v0: torch.Tensor | None = None) -> torch.Tensor:
    """IDM for rows of the car tensor (…×F) behind a leader at speed ``v_lead``, ``gap`` ahead."""
    return idm_acceleration(
        car[..., _V],
        v_lead,
        gap,
        car[..., _V0] if v0 is None else v0,
        car[..., _T],
        car[..., _S0],
        car[..., _AMAX],
        car[..., _B],
    )


class Traffic:
    """``batch`` environments × ``config.slots`` car slots (see module doc).

    ``cars`` is B×N×F (``FIELDS``), ``alive`` B×N, ``car_id`` B×N (−1: no car),
    ``ego`` B (the ego car's slot, −1: none); ``accel``/``curv`` are every car's
    last actions (a, b)."""

    def __init__(
        self, config: TrafficConfig, batch: int, seed: int = 0, device: str | torch.device = "cpu", warmup: bool = True
    ) -> None:
        self.config, self.road, self.batch = config, config.road, batch
        self.device = torch.device(device)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        B, N, L = batch, config.slots, config.road.lanes
        self.cars = torch.zeros(B, N, len(FIELDS), device=self.device)
        self.cars[..., _V0:] = config.drivers.sample((B, N), self.gen, self.device)  # empty slots stay finite
        self.alive = torch.zeros(B, N, dtype=torch.bool, device=self.device)
        self.car_id = torch.full((B, N), -1, dtype=torch.long, device=self.device)
        self.accel = torch.zeros(B, N, device=self.device)
        self.curv = torch.zeros(B, N, device=self.device)
        self.next_id = torch.zeros(B, dtype=torch.long, device=self.device)
        self.ego = torch.full((B,), -1, dtype=torch.long, device=self.device)
        self.steps = 0
        self._order = torch.arange(2 * N, device=self.device).expand(B, 2 * N).contiguous()  # last step's sort order
        self.clock = torch.zeros(B, device=self.device)  # seconds simulated, per environment
        lo, hi = config.bottleneck_period
        self.period = lo + (hi - lo) * self._rand(B, L)
        self.phase = 2 * math.pi * self._rand(B, L)
        self._mobil_per_step = max(1, math.ceil(config.lane_change_rate * _EVERY * self.road.dt * N))
        self._fill()
        if warmup:
            for _ in range(round(config.warmup / self.road.dt)):
                self.step()

    # ------------------------------------------------------------------ views
    def __getattr__(self, name: str) -> torch.Tensor:  # x, y, psi, v, lane, length, … as B×N views
        if name in COL:
            return self.__dict__["cars"][..., COL[name]]
        raise AttributeError(name)

    def _rand(self, *shape) -> torch.Tensor:
        return torch.rand(shape, generator=self.gen, device=self.device)

    def ego_mask(self) -> torch.Tensor:
        mask = torch.zeros_like(self.alive)
        has = self.ego >= 0
        if has.any():
            mask[has, self.ego[has]] = True
        return mask

    def bottleneck_speed(self) -> torch.Tensor:
        """B×lanes: the speed the downstream bottleneck allows each lane now (a sharpened sine in time)."""
        c = self.config
        wave = torch.sigmoid(4.0 * torch.sin(2 * math.pi * self.clock[:, None] / self.period + self.phase))
        return c.bottleneck_low + (c.bottleneck_high - c.bottleneck_low) * wave

    # ------------------------------------------------------------------ cars in and out
    def _new_cars(self, lanes: torch.Tensor, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Rows (…×F) of new cars with fresh drivers, in ``lanes`` at ``x``, at most at speed ``v``."""
        rows = torch.zeros(lanes.shape + (len(FIELDS),), device=self.device)
        rows[..., _V0:] = self.config.drivers.sample(lanes.shape, self.gen, self.device)
        rows[..., _X] = x
        rows[..., _Y] = self.road.lane_centre(lanes.float())
        rows[..., _V] = torch.minimum(v, rows[..., _V0])
        rows[..., _LANE] = lanes.float()
        return rows

    def _place(self, slots: torch.Tensor, rows: torch.Tensor, mask: torch.Tensor) -> None:
        """Put new cars ``rows`` (B×k×F) into ``slots`` (B×k) where ``mask``; give them ids."""
        F = rows.shape[-1]
        index = slots[..., None].expand(-1, -1, F)
        self.cars.scatter_(1, index, torch.where(mask[..., None], rows, self.cars.gather(1, index)))
        ids = self.next_id[:, None] + mask.long().cumsum(1) - 1
        self.car_id.scatter_(1, slots, torch.where(mask, ids, self.car_id.gather(1, slots)))
        self.alive.scatter_(1, slots, mask | self.alive.gather(1, slots))
        self.next_id += mask.long().sum(1)

    def _fill(self) -> None:
        """Start with cars spread over every lane at ``init_density``, at 10 m/s, jittered."""
        c, road, B = self.config, self.road, self.batch
        per_lane = min(int(c.init_density * road.end / 1000), c.slots // road.lanes)
        spacing = road.end / max(per_lane, 1)
        lanes = torch.arange(road.lanes, device=self.device).repeat_interleave(per_lane).expand(B, -1)
        k = torch.arange(per_lane, device=self.device).repeat(road.lanes).expand(B, -1)
        x = (k + 0.5) * spacing + (self._rand(*k.shape) - 0.5) * 0.4 * spacing
        rows = self._new_cars(lanes, x, torch.full(k.shape, 10.0, device=self.device))
        self._place(
            torch.arange(k.shape[1], device=self.device).expand(B, -1), rows, torch.ones_like(k, dtype=torch.bool)
        )

    def _enter(self) -> None:
        c, road, L = self.config, self.road, self.config.road.lanes
        B, N = self.alive.shape
        lane = self.lane.long().clamp(0, L - 1)
        rear = torch.where(self.alive, self.x - self.length / 2, torch.full_like(self.x, math.inf))
        lane_rear = torch.full((B, L), math.inf, device=self.device).scatter_reduce(1, lane, rear, "amin")
        last = self.alive & (rear == lane_rear.gather(1, lane))
        lane_v = torch.full((B, L), 25.0, device=self.device).scatter_reduce(
            1, lane, torch.where(last, self.v, torch.full_like(self.v, 25.0)), "amin"
        )
        wants = self._rand(B, L) < c.inflow / 3600.0 * road.dt * _EVERY
        room = lane_rear - 2.6 > 2.0 + lane_v * 1.0  # the new car's front at 2.6 m: s0 + v·T with T = 1 s
        free_count = (~self.alive).long().cumsum(1)
        slots = torch.searchsorted(free_count, torch.arange(1, L + 1, device=self.device).expand(B, L).contiguous())
        enter = wants & room & (slots < N)
        if enter.any():
            lanes = torch.arange(L, device=self.device).expand(B, L)
            self._place(
                slots.clamp(max=N - 1), self._new_cars(lanes, torch.zeros(B, L, device=self.device), lane_v), enter
            )

    # ------------------------------------------------------------------ step
    @torch.no_grad()
    def step(self, ego_action: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        """Advance every environment by dt; ``ego_action`` = (a, b), B each, for the environments' ego cars."""
        c, road, d = self.config, self.road, self.config.drivers
        cars, alive = self.cars, self.alive
        B, N, F = cars.shape
        ego_mask = self.ego_mask()
        lane = torch.where(ego_mask, road.lane_of(self.y).float(), self.lane)  # the ego is in the lane it is over
        # a car whose body is over another lane too (changing lanes, or drifting) is in that lane's list as well (a
        # second entry, its "ghost"): the cars behind it there follow it, and it follows their leader
        side_lo = road.lane_of(self.y - self.width / 2).float()
        side_hi = road.lane_of(self.y + self.width / 2).float()
        ghost = torch.where(side_lo != lane, side_lo, side_hi)
        dead = torch.full_like(self.x, _DEAD_KEY)
        key = torch.cat(
            [
                torch.where(alive, lane * _LANE_KEY + self.x, dead),
                torch.where(alive & (ghost != lane), ghost * _LANE_KEY + self.x, dead),
            ],
            1,
        )
        # sort in the last step's order: nearly sorted already, which sorts several times faster
        key, within = key.gather(1, self._order).sort(dim=1)
        order = self._order = self._order.gather(1, within)
        M = 2 * N
        s = cars.gather(1, (order % N)[..., None].expand(B, M, F))  # cars in sorted order (with ghosts)
        slane = torch.where(key < _DEAD_KEY, torch.cat([lane, ghost], 1).gather(1, order), torch.full_like(key, -1.0))
        x, v, half = s[..., _X], s[..., _V], s[..., _LEN] / 2

        # IDM behind the next car of the same lane
        same = slane[:, 1:] == slane[:, :-1]
        gap = torch.full_like(x, NO_LEADER_GAP)
        gap[:, :-1] = torch.where(same, (x[:, 1:] - half[:, 1:]) - (x[:, :-1] + half[:, :-1]), NO_LEADER_GAP)
        v_lead = v.clone()
        v_lead[:, :-1] = torch.where(same, v[:, 1:], v[:, :-1])
        v0 = s[..., _V0]
        past = x > road.length
        if past.any():
            cap = self.bottleneck_speed().gather(1, slane.long().clamp_min(0))
            v0 = torch.where(past, torch.minimum(v0, cap), v0)
        acc_sorted = _idm(s, v_lead, gap, v0)
        # a car over two lanes keeps behind the leaders of both: the harder of its two accelerations
        both = torch.empty_like(acc_sorted).scatter_(1, order, acc_sorted)
        acc = torch.where(ghost != lane, torch.minimum(both[:, :N], both[:, N:]), both[:, :N])

        if self.steps % _EVERY == 0:
            self._mobil(s, key, slane, acc_sorted, order, ego_mask)

        # lateral control towards the lane's centre: a heading, reached through a curvature
        vy = (road.lane_centre(self.lane) - self.y).clamp(-c.lateral_speed, c.lateral_speed)
        heading = torch.atan2(vy, self.v.clamp_min(1.0)).clamp(-_MAX_HEADING, _MAX_HEADING)
        curv = (heading - self.psi) / (self.v.clamp_min(0.5) * road.dt)
        acc = acc + d.accel_noise * torch.randn(B, N, generator=self.gen, device=self.device)
        a, b = clip_action(acc, curv)
        if ego_action is not None and (self.ego >= 0).any():
            ea, eb = clip_action(*ego_action)
            a = torch.where(ego_mask, ea[:, None], a)
            b = torch.where(ego_mask, eb[:, None], b)
        self.accel, self.curv = a, b
        moved = kinematic_step(self.x, self.y, self.psi, self.v, a, b, road.dt)
        for col, value in zip((_X, _Y, _PSI, _V), moved):
            cars[..., col] = value
        cars[..., _SINCE] += road.dt
        self.steps += 1
        self.clock += road.dt

        # leave past the end (not the ego: its episode decides), enter at the start
        gone = alive & (self.x > road.end) & ~ego_mask
        self.alive = alive & ~gone
        self.car_id = torch.where(gone, torch.full_like(self.car_id, -1), self.car_id)
        if self.steps % _EVERY == 2:
            self._enter()

    def _mobil(self, s, key, slane, acc_sorted, order, ego_mask) -> None:
        """MOBIL for a rotating few slots: set their lane to the best safe, paying neighbour lane."""
        c, road, d = self.config, self.road, self.config.drivers
        B, M, F = s.shape  # M sorted entries: the N cars and their ghosts
        N = self.cars.shape[1]
        K = self._mobil_per_step
        slots = ((self.steps // _EVERY * K + torch.arange(K, device=self.device)) % N).expand(B, K)
        me = self.cars.gather(1, slots[..., None].expand(B, K, F))
        settled = (me[..., _Y] - road.lane_centre(me[..., _LANE])).abs() < 0.3
        deciding = (
            self.alive.gather(1, slots)
            & ~ego_mask.gather(1, slots)
            & settled
            & (me[..., _SINCE] > c.lane_change_cooldown)
            & (me[..., _X] > 10.0)
            & (me[..., _X] < road.length + 20)
        )
        if not deciding.any():
            return
        rank = torch.empty_like(order).scatter_(1, order, torch.arange(M, device=self.device).expand(B, M))
        pos = rank.gather(1, slots)
        my_lane = slane.gather(1, pos)
        # neighbours in sorted order: own leader, old follower, and (new leader, new follower) on each side
        sides = (-1.0, 1.0)
        idx = [pos + 1, pos - 1]
        for side in sides:
            found = torch.searchsorted(key, (my_lane + side) * _LANE_KEY + me[..., _X])
            idx += [found, found - 1]
        idx = torch.stack(idx, 0)  # 6×B×K
        valid_idx = (idx >= 0) & (idx < M)
        idx = idx.clamp(0, M - 1)
        flat = idx.permute(1, 0, 2).reshape(B, 6 * K)
        nb = s.gather(1, flat[..., None].expand(B, 6 * K, F)).reshape(B, 6, K, F).permute(1, 0, 2, 3)
        nb_lane = slane.gather(1, flat).reshape(B, 6, K).permute(1, 0, 2)
        nb_acc = acc_sorted.gather(1, flat).reshape(B, 6, K).permute(1, 0, 2)
        want_lane = torch.stack([my_lane, my_lane, my_lane - 1, my_lane - 1, my_lane + 1, my_lane + 1])
        has = valid_idx & (nb_lane == want_lane)
        half, x, v = me[..., _LEN] / 2, me[..., _X], me[..., _V]
        nx, nv, nhalf = nb[..., _X], nb[..., _V], nb[..., _LEN] / 2
        acc_self = acc_sorted.gather(1, pos)
        # the old follower, once the car has left, follows the car's leader
        lead_rear = torch.where(has[0], nx[0] - nhalf[0], x + NO_LEADER_GAP)
        of_new = _idm(nb[1], torch.where(has[0], nv[0], nv[1]), lead_rear - nx[1] - nhalf[1])
        of_term = torch.where(has[1], of_new - nb_acc[1], torch.zeros_like(of_new))
        best = torch.full_like(x, -math.inf)
        target = me[..., _LANE].clone()
        for k, side in enumerate(sides):
            nl, nf = 2 + 2 * k, 3 + 2 * k
            front = torch.where(has[nl], nx[nl] - nhalf[nl] - x - half, NO_LEADER_GAP)
            back = torch.where(has[nf], x - half - nx[nf] - nhalf[nf], NO_LEADER_GAP)
            self_new = _idm(me, torch.where(has[nl], nv[nl], v), front)
            nf_old_gap = torch.where(has[nl], nx[nl] - nhalf[nl], nx[nf] + NO_LEADER_GAP) - nx[nf] - nhalf[nf]
            zero = torch.zeros_like(x)
            nf_old = torch.where(has[nf], _idm(nb[nf], torch.where(has[nl], nv[nl], nv[nf]), nf_old_gap), zero)
            nf_new = torch.where(has[nf], _idm(nb[nf], v, back), zero)
            safe = (nf_new >= -d.safe_decel) & (front > me[..., _S0]) & (back > 2.0)
            gain = mobil_incentive(self_new, acc_self, nf_new, nf_old, of_term, zero, me[..., _POLITE])
            new_lane = my_lane + side
            ok = (
                deciding
                & (new_lane >= 0)
                & (new_lane < road.lanes)
                & safe
                & (gain > d.change_threshold)
                & (gain > best)
            )
            best = torch.where(ok, gain, best)
            target = torch.where(ok, new_lane, target)
        changed = target != me[..., _LANE]
        me[..., _LANE] = target
        me[..., _SINCE] = torch.where(changed, torch.zeros_like(x), me[..., _SINCE])
        self.cars.scatter_(1, slots[..., None].expand(B, K, F), me)

    # ------------------------------------------------------------------ load
    def load(
        self,
        env: torch.Tensor,
        rows: torch.Tensor,
        alive: torch.Tensor,
        car_id: torch.Tensor,
        clock: torch.Tensor,
        period: torch.Tensor,
        phase: torch.Tensor,
        ego: torch.Tensor,
    ) -> None:
        """Set environments ``env`` (k) to given cars (rows k×N×F, alive and car_id k×N), bottleneck state
        (clock k, period and phase k×lanes) and ego slot (k; −1: none): e.g. a recorded frame, to drive on
        from it reactively."""
        self.cars[env] = rows.to(self.cars)
        self.alive[env] = alive.to(self.device)
        self.car_id[env] = car_id.to(self.device).long()
        self.next_id[env] = self.car_id[env].amax(1).clamp_min(0) + 1_000_000  # new cars: ids apart from recorded
        self.clock[env], self.period[env], self.phase[env] = (
            clock.to(self.clock),
            period.to(self.period),
            phase.to(self.phase),
        )
        self.ego[env] = ego.to(self.device)

    # ------------------------------------------------------------------ views
    def snapshot(self) -> dict[str, torch.Tensor]:
        """The state of every slot now (B×N tensors): alive, car_id, x, y, psi, v, length, width, a, b."""
        return {
            "alive": self.alive,
            "car_id": self.car_id,
            "x": self.x,
            "y": self.y,
            "psi": self.psi,
            "v": self.v,
            "length": self.length,
            "width": self.width,
            "a": self.accel,
            "b": self.curv,
        }
