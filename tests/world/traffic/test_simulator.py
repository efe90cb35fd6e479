"""The simulated drivers on built situations, the kinematics, and the traffic's shape."""

import pytest
import torch

from ebmlab.world.traffic.drivers import idm_acceleration
from ebmlab.world.traffic.kinematics import actions_from_states, kinematic_step
from ebmlab.world.traffic.road import Road
from ebmlab.world.traffic.simulator import Traffic, TrafficConfig
from traffic_small import lone_traffic


def test_idm_free_road_and_standstill():
    one = torch.tensor(1.0)
    free = idm_acceleration(torch.tensor(0.0), one, torch.tensor(1e4), 30 * one, one, 2 * one, 1.5 * one, 2 * one)
    assert abs(float(free) - 1.5) < 1e-6  # a_max from rest on an empty road
    at_v0 = idm_acceleration(30 * one, 30 * one, torch.tensor(1e4), 30 * one, one, 2 * one, 1.5 * one, 2 * one)
    assert abs(float(at_v0)) < 1e-3  # no acceleration at the desired speed
    close = idm_acceleration(10 * one, 0 * one, torch.tensor(5.0), 30 * one, one, 2 * one, 1.5 * one, 2 * one)
    assert float(close) < -4  # brakes hard when closing in on a stopped car


def test_a_car_behind_a_stopped_car_stops_without_hitting_it():
    # one lane, so that it cannot pass
    traffic = lone_traffic([{"x": 200.0, "lane": 0, "v": 0.0}, {"x": 120.0, "lane": 0, "v": 25.0}], road=Road(lanes=1))
    traffic.ego[0] = 0  # the stopped car holds still (a = b = 0)
    zero = (torch.zeros(1), torch.zeros(1))
    gaps = []
    for _ in range(400):
        traffic.step(zero)
        gaps.append(float(traffic.x[0, 0] - traffic.x[0, 1] - (traffic.length[0, 0] + traffic.length[0, 1]) / 2))
    assert float(traffic.v[0, 1]) < 0.05  # it stopped
    assert min(gaps) > 0.5  # never touched
    assert gaps[-1] < 6.0  # and stopped near its minimum gap, not far behind
    assert float(traffic.x[0, 0]) == 200.0


def test_a_driver_behind_a_slow_car_changes_lane_when_the_next_lane_is_free():
    slow_leader = {"x": 130.0, "lane": 2, "v": 5.0, "desired_speed": 5.0, "politeness": 0.0}  # it will not make way
    me = {"x": 100.0, "lane": 2, "v": 25.0, "desired_speed": 30.0, "politeness": 0.0}
    free = lone_traffic([slow_leader, me])
    lanes = []
    for _ in range(60):
        free.step()
        lanes.append(int(free.lane[0, 1]))
    assert lanes[-1] in (1, 3)  # changed lane
    assert float(free.y[0, 1]) != free.road.lane_centre(2.0)  # and is moving over


def test_every_lane_change_in_dense_traffic_meets_mobil_safety():
    """In real dense traffic, whenever a driver changes lane, its new follower (read before the step) need not
    brake harder than b_safe behind it — MOBIL's safety criterion."""
    from ebmlab.world.traffic.simulator import COL

    traffic = Traffic(TrafficConfig(warmup=20.0), batch=2, seed=1)
    b_safe = traffic.config.drivers.safe_decel
    changes = 0
    for _ in range(600):
        before, alive, ids = traffic.cars.clone(), traffic.alive.clone(), traffic.car_id.clone()
        traffic.step()
        moved = alive & traffic.alive & (ids == traffic.car_id) & (traffic.lane != before[..., COL["lane"]])
        for env, slot in torch.nonzero(moved).tolist():
            me, lane = before[env, slot], traffic.lane[env, slot]
            others = before[env][
                alive[env] & (before[env][:, COL["lane"]] == lane) & (before[env][:, COL["x"]] < me[COL["x"]])
            ]
            changes += 1
            if len(others) == 0:
                continue
            f = others[others[:, COL["x"]].argmax()]
            gap = me[COL["x"]] - me[COL["length"]] / 2 - f[COL["x"]] - f[COL["length"]] / 2
            acc = idm_acceleration(
                f[COL["v"]],
                me[COL["v"]],
                gap,
                *(f[COL[k]] for k in ("desired_speed", "time_headway", "min_gap", "max_accel", "comfort_decel")),
            )
            assert gap > 0 and float(acc) >= -b_safe - 1e-3, (env, slot, float(gap), float(acc))
    assert changes >= 10  # lane changes do happen in this traffic


def test_kinematics_straight_turn_and_inverse():
    x, y, psi, v = (torch.tensor([v]) for v in (0.0, 1.85, 0.0, 10.0))
    x1, y1, psi1, v1 = kinematic_step(x, y, psi, v, torch.tensor([2.0]), torch.tensor([0.0]), 0.1)
    assert (
        torch.allclose(x1, torch.tensor([1.0])) and torch.allclose(y1, y) and torch.allclose(v1, torch.tensor([10.2]))
    )
    _, _, psi2, _ = kinematic_step(x, y, psi, v, torch.tensor([0.0]), torch.tensor([0.05]), 0.1)
    assert torch.allclose(psi2, torch.tensor([0.05]))  # ψ += b·v·dt
    _, _, _, v3 = kinematic_step(x, y, psi, v, torch.tensor([-200.0]), torch.tensor([0.0]), 0.1)
    assert float(v3) == 0.0  # no reversing
    # the actions recovered from a trajectory drive it again
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, generator=gen), 0.02 * torch.randn(50, generator=gen)
    states = [(x, y, psi, v)]
    for t in range(50):
        states.append(kinematic_step(*states[-1], a[t : t + 1], b[t : t + 1], 0.1))
    psis, vs = torch.cat([s[2] for s in states]), torch.cat([s[3] for s in states])
    a_hat, b_hat = actions_from_states(psis, vs, 0.1)
    assert torch.allclose(a_hat, a, atol=1e-4) and torch.allclose(b_hat, b, atol=1e-4)


def test_cars_enter_leave_and_traffic_is_dense_and_vectorised():
    traffic = Traffic(TrafficConfig(warmup=20.0), batch=3, seed=0)
    ids_before = traffic.car_id.clone()
    for _ in range(200):
        traffic.step()
    alive = traffic.alive.sum(1)
    assert (alive >= 60).all()  # dense: at least 60 cars in each environment
    assert (traffic.next_id > ids_before.amax(1) + 1).all()  # new cars came in
    assert not torch.isin(ids_before[ids_before >= 0], traffic.car_id).all()  # and some old ones left
    assert not torch.equal(traffic.x[0], traffic.x[1])  # the environments are independent
    assert (traffic.x[traffic.alive] <= traffic.road.end + 5).all()


def test_same_seed_same_traffic():
    one, two = (Traffic(TrafficConfig(warmup=5.0), batch=2, seed=7) for _ in range(2))
    for _ in range(50):
        one.step()
        two.step()
    assert torch.equal(one.cars, two.cars) and torch.equal(one.alive, two.alive)


def test_straight_through_stop_keeps_values_and_passes_the_gradient():
    x, y, psi = torch.zeros(3), torch.zeros(3), torch.zeros(3)
    v = torch.tensor([0.0, 0.5, 5.0])
    a = torch.tensor([-8.0, -8.0, 1.0], requires_grad=True)
    plain = kinematic_step(x, y, psi, v, a, torch.zeros(3), 0.1)
    through = kinematic_step(x, y, psi, v, a, torch.zeros(3), 0.1, straight_through=True)
    assert all(torch.equal(p, t) for p, t in zip(plain, through))
    assert plain[3].tolist() == pytest.approx([0.0, 0.0, 5.1])  # the first two stop (clamped at zero)
    (g_plain,) = torch.autograd.grad(plain[3].sum(), a)
    (g_through,) = torch.autograd.grad(through[3].sum(), a)
    assert g_plain[:2].tolist() == [0.0, 0.0] and g_through.tolist() == pytest.approx([0.1, 0.1, 0.1])
