"""ebmlab world train: a real (short) Pendulum run with each actor and model, exact resume, and bad inputs."""

import json
import subprocess
import sys
import tempfile

import gymnasium as gym
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from ebmlab.cli import cli
from ebmlab.errors import ConfigError
from ebmlab.world.envs import check_env
from world_small import SMALL


@pytest.mark.parametrize(
    "actor,model,value", [("mpc", "deterministic", False), ("cem", "latent", True), ("policy", "ensemble", True)]
)
def test_a_short_run_learns_logs_and_reports(tmp_path, monkeypatch, actor, model, value):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / actor
    extra = ["--uncertainty-weight", "0.5"] if actor == "policy" else []
    extra += ["--value-grid", "24x9", "--value-actions", "5"] if value else []
    result = CliRunner().invoke(cli, [*SMALL, "--actor", actor, "--model", model, *extra, "--out", str(out)])
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["env_steps"] == 90 and m["episodes"] == 3
    assert -16.3 * 30 <= m["eval_return"] <= 0  # Pendulum's cost per step is at most π² + 0.1·8² + 0.001·2²
    assert m["decision_ms"] > 0
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "eval_return" in r] == [0, 60, 90]  # the untrained agent, then every 60
    assert any("model_prediction" in r for r in logged)
    if model == "latent":
        assert any("model_kl" in r for r in logged)
    if actor == "policy":
        assert any("policy_planned_cost" in r for r in logged) and (out / "policy.safetensors").exists()
    assert any("value_max" in r for r in logged) == value and (out / "value.safetensors").exists() == value
    for name in ("learning_curve.png", "rollouts.png", "plans.png", "report.html", "model.safetensors"):
        assert (out / name).exists(), name
    again = CliRunner().invoke(cli, ["world", "eval", str(out), "--episodes", "1"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "eval.json").read_text())["eval_return"] <= 0


def test_a_learned_cost_plans_where_no_cost_is_known(tmp_path, monkeypatch):
    """InvertedPendulum-v5 (MuJoCo) has no cost in ebmlab.world.costs: --cost learned fits one to the rewards."""
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "learned"
    args = [a if a != "Pendulum-v1" else "InvertedPendulum-v5" for a in SMALL]
    result = CliRunner().invoke(cli, [*args, "--cost", "learned", "--out", str(out)])
    assert result.exit_code == 0, result.output
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("model_cost" in r for r in logged) and (out / "cost.safetensors").exists()
    again = CliRunner().invoke(cli, ["world", "eval", str(out), "--episodes", "1"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "eval.json").read_text())["eval_return"] >= 1  # +1 per step while the pole is up


def test_eval_refuses_a_folder_that_is_not_a_world_run(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "ebmlab", "world", "eval", str(tmp_path / "empty")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_td_value_learns_from_episodes_that_end_and_fits_only_when_due(tmp_path, monkeypatch):
    """InvertedDoublePendulum-v5's episodes end when it falls: the buffer marks those steps, and the value's
    fit (and the model's) waits for --fit-every new steps."""
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "idp"
    args = [a if a != "Pendulum-v1" else "InvertedDoublePendulum-v5" for a in SMALL]
    extra = ["--td-value", "--td-steps", "10", "--fit-every", "40", "--max-episode-steps", "0", "--env-steps", "150"]
    result = CliRunner().invoke(cli, [*args, *extra, "--out", str(out)])
    assert result.exit_code == 0, result.output
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    fits = [r["step"] for r in logged if "td_loss" in r]  # logged after the episode that followed the fit
    episodes = [r for r in logged if "episode_steps" in r]
    assert len(fits) >= 2 and len(fits) < len(episodes) - 1
    starts = {r["step"]: r["step"] - r["episode_steps"] for r in episodes}
    assert all(starts[b] - starts[a] >= 40 for a, b in zip(fits, fits[1:]))
    data = torch.load(out / "checkpoints" / "last.pt", weights_only=False)["states"]["data"]
    ended = data["terminated"].nonzero()[:, 0]
    assert len(ended) >= len(episodes) - 1  # every episode but perhaps the last (cut at --env-steps) fell
    last_steps = torch.cat([(data["episode"][1:] != data["episode"][:-1]).nonzero()[:, 0], torch.tensor([149])])
    assert set(ended.tolist()) <= set(last_steps.tolist())  # only an episode's last step ends it
    assert (out / "value.safetensors").exists()
    again = CliRunner().invoke(cli, ["world", "eval", str(out), "--episodes", "1"])
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize(
    "value",
    [["--value-grid", "24x9", "--value-actions", "5"], ["--td-value", "--td-steps", "10", "--fit-every", "40"]],
    ids=["table", "td"],
)
def test_interrupted_then_resumed_run_ends_with_the_same_model(tmp_path, monkeypatch, interrupted, value):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    args = [*SMALL, "--actor", "mpc", *value]  # the value resumed too
    full = tmp_path / "full"
    assert CliRunner().invoke(cli, [*args, "--out", str(full)]).exit_code == 0

    cut = tmp_path / "cut"
    interrupted([*args, "--out", str(cut)], 60)
    assert not (cut / "metrics.json").exists()
    resumed = CliRunner().invoke(cli, ["world", "train", "--resume", str(cut)])
    assert resumed.exit_code == 0, resumed.output
    for name in ("model", "value"):
        a, b = load_file(cut / f"{name}.safetensors"), load_file(full / f"{name}.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (
        json.loads((cut / "metrics.json").read_text())["eval_return"]
        == json.loads((full / "metrics.json").read_text())["eval_return"]
    )


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--env", "NoSuchEnv-v0"], "unknown environment 'NoSuchEnv-v0'"),
        (["--env", "CartPole-v1"], "Discrete action space"),
        (["--actor", "sac"], "Invalid value for '--actor'"),
        (["--cem-elites", "500"], "--cem-elites must be <= --cem-population"),
        (["--env", "InvertedPendulum-v5"], "no known cost for InvertedPendulum-v5"),
        (["--value-grid", "720"], "--value-grid must be two sizes >= 2 like 720x321"),
        (["--env", "MountainCarContinuous-v0", "--value-grid", "30x30"], "a value table needs a chart"),
        (["--td-value", "--value-grid", "30x30"], "--td-value and --value-grid are two terminal values"),
        (["--td-value", "--gamma", "1"], "--gamma must be in [0, 1)"),
        (
            ["--observation", "pixels", "--perception", "jepa", "--value-grid", "30x30"],
            "a world model from pixels alone has none",
        ),
    ],
)
def test_bad_inputs_are_one_line_errors_and_leave_nothing(tmp_path, extra, message):
    out = tmp_path / "bad"
    proc = subprocess.run(
        [sys.executable, "-m", "ebmlab", "world", "train", *extra, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert not out.exists()


class _ImageObservations(gym.Env):
    observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)


def test_image_observations_are_refused_with_the_shape():
    with pytest.raises(ConfigError, match=r"shape \(8, 8, 3\)"):
        check_env(_ImageObservations(), "Images-v0")


def test_model_free_baseline_logs_the_same_curve_and_cannot_be_resumed(tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where SB3 would put its log folder by default
    out = tmp_path / "sac"
    result = CliRunner().invoke(
        cli,
        [
            "world",
            "baseline",
            "--algo",
            "sac",
            "--steps",
            "150",
            "--eval-every",
            "100",
            "--eval-episodes",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["env_steps"] == 150 and -16.3 * 200 <= m["eval_return"] <= 0
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "eval_return" in r] == [0, 100, 150]
    assert (out / "learning_curve.png").exists() and (out / "policy.safetensors").exists()
    assert (out / "sb3" / "progress.csv").exists() and not list(scratch.glob("SB3-*"))
    again = subprocess.run(
        [sys.executable, "-m", "ebmlab", "world", "baseline", "--resume", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 2 and "cannot be resumed" in again.stderr
    assert json.loads((out / "metrics.json").read_text()) == m  # the finished run is left alone
