"""DAgger for the driving policy: the mixed driver labels every state it visits with the expert's action, the
regression fits those labels, and a `world traffic policy --kind dagger` run resumes after its last round."""

import json

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from ebmlab.cli import cli
from ebmlab.world.driving.dagger import gather, regress
from ebmlab.world.driving.data import Normalisation
from ebmlab.world.driving.imagined import fit_idm
from ebmlab.world.driving.policy import DrivingPolicy
from ebmlab.world.traffic.episodes import ego_state
from ebmlab.world.traffic.kinematics import clip_action, kinematic_step
from ebmlab.world.traffic.recording import CONDITIONING as C


@pytest.fixture(scope="module")
def setting(small_recording):
    rec = small_recording
    norm = Normalisation().fit(rec, rec.split("train"))
    torch.manual_seed(0)
    policy = DrivingPolicy(frame_dim=16, hidden=32, width=4)
    policy.norm.load_state_dict(norm.state_dict())
    return rec, norm, policy, fit_idm(rec, steps=300)


def _next_states(states: torch.Tensor, actions: torch.Tensor, dt: float) -> torch.Tensor:
    """The states one step on when the ego takes ``actions`` from ``states`` (x, y, vx, vy)."""
    psi, v = torch.atan2(states[:, 3], states[:, 2]), states[:, 2:].norm(dim=1)
    a, b = clip_action(actions[:, 0], actions[:, 1])
    x, y, psi, v = kinematic_step(states[:, 0], states[:, 1], psi, v, a, b, dt)
    return ego_state(x, y, psi, v)


@pytest.mark.parametrize("beta", [1.0, 0.0])
def test_every_visited_state_is_labelled_by_the_expert_whoever_drives(setting, beta):
    rec, norm, policy, fit = setting
    cars = rec.split("train")[:3]
    data, summary = gather(rec, policy, norm, cars, beta, torch.Generator().manual_seed(1), episode_steps=6, fit=fit)
    steps = data["labels"].shape[1]
    assert data["frames"].shape[:2] == (3, C + steps) and data["states"].shape[:2] == (3, C + steps)
    assert summary["episodes"] == 3 and 0 < len(data["car"]) == len(data["step"]) <= 3 * 6
    car, t = data["car"], data["step"]
    keep = t + 1 < steps  # the state after the decision was logged
    car, t = car[keep], t[keep]
    now, then = data["states"][car, t + C], data["states"][car, t + C + 1]
    labels = data["labels"][car, t]
    window = t[:, None] + torch.arange(1, C + 1)
    with torch.no_grad():
        views = data["frames"][car[:, None], window].flatten(0, 1).float() / 255
        acted = policy.act(policy.encoder(views).view(len(car), C, -1), data["states"][car[:, None], window])
    taken = labels if beta == 1 else acted  # β = 1: the expert drives; β = 0: π drives, the expert only labels
    assert torch.allclose(then, _next_states(now, taken, rec.road.dt), atol=1e-3)
    assert not torch.allclose(labels, acted, atol=1e-2)


def test_regression_fits_the_labels_and_averages_weights(setting):
    rec, norm, policy, fit = setting
    data, _ = gather(
        rec, policy, norm, rec.split("train")[:4], 1.0, torch.Generator().manual_seed(2), episode_steps=8, fit=fit
    )
    torch.manual_seed(0)
    pi = DrivingPolicy(frame_dim=16, hidden=32, width=4)
    pi.norm.load_state_dict(norm.state_dict())
    opt = torch.optim.Adam(pi.parameters(), lr=3e-3)
    first = regress(pi, opt, [data], 1, 16, torch.Generator().manual_seed(0))
    last = regress(pi, opt, [data], 150, 16, torch.Generator().manual_seed(0))
    assert last < 0.5 * first
    before = [p.detach().clone() for p in pi.parameters()]
    regress(pi, opt, [data], 4, 16, torch.Generator().manual_seed(0), average=4)
    moved = [p.detach().clone() for p in pi.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(before, moved))


SMALL_DAGGER = [
    *("--kind", "dagger", "--dagger-rounds", "2", "--dagger-cars", "3", "--episode-steps", "4"),
    *("--steps", "3", "--batch-size", "2", "--average-steps", "2", "--eval-cars", "2", "--eval-rounds"),
]


def test_a_dagger_run_resumes_after_its_last_round(tmp_path, small_recording, interrupted):
    rec = str(small_recording.save(tmp_path / "rec.safetensors"))
    args = ["world", "traffic", "policy", "--recording", rec, *SMALL_DAGGER]
    whole = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    rows = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and rows[0]["beta"] == 1 and rows[1]["beta"] == 0.5
    assert rows[1]["labels"] > rows[0]["labels"] > 0 and 0 <= rows[1]["imagined_success_rate"] <= 1
    assert 0 <= rows[1]["test_success_rate"] <= 1
    metrics = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert {"success_rate", "mean_distance", "collision_rate", "offroad_rate"} <= set(metrics)
    assert metrics["labels"] == rows[1]["labels"]
    cut = interrupted([*args, "--out", str(tmp_path / "cut")], step=1)
    assert cut.exit_code != 0 and (tmp_path / "cut" / "labels" / "round0.pt").exists()
    resumed = CliRunner().invoke(cli, ["world", "traffic", "policy", "--resume", str(tmp_path / "cut")])
    assert resumed.exit_code == 0, resumed.output
    a, b = load_file(tmp_path / "whole" / "policy.safetensors"), load_file(tmp_path / "cut" / "policy.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_mpur_trains_on_the_states_a_dagger_policy_reached(tmp_path, small_recording):
    rec = str(small_recording.save(tmp_path / "rec.safetensors"))
    runner = CliRunner()
    dagger = runner.invoke(
        cli, ["world", "traffic", "policy", "--recording", rec, *SMALL_DAGGER, "--out", str(tmp_path / "d")]
    )
    assert dagger.exit_code == 0, dagger.output
    small_model = ["--steps", "2", "--batch-size", "2", "--future", "2", "--show-steps", "3", "--eval-windows", "2"]
    model = runner.invoke(
        cli, ["world", "traffic", "model", "--recording", rec, *small_model, "--out", str(tmp_path / "m")]
    )
    assert model.exit_code == 0, model.output
    args = ["world", "traffic", "policy", "--recording", rec, "--model", str(tmp_path / "m"), "--kind", "mpur"]
    args += ["--on-policy-states", str(tmp_path / "d"), "--init", str(tmp_path / "d"), "--regression-weight", "1"]
    args += ["--steps", "2", "--batch-size", "2", "--horizon", "2", "--dropout-samples", "2", "--eval-cars", "2"]
    result = runner.invoke(cli, [*args, "--log-every", "1", "--lr", "1e-12", "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "p" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["regression_mse"] > 0 and r["task_cost"] >= 0 for r in rows if "regression_mse" in r)
    assert sum("regression_mse" in r for r in rows) == 2
    start = load_file(tmp_path / "d" / "policy.safetensors")
    trained = load_file(tmp_path / "p" / "policy.safetensors")  # lr 1e-12: π is still the DAgger π it started from
    assert all(torch.allclose(start[k], trained[k], atol=1e-6) for k in start)


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--kind", "imitation", "--on-policy-states", "D"], "--on-policy-states is for --kind mpur"),
        (["--kind", "mpur", "--model", "M", "--regression-weight", "1"], "needs --on-policy-states"),
    ],
)
def test_bad_on_policy_inputs_are_one_line_errors(tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["world", "traffic", "policy", "--recording", "R", *extra, "--out", "out"])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--model", "M"], "drop --model"),
        (["--average-steps", "5000"], "--average-steps must be in"),
        (["--lr-decay", "0"], "--lr-decay must be in"),
    ],
)
def test_bad_dagger_inputs_are_one_line_errors(tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["world", "traffic", "policy", "--recording", "R", "--kind", "dagger", *extra])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
