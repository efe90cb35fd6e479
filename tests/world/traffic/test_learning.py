"""The learning half of PPUU on small recordings: forward model, policies, evaluation, the command line."""

import json

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from ebmlab.cli import cli
from ebmlab.world.driving.data import TrafficWindows
from ebmlab.world.driving.evaluate import PolicyDriver, evaluate
from ebmlab.world.driving.model import TrafficModel
from ebmlab.world.driving.policy import DrivingPolicy, dropout_uncertainty, imitation_loss, mper_loss, mpur_loss
from ebmlab.world.traffic.recording import CONDITIONING


@pytest.fixture(scope="module")
def windows(small_recording):
    return TrafficWindows(small_recording, small_recording.split("train"), future=4)


def _model(rec, latent_dim=0, dropout=0.1):
    torch.manual_seed(0)
    model = TrafficModel(latent_dim=latent_dim, dropout=dropout, frame_dim=32, hidden=64, width=8)
    model.norm.fit(rec, rec.split("train")[:50])
    return model


def test_windows_hold_past_actions_and_future(windows, small_recording):
    w = windows.sample(3, torch.Generator().manual_seed(0))
    assert w["images"].shape == (3, CONDITIONING + 4, 4, 117, 24) and w["actions"].shape == (3, 4, 2)
    # the states are the recorded car's own, frame by frame
    rec, car, t = small_recording, int(w["cars"][0]), int(w["t"][0])
    e, s = int(rec.cars["env"][car]), int(rec.cars["slot"][car])
    assert torch.allclose(w["states"][0, CONDITIONING - 1, 0], rec.frames["x"][e, t, s])
    assert torch.allclose(w["actions"][0, 0, 0], rec.frames["a"][e, t, s])


def test_model_predicts_shapes_and_only_the_stochastic_one_pays_kl(windows, small_recording):
    w = windows.sample(2, torch.Generator().manual_seed(1))
    det, sto = _model(small_recording), _model(small_recording, latent_dim=8)
    _, terms_det = det.loss(w)
    _, terms_sto = sto.loss(w, generator=torch.Generator().manual_seed(0))
    assert float(terms_det["kl"]) == 0.0 and float(terms_sto["kl"]) > 0.0
    with torch.no_grad():
        images, states, _ = det.unroll(w["images"][:, :CONDITIONING], w["states"][:, :CONDITIONING], w["actions"])
    assert images.shape == (2, 4, 4, 117, 24) and states.shape == (2, 4, 4)
    assert float(images.min()) >= 0 and float(images.max()) <= 1


def test_model_fits_a_batch(windows, small_recording):
    w = windows.sample(4, torch.Generator().manual_seed(2))
    model = _model(small_recording, latent_dim=8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss, _ = model.loss(w, generator=torch.Generator().manual_seed(0))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]


def test_policy_losses_train_the_policy_only(windows, small_recording):
    w = windows.sample(2, torch.Generator().manual_seed(3))
    model = _model(small_recording, latent_dim=8).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    policy = DrivingPolicy(frame_dim=16, hidden=32, width=4)
    policy.norm.load_state_dict(model.norm.state_dict())
    for loss, _ in (
        imitation_loss(policy, w),
        mper_loss(policy, model, w, 3),
        mpur_loss(policy, model, w, 3, samples=3, generator=torch.Generator().manual_seed(0)),
    ):
        policy.zero_grad()
        loss.backward()
        assert torch.isfinite(loss)
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    assert all(p.grad is None for p in model.parameters())


def test_mpur_mask_sized_by_the_start_speed_prices_at_least_as_much(windows, small_recording):
    w = windows.sample(8, torch.Generator().manual_seed(5))
    model = _model(small_recording).eval()
    policy = DrivingPolicy(frame_dim=16, hidden=32, width=4)
    policy.norm.load_state_dict(model.norm.state_dict())
    proximity = {}
    for rule in ("own", "start", "max"):
        _, terms = mpur_loss(policy, model, w, 4, uncertainty_weight=0.0, mask_speed=rule)
        proximity[rule] = float(terms["proximity"])
    assert proximity["max"] >= max(proximity["own"], proximity["start"]) - 1e-6
    assert proximity["max"] > min(proximity["own"], proximity["start"])  # the rule reaches the cost
    with pytest.raises(ValueError, match="mask_speed must be one of"):
        mpur_loss(policy, model, w, 2, uncertainty_weight=0.0, mask_speed="fast")


def test_dropout_uncertainty_is_the_spread_of_dropout_masks(windows, small_recording):
    w = windows.sample(3, torch.Generator().manual_seed(4))
    args = (w["images"][:, :CONDITIONING], w["states"][:, :CONDITIONING], w["actions"][:, :1])
    with_dropout = dropout_uncertainty(_model(small_recording, dropout=0.3), *args, samples=5)
    without = dropout_uncertainty(_model(small_recording, dropout=0.0), *args, samples=5)
    assert with_dropout.shape == (3, 3) and bool((with_dropout[:, :2] > 0).all())
    assert float(without.abs().max()) < 1e-10


def test_a_policy_is_evaluated_on_test_cars(small_recording):
    policy = DrivingPolicy(frame_dim=16, hidden=32, width=4)
    policy.norm.fit(small_recording, small_recording.split("train")[:20])
    result = evaluate(small_recording, PolicyDriver(policy.eval()), cars=4)
    assert result["episodes"] == 4
    for key in ("success_rate", "mean_distance", "collision_rate", "offroad_rate"):
        assert 0 <= result[key] and (key == "mean_distance" or result[key] <= 1)


SMALL_MODEL = ["--steps", "4", "--batch-size", "2", "--future", "2", "--show-steps", "3", "--eval-windows", "2"]


def test_model_policy_and_eval_runs_from_the_command_line(tmp_path, small_recording):
    rec = str(small_recording.save(tmp_path / "rec.safetensors"))
    runner = CliRunner()
    result = runner.invoke(
        cli, ["world", "traffic", "model", "--recording", rec, *SMALL_MODEL, "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 0, result.output
    model_metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert model_metrics["image_mse_1"] > 0 and (tmp_path / "m" / "predicted_vs_real.png").exists()
    result = runner.invoke(
        cli,
        [
            "world",
            "traffic",
            "policy",
            "--recording",
            rec,
            "--model",
            str(tmp_path / "m"),
            "--kind",
            "mpur",
            "--steps",
            "2",
            "--batch-size",
            "2",
            "--horizon",
            "2",
            "--dropout-samples",
            "2",
            "--eval-cars",
            "3",
            "--out",
            str(tmp_path / "p"),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "p" / "metrics.json").read_text())
    assert {"success_rate", "mean_distance", "collision_rate", "offroad_rate"} <= set(metrics)
    result = runner.invoke(
        cli,
        [
            "world",
            "traffic",
            "eval",
            "--recording",
            rec,
            "--driver",
            str(tmp_path / "p"),
            "--cars",
            "3",
            "--mode",
            "reactive",
            "--out",
            str(tmp_path / "e"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["eval_mode"] == "reactive"


def test_an_interrupted_model_run_resumes_exactly(tmp_path, small_recording, interrupted):
    rec = str(small_recording.save(tmp_path / "rec.safetensors"))
    args = ["world", "traffic", "model", "--recording", rec, *SMALL_MODEL, "--checkpoint-every", "2"]
    whole = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    cut = interrupted([*args, "--out", str(tmp_path / "cut")], step=2)
    assert cut.exit_code != 0
    resumed = CliRunner().invoke(cli, ["world", "traffic", "model", "--resume", str(tmp_path / "cut")])
    assert resumed.exit_code == 0, resumed.output
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "cut" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_policy_averaged_over_its_last_steps_resumes_exactly(tmp_path, small_recording, interrupted):
    rec = str(small_recording.save(tmp_path / "rec.safetensors"))
    args = ["world", "traffic", "policy", "--recording", rec, "--kind", "imitation", "--steps", "6"]
    args += ["--batch-size", "2", "--eval-cars", "2", "--checkpoint-every", "2", "--lr", "1e-2"]
    for out, extra in (("plain", []), ("whole", ["--average-last", "4"])):
        result = CliRunner().invoke(cli, [*args, *extra, "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    cut = interrupted([*args, "--average-last", "4", "--out", str(tmp_path / "cut")], step=4)
    assert cut.exit_code != 0
    resumed = CliRunner().invoke(cli, ["world", "traffic", "policy", "--resume", str(tmp_path / "cut")])
    assert resumed.exit_code == 0, resumed.output
    weights = {n: load_file(tmp_path / n / "policy.safetensors") for n in ("plain", "whole", "cut")}
    assert all(torch.equal(weights["whole"][k], weights["cut"][k]) for k in weights["whole"])
    assert not all(torch.equal(weights["whole"][k], weights["plain"][k]) for k in weights["whole"])


@pytest.mark.parametrize(
    "args,message",
    [
        (["world", "traffic", "model"], "--recording is required"),
        (["world", "traffic", "policy", "--recording", "R", "--kind", "mpur"], "give --model RUN"),
        (["world", "traffic", "eval", "--recording", "R", "--driver", "mpc"], "give --model RUN"),
        (["world", "traffic", "model", "--recording", "NOPE"], "does not exist"),
    ],
)
def test_bad_learning_inputs_are_one_line_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
