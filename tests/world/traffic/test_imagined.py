"""Imagined worlds for rolling a driver out within PPUU's rules: IDM fitted to a recording, and the traffic it
drives on from a recorded frame, with the replaced car left in it as a ghost."""

import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.world.driving.data import Normalisation, TrafficWindows, reference_track
from ebmlab.world.driving.imagined import FittedTrafficWorld, fit_idm, imagined_episodes, imagined_futures, world_error
from ebmlab.world.driving.mpc import ConstantVelocityMpc, FittedWorldMpc, FutureMpc
from ebmlab.world.traffic.drivers import DriverMix
from ebmlab.world.traffic.episodes import Episodes, _frame, boxes_overlap, driven_on, seen_from, views


@pytest.fixture(scope="module")
def fit(small_recording):
    return fit_idm(small_recording, steps=300)


def test_idm_fitted_to_the_recording_explains_its_accelerations(fit):
    mix = DriverMix()
    assert fit.r2 > 0.3 and fit.samples > 1000
    # the headway and the minimum gap govern dense traffic: the fit finds them near the drivers' own ranges
    assert mix.time_headway[0] - 0.3 < fit.time_headway < mix.time_headway[1] + 0.3
    assert 0.5 < fit.min_gap < mix.min_gap[1] + 1.0
    assert 0.05 < fit.noise < 1.5


def test_fitted_world_keeps_the_others_apart_and_its_ghost_unseen(small_recording, fit):
    rec = small_recording
    cars = rec.split("train")[:12]
    episodes = imagined_episodes(rec, cars, 100, torch.Generator().manual_seed(0), "fitted-idm", fit)
    assert isinstance(episodes, FittedTrafficWorld)
    world = episodes.world
    rows = torch.arange(len(cars))
    ghost = world.car_id[rows, episodes.slot]
    assert torch.equal(ghost, rec.frames["car_id"][episodes.env, episodes.start, episodes.slot].long())
    assert not episodes.others()["present"][rows, episodes.slot].any()  # the ego does not meet its own ghost
    x0 = world.x[rows, episodes.slot].clone()
    for _ in range(60):  # the ego brakes to a stop; the world goes on without it
        episodes.step(torch.full((len(cars),), -8.0), torch.zeros(len(cars)))
        live = world.alive
        both = live[:, :, None] & live[:, None, :] & ~torch.eye(live.shape[1], dtype=torch.bool)
        box = {k: getattr(world, k) for k in ("x", "y", "length", "width")}
        overlap = boxes_overlap({k: v[:, :, None] for k, v in box.items()}, {k: v[:, None] for k, v in box.items()})
        assert not (overlap & both).any(), "two cars of the fitted world overlap"
    assert (world.x[rows, episodes.slot] > x0 + 5).all()  # the ghost drove on
    # as in replay mode, the cars behind follow the ghost, not the stopped ego car: some run into it
    assert episodes.outcome["hit_from_behind"].any()


def test_unknown_world_is_a_clear_error(small_recording):
    with pytest.raises(ConfigError, match="unknown world"):
        imagined_episodes(small_recording, small_recording.split("train")[:2], 10, torch.Generator(), "dreams")


def test_world_error_measures_how_far_each_world_drifts(small_recording, fit):
    error = world_error(small_recording, cars=16, horizons=(10, 50), fit=fit)
    assert set(error) == {"fit", "constant-velocity", "fitted-idm"}
    for world in ("constant-velocity", "fitted-idm"):
        assert error[world]["1 s"]["cars"] > 0 and error[world]["1 s"]["x_mean"] < error[world]["5 s"]["x_mean"]
    # cars that brake and follow stay nearer the recording than cars that never change speed
    assert error["fitted-idm"]["5 s"]["x_mean"] < error["constant-velocity"]["5 s"]["x_mean"]


@pytest.mark.parametrize("world", ["replay", "constant-velocity", "fitted-idm"])
def test_future_is_what_the_episodes_then_show_whatever_the_ego_does(small_recording, fit, world):
    rec = small_recording
    cars = rec.split("train")[:8]
    make = lambda: (  # noqa: E731
        Episodes(rec, cars)
        if world == "replay"
        else imagined_episodes(rec, cars, 50, torch.Generator().manual_seed(3), world, fit)
    )
    told, untold = make(), make()
    future = told.future(6)
    assert future["x"].shape[:2] == (len(cars), 6)
    for k in range(6):  # the two egos act differently; the others go on alike, as foretold
        told.step(torch.full((len(cars),), 0.5), torch.zeros(len(cars)))
        untold.step(torch.full((len(cars),), -2.0), torch.full((len(cars),), 0.002))
        running = ~told.done
        for key in ("x", "y", "present"):
            assert torch.equal(future[key][running, k], told.others()[key][running])
            assert torch.equal(told.others()[key][running], untold.others()[key][running])


def test_future_seen_from_the_track_is_the_constant_velocity_prediction_in_that_world(small_recording):
    rec = small_recording
    cars = rec.split("test")[:5]
    episodes = imagined_episodes(rec, cars, 50, torch.Generator().manual_seed(1), "constant-velocity")
    _, states = episodes.observe()
    cx, cy = reference_track(states, torch.arange(1, 8))
    assert torch.allclose(
        seen_from(episodes.future(7), cx, cy, rec.road), driven_on(episodes.others(), cx, cy, rec.road), atol=1e-5
    )


def test_future_of_reacting_traffic_is_a_clear_error(small_recording):
    with pytest.raises(ConfigError, match="react to the ego"):
        Episodes(small_recording, small_recording.split("test")[:2], mode="reactive").future(5)


def test_planner_on_the_known_future_sees_the_recorded_frames_ahead(small_recording):
    rec = small_recording
    cars = rec.split("test")[:4]
    episodes = Episodes(rec, cars)
    planner = FutureMpc(Normalisation().fit(rec, rec.split("train")), horizon=10, iterations=1)
    planner.start(episodes)
    for _ in range(3):
        episodes.step(*planner(episodes, *episodes.observe()))
    ahead = planner.futures(episodes)
    cx, cy = reference_track(planner.states[:, -1], torch.arange(1, 11))
    for k in (1, 10):  # the recorded cars k steps on, seen from where the ego would be on its track
        recorded = views(rec, cars, episodes.t + k, centre=(cx[:, k - 1], cy[:, k - 1]))[0][:, 1]
        assert torch.allclose(ahead[:, k - 1], recorded, atol=1e-5)


def test_fitted_world_futures_start_from_the_recorded_present_and_spread_with_the_drivers_noise(small_recording, fit):
    rec = small_recording
    w = TrafficWindows(rec, rec.split("train"), 10, frame="track").sample(6, torch.Generator().manual_seed(4))
    futures = [
        imagined_futures(rec, w["cars"], w["t"], w["track"], 10, fit, 3, torch.Generator().manual_seed(s))
        for s in (0, 1)
    ]
    assert futures[0].shape == (6, 4, 10, 117, 24)
    now = _frame(rec, rec.cars["env"][w["cars"]], w["t"], rec.cars["slot"][w["cars"]])
    one_step = driven_on(now, *reference_track(w["track"], torch.arange(1, 11)), rec.road)[:, 0]
    for k in range(4):  # one step on, every future is where the present's velocities take the cars
        assert torch.allclose(futures[0][:, k, 0], one_step, atol=1e-4)
    assert torch.equal(futures[0][:, 0], futures[1][:, 0])  # the mean future: no noise, whatever the seed
    assert not torch.equal(futures[0][:, 1:, -1], futures[1][:, 1:, -1])  # the noisy ones differ


def test_planner_through_the_fitted_world_predicts_the_replayed_traffic_better_than_constant_velocity(
    small_recording, fit
):
    rec = small_recording
    norm = Normalisation().fit(rec, rec.split("train"))
    cars = rec.split("test")[:6]
    episodes = Episodes(rec, cars, "replay")
    fitted, constant = FittedWorldMpc(norm, rec, fit, horizon=30), ConstantVelocityMpc(norm, horizon=30)
    for planner in (fitted, constant):
        planner.start(episodes)
    for _ in range(3):  # a few steps in, by the recorded actions
        episodes.step(*episodes.recorded_action())
        images, states = episodes.observe()
        for planner in (fitted, constant):
            planner.states = torch.cat([planner.states[:, 1:], states[:, None]], 1)
    cx, cy = reference_track(fitted.states[:, -1], torch.arange(1, 31))
    truth = seen_from(episodes.future(30), cx, cy, rec.road)
    error = {
        name: (p.futures(episodes) - truth).abs().mean(dim=(0, 2, 3)) for name, p in [("fit", fitted), ("cv", constant)]
    }
    assert error["fit"][0] < 1e-3  # one step on, the present frame moved at its velocities: exact
    assert error["fit"][-10:].mean() < error["cv"][-10:].mean()  # 2-3 s on, the fitted drivers brake and follow
    with pytest.raises(ConfigError, match="replay mode only"):
        fitted.start(Episodes(rec, cars, "reactive"))
