"""The DeepMind Control Suite through gymnasium: spaces, action repeat, seeding, rendering, and an agent on it."""

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from ebmlab.cli import cli
from ebmlab.world.envs import make_env
from world_small import SMALL

CARTPOLE = "dmc/cartpole-swingup-v0"


def test_spaces_and_an_episode_of_500_steps_at_action_repeat_2():
    env = make_env(CARTPOLE, seed=0, need_cost=False)
    assert env.observation_space.shape == (5,) and env.observation_space.dtype == np.float32  # position 3, velocity 2
    assert env.action_space.shape == (1,) and (env.action_space.low == -1).all() and (env.action_space.high == 1).all()
    obs, _ = env.reset(seed=0)
    steps, total = 0, 0.0
    while True:
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert obs.shape == (5,) and obs.dtype == np.float32 and not terminated  # the suite never ends on failure
        assert 0 <= reward <= 2  # two physics steps, each rewarded in [0, 1]
        steps, total = steps + 1, total + reward
        if truncated:
            break
    assert steps == 500  # 1,000 physics steps
    env.close()


def test_the_suite_warns_once_not_at_every_seeded_reset(caplog):
    env = make_env("dmc/cheetah-run-v0", seed=0, need_cost=False)  # cheetah's model uses a deprecated attribute
    with caplog.at_level("WARNING", logger="absl"):
        for seed in range(3):
            env.reset(seed=seed)  # each a fresh load of the task
    assert len([r for r in caplog.records if r.name == "absl"]) <= 1
    env.close()


def _episode(env, seed: int, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first, _ = env.reset(seed=seed)
    out = [env.step(a) for a in actions]
    return first, np.array([o for o, *_ in out]), np.array([r for _, r, *_ in out])


def test_a_seed_gives_the_same_episode_and_another_seed_another():
    env = make_env(CARTPOLE, need_cost=False)
    actions = np.random.default_rng(0).uniform(-1, 1, (20, 1)).astype(np.float32)
    a0, a, ra = _episode(env, 3, actions)
    b0, b, rb = _episode(env, 3, actions)
    c0, *_ = _episode(env, 4, actions)
    assert np.array_equal(a0, b0) and np.array_equal(a, b) and np.array_equal(ra, rb)
    assert not np.array_equal(a0, c0)
    env.close()


def test_rendered_frames_show_the_task_and_feed_the_pixel_agent():
    env = make_env(CARTPOLE, seed=0, need_cost=False, observation="pixels", frame_size=32)
    obs, info = env.reset(seed=0)
    assert obs.shape == (2, 32, 32) and obs.dtype == np.uint8 and info["state"].shape == (5,)
    assert obs.std() > 5  # a picture, not a blank frame
    moved, *_ = env.step(np.ones(1, np.float32))
    for _ in range(10):
        moved, *_ = env.step(np.ones(1, np.float32))
    assert np.abs(moved[1].astype(int) - obs[1].astype(int)).sum() > 0  # the cart moved in the picture
    env.close()


def test_without_dm_control_the_error_says_how_to_install_it():
    code = (
        "import sys; sys.modules['dm_control'] = None\n"
        "from ebmlab.world.envs import make_env\n"
        f"make_env('{CARTPOLE}', need_cost=False)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "pip install dm-control" in proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("agent", ["world", "sac"])
def test_the_world_agent_and_sac_run_on_a_suite_task(tmp_path, monkeypatch, agent):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / agent
    if agent == "world":
        args = [a if a != "Pendulum-v1" else CARTPOLE for a in SMALL] + ["--cost", "learned", "--td-value"]
    else:
        args = ["world", "baseline", "--algo", "sac", "--env", CARTPOLE, "--steps", "120"]
        args += ["--eval-every", "60", "--eval-episodes", "1"]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    final = json.loads((out / "metrics.json").read_text())
    assert 0 <= final["eval_return"] <= 1000  # rewards in [0, 1] for at most 1,000 physics steps
