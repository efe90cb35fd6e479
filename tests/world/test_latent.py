"""A world model from pixels alone: the buffer's frames at s', VICReg's terms, the losses, embeddings that do not
collapse on real frames, and runs that plan over embeddings (resumed exactly, evaluated from their folder)."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from ebmlab.cli import cli
from ebmlab.data.trajectories import Transitions
from ebmlab.world.envs import make_env
from ebmlab.world.latent import LatentWorld, fit_latent, vicreg_terms
from world_small import SMALL


def pendulum_frames(episodes: int, steps: int, size: int = 32) -> Transitions:
    """Real Pendulum-v1 frames under smoothly wandering random torques (they swing it further than white noise)."""
    env = make_env("Pendulum-v1", seed=0, observation="pixels", frame_size=size)
    rng = np.random.default_rng(0)
    data = Transitions(3, 1, (2, size, size))
    for episode in range(episodes):
        obs, info = env.reset(seed=episode)
        torque = 0.0
        for _ in range(steps):
            torque = float(np.clip(torque + rng.normal(0, 0.7), -2, 2))
            action = np.array([torque], dtype=np.float32)
            nxt, reward, _, _, next_info = env.step(action)
            data.add(info["state"], action, reward, next_info["state"], episode, frames=obs, next_frames=nxt)
            obs, info = nxt, next_info
    env.close()
    return data


def test_the_frames_at_s_prime_are_the_next_steps_and_old_buffers_load():
    data = pendulum_frames(2, 20, size=16)
    same = (data.episode[1:] == data.episode[:-1]).nonzero()[:, 0]
    assert len(same) == 38
    assert torch.equal(data.next_frames[same], data.frames[same + 1])
    assert not torch.equal(data.next_frames[19], data.frames[20])  # an episode's last step: its own s'
    old = {k: v for k, v in data.state_dict().items() if k != "next_frame"}  # a checkpoint from before
    again = Transitions(3, 1, (2, 16, 16))
    again.load_state_dict(old)
    assert torch.equal(again.next_frames[same], data.frames[same + 1])


def test_vicreg_terms_see_collapse_and_correlation():
    g = torch.Generator().manual_seed(0)
    spread = torch.randn(4096, 8, generator=g)
    variance, covariance = vicreg_terms(spread)
    assert float(variance) < 0.03 and float(covariance) < 0.01
    variance, _ = vicreg_terms(0.01 * spread)  # nearly one point
    assert float(variance) > 0.95
    _, covariance = vicreg_terms(spread[:, :1].repeat(1, 8))  # eight copies of one coordinate
    assert float(covariance) > 6


@pytest.mark.parametrize("objective", ["jepa", "reconstruction"])
def test_a_masked_step_changes_nothing_and_each_objective_has_its_terms(objective):
    torch.manual_seed(0)
    world = LatentWorld(1, dim=8, size=16, hidden=16, layers=2, objective=objective)
    frames = torch.randint(0, 256, (6, 2, 16, 16), dtype=torch.uint8)
    actions, rewards, targets = torch.randn(6, 3, 1), torch.randn(6, 3), torch.randn(6, 3, 8)
    mask = torch.tensor([[1.0, 1.0, 0.0]]).repeat(6, 1)
    total, terms = world.loss(frames, actions, rewards, targets, mask)
    other = targets.clone()
    other[:, 2] += 100  # beyond the episode's end: masked
    again, _ = world.loss(frames, actions, rewards.clone(), other, mask)
    assert torch.allclose(total, again)
    moved, _ = world.loss(frames, actions, rewards, targets + 1, mask)
    assert not torch.allclose(total, moved)
    own = {"jepa": {"variance", "covariance"}, "reconstruction": {"reconstruction"}}[objective]
    assert set(terms) == {"consistency", "cost"} | own


def test_jepa_embeddings_of_real_frames_do_not_collapse_and_carry_the_unseen_state():
    """Fitted on real Pendulum frames, never on the state: the embeddings keep their spread and rank, and a
    linear read-out of them recovers cos θ and sin θ on held-out episodes, which no loss ever showed."""
    data = pendulum_frames(6, 100)
    torch.manual_seed(0)
    world = LatentWorld(1, dim=16, size=32, hidden=64, layers=2, objective="jepa")
    opt = torch.optim.Adam(world.parameters(), lr=1e-3)
    _, latent = fit_latent(world, opt, data, 300, 32, 5, 100, torch.Generator().manual_seed(0))
    z = latent.obs
    assert float(z.std(0).min()) > 0.5  # VICReg's hinge holds each coordinate's spread up
    p = torch.linalg.svdvals(z - z.mean(0)) ** 2
    p = p / p.sum()
    assert float(torch.exp(-(p * p.clamp_min(1e-12).log()).sum())) > 2  # effective rank: more than a line
    x = torch.cat([z, torch.ones(len(z), 1)], 1)
    w = torch.linalg.lstsq(x[:500], data.obs[:500, :2]).solution
    error = ((x[500:] @ w - data.obs[500:, :2]) ** 2).sum(0)
    r2 = 1 - error / ((data.obs[500:, :2] - data.obs[500:, :2].mean(0)) ** 2).sum(0)
    assert float(r2.min()) > 0.8, r2


PIXELS = [*SMALL, "--observation", "pixels", "--frame-size", "16", "--frame-batch", "8", "--embedding-dim", "8"]


@pytest.mark.parametrize("objective", ["jepa", "reconstruction"])
def test_a_run_from_pixels_alone_plans_over_embeddings_and_is_evaluated(tmp_path, monkeypatch, objective):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / objective
    extra = ["--td-value", "--td-steps", "5"] if objective == "jepa" else []
    result = CliRunner().invoke(cli, [*PIXELS, "--perception", objective, *extra, "--out", str(out)])
    assert result.exit_code == 0, result.output
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("model_consistency" in r for r in logged)
    assert not (out / "perception.safetensors").exists() and not (out / "cost.safetensors").exists()
    weights = load_file(out / "model.safetensors")
    assert any(k.startswith("encoder.") for k in weights) and any(k.startswith("cost.") for k in weights)
    assert any(k.startswith("decoder.") for k in weights) == (objective == "reconstruction")
    again = CliRunner().invoke(cli, ["world", "eval", str(out), "--episodes", "1"])
    assert again.exit_code == 0, again.output


def test_an_interrupted_run_from_pixels_resumes_exactly(tmp_path, monkeypatch, interrupted):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    args = [*PIXELS, "--perception", "jepa", "--td-value", "--td-steps", "5"]
    full = tmp_path / "full"
    assert CliRunner().invoke(cli, [*args, "--out", str(full)]).exit_code == 0
    cut = tmp_path / "cut"
    interrupted([*args, "--out", str(cut)], 60)
    resumed = CliRunner().invoke(cli, ["world", "train", "--resume", str(cut)])
    assert resumed.exit_code == 0, resumed.output
    for name in ("model", "value"):
        a, b = load_file(cut / f"{name}.safetensors"), load_file(full / f"{name}.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
