"""Recordings: split by car, saved and read back, replayed deterministically; PPUU's protocol on them."""

import pytest
import torch

from ebmlab.errors import DataError
from ebmlab.world.traffic.episodes import Episodes, views
from ebmlab.world.traffic.recording import CONDITIONING, load_recording, record_traffic
from ebmlab.world.traffic.simulator import TrafficConfig


def test_split_by_car_is_disjoint_complete_and_fixed(small_recording):
    rec = small_recording
    parts = {name: rec.split(name) for name in ("train", "val", "test")}
    every = torch.cat(list(parts.values()))
    assert len(every) == len(set(every.tolist())) == len(rec.complete())
    n = len(every)
    assert abs(len(parts["train"]) - 0.8 * n) <= 1 and abs(len(parts["test"]) - 0.1 * n) <= 1
    assert torch.equal(parts["test"], rec.split("test"))  # the same split every time
    with pytest.raises(DataError):
        rec.split("holdout")


def test_save_and_load_round_trip(tmp_path, small_recording):
    path = small_recording.save(tmp_path / "t.safetensors")
    back = load_recording(path)
    assert back.config == small_recording.config and back.seed == small_recording.seed
    for k, v in small_recording.frames.items():
        assert torch.equal(back.frames[k], v)
    assert torch.equal(back.split("test"), small_recording.split("test"))


@pytest.mark.parametrize("content", [b"", b"not a recording at all", None])
def test_bad_recording_files_are_one_line_errors(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match="recording|safetensors"):
        load_recording(path)


def test_same_seed_same_recording():
    one, two = (record_traffic(TrafficConfig(warmup=5.0), envs=1, seconds=20, seed=5) for _ in range(2))
    assert all(torch.equal(one.frames[k], two.frames[k]) for k in one.frames)


def test_recorded_driver_always_arrives_and_doing_nothing_fails_in_replay(small_recording):
    rec = small_recording
    cars = rec.split("train")[:40]
    recorded, idle = Episodes(rec, cars), Episodes(rec, cars)
    while not (recorded.done.all() and idle.done.all()):
        recorded.step(*recorded.recorded_action())
        idle.step(torch.zeros(len(cars)), torch.zeros(len(cars)))
    assert recorded.summary()["success_rate"] == 1.0  # replaying its own actions: always through
    # and in as many steps as the recorded car took to cross the segment
    took = rec.cars["crossed"][cars] - recorded.start
    assert torch.all((recorded.steps - took).abs() <= 1)
    idle_summary = idle.summary()
    assert idle_summary["success_rate"] <= 0.25 and idle_summary["collision_rate"] >= 0.5


def test_a_car_that_stops_is_hit_from_behind(small_recording):
    cars = small_recording.split("train")[:40]
    stopping = Episodes(small_recording, cars)
    while not stopping.done.all():
        stopping.step(torch.full((len(cars),), -8.0), torch.zeros(len(cars)))
    summary = stopping.summary()
    assert summary["collision_rate"] >= 0.5 and summary["hit_from_behind_rate"] == summary["collision_rate"]


def test_replay_is_deterministic_and_reactive_traffic_reacts(small_recording):
    rec = small_recording
    cars = rec.split("train")[:8]
    runs = []
    for _ in range(2):
        ep = Episodes(rec, cars)
        for _ in range(30):
            ep.step(torch.full((8,), -1.0), torch.zeros(8))
        runs.append((ep.x.clone(), ep.others()["x"].clone()))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    # in reactive mode the car behind a braking ego car brakes too, instead of following its recording
    reactive = Episodes(rec, cars, mode="reactive")
    for _ in range(30):
        reactive.step(torch.full((8,), -3.0), torch.zeros(8))
    assert not torch.allclose(reactive.others()["x"], runs[0][1])


def test_views_and_history_match_the_recorded_car(small_recording):
    rec = small_recording
    cars = rec.split("val")[:3]
    ep = Episodes(rec, cars)
    images, states = ep.history()
    assert images.shape == (3, CONDITIONING, 4, 117, 24) and states.shape == (3, CONDITIONING, 4)
    now_images, now_states = ep.observe()
    direct_images, direct_states = views(rec, cars, ep.start)
    assert torch.allclose(now_images, direct_images) and torch.allclose(now_states, direct_states)
    before = (ep.env, ep.start - 1, ep.slot)
    assert torch.allclose(states[:, -1, :2], torch.stack([rec.frames["x"][before], rec.frames["y"][before]], -1))
