"""The gymnasium environment and the stable-baselines3 VecEnv over the same episodes; the command line."""

import json

import gymnasium as gym
import numpy as np
import pytest
from click.testing import CliRunner

from ebmlab.cli import cli
from ebmlab.world.traffic.gym_env import ENV_ID, TrafficVecEnv


def test_gymnasium_env_passes_the_checker_and_ends_on_collision(tmp_path, small_recording):
    from gymnasium.utils.env_checker import check_env

    path = small_recording.save(tmp_path / "rec.safetensors")
    env = gym.make(ENV_ID, recording=str(path), render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == (4, 117, 24) and obs["image"].dtype == np.uint8
    again, _ = env.reset(seed=0)
    assert np.array_equal(obs["image"], again["image"])  # seeding picks the same car
    for steps in range(2000):
        obs, reward, terminated, truncated, info = env.step(np.zeros(2, np.float32))  # no action
        if terminated or truncated:
            break
    assert terminated and (info["collision"] or info["offroad"])
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3


def test_sb3_vec_env_steps_a_batch_and_restarts_finished_episodes(small_recording):
    from stable_baselines3.common.vec_env import VecEnv

    venv = TrafficVecEnv(6, recording=small_recording, seed=1)
    assert isinstance(venv, VecEnv)
    obs = venv.reset()
    assert obs["image"].shape == (6, 4, 117, 24)
    ended = 0
    for _ in range(400):
        obs, rewards, dones, infos = venv.step(np.zeros((6, 2), np.float32))
        assert rewards.shape == (6,) and np.isfinite(rewards).all()
        for done, info in zip(dones, infos):
            if done:
                ended += 1
                assert "terminal_observation" in info and "collision" in info
    assert ended >= 6  # no action: every car is soon hit, and restarted
    assert not venv.episodes.done.any()


def test_record_render_time_from_the_command_line(tmp_path):
    out = tmp_path / "rec"
    result = CliRunner().invoke(
        cli, ["world", "traffic", "record", "--envs", "1", "--seconds", "60", "--gif-steps", "20", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("density_veh_per_km_lane", "mean_speed_mps", "stop_and_go_share", "flow_veh_per_h_lane"):
        assert metrics[key] > 0
    assert metrics["overlapping_pairs"] == 0
    for name in ("traffic.safetensors", "time_space.png", "fundamental_diagram.png", "report.html"):
        assert (out / name).exists(), name
    assert "image/gif" in (out / "report.html").read_text()
    gif = tmp_path / "e.gif"
    result = CliRunner().invoke(cli, ["world", "traffic", "render", str(out), "--driver", "none", "--out", str(gif)])
    assert result.exit_code == 0, result.output
    assert gif.read_bytes()[:6] == b"GIF89a"


@pytest.mark.parametrize(
    "args,message",
    [
        (["world", "traffic", "record", "--envs", "0"], "--envs must be >= 1"),
        (["world", "traffic", "record", "--seconds", "2"], "--seconds must be >= 10"),
        (["world", "traffic", "render", "MISSING", "--out", "x.gif"], "does not exist"),
    ],
)
def test_bad_inputs_are_one_line_errors_with_status_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing half-written
    assert not (tmp_path / "x.gif").exists()


def test_render_refuses_an_unknown_car_and_writes_nothing(tmp_path, small_recording):
    path = small_recording.save(tmp_path / "rec.safetensors")
    result = CliRunner().invoke(
        cli, ["world", "traffic", "render", str(path), "--car", "999999", "--out", str(tmp_path / "x.gif")]
    )
    assert result.exit_code == 2 and "not a complete recorded car" in result.output
    assert not (tmp_path / "x.gif").exists()
