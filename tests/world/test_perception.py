"""Perception from pixels: rendered frames, a CNN that recovers the state from them, and a run that sees pixels."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ebmlab.cli import cli
from ebmlab.data.trajectories import Transitions
from ebmlab.errors import ConfigError
from ebmlab.world.envs import make_env
from ebmlab.world.perception import ConvEncoder
from world_small import SMALL


def test_pixel_observations_are_two_grey_frames_and_keep_the_state():
    env = make_env("Pendulum-v1", seed=0, observation="pixels", frame_size=32)
    plain = make_env("Pendulum-v1", seed=0)
    frames, info = env.reset(seed=3)
    state, _ = plain.reset(seed=3)
    assert frames.shape == (2, 32, 32) and frames.dtype == np.uint8
    np.testing.assert_array_equal(info["state"], state)
    assert frames.std() > 0  # something is drawn
    nxt, _, _, _, info = env.step(np.array([2.0], dtype=np.float32))
    np.testing.assert_array_equal(nxt[0], frames[1])  # the previous frame moves back
    np.testing.assert_array_equal(info["state"], plain.step(np.array([2.0], dtype=np.float32))[0])


def test_the_encoder_recovers_the_state_from_frames():
    env = make_env("Pendulum-v1", seed=0, observation="pixels", frame_size=32)
    rng = np.random.default_rng(0)
    data = Transitions(3, 1, (2, 32, 32))
    for episode in range(6):
        frames, info = env.reset(seed=episode)
        for _ in range(100):
            action = rng.uniform(-2, 2, size=1).astype(np.float32)
            nxt, reward, _, _, next_info = env.step(action)
            data.add(info["state"], action, reward, next_info["state"], episode, frames=frames, next_frames=nxt)
            frames, info = nxt, next_info
    assert data.frames.shape == (600, 2, 32, 32) and len(data) == 600
    torch.manual_seed(0)
    encoder = ConvEncoder(3, 32)
    encoder.fit_statistics(data.obs[:500])
    opt = torch.optim.Adam(encoder.parameters(), lr=1e-3)
    for _ in range(250):
        i = torch.randint(500, (64,))
        loss = encoder.loss(data.frames[i], data.obs[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        error = (encoder(data.frames[500:]) - data.obs[500:])[:, :2].abs().mean()  # cos θ, sin θ
    assert float(error) < 0.1


def test_a_run_that_sees_pixels_learns_its_encoder_and_is_evaluated(tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "pixels"
    result = CliRunner().invoke(
        cli, [*SMALL, "--observation", "pixels", "--frame-size", "32", "--frame-batch", "16", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("model_perception" in r for r in logged) and (out / "perception.safetensors").exists()
    again = CliRunner().invoke(cli, ["world", "eval", str(out), "--episodes", "1"])
    assert again.exit_code == 0, again.output


def test_frame_size_must_suit_the_encoder():
    from ebmlab.world.train import WorldConfig

    with pytest.raises(ConfigError, match="--frame-size must be a multiple of 8"):
        WorldConfig(observation="pixels", frame_size=30)
