"""The ego car separated from the world model (Sobal et al. 2022): reference-track views, exact kinematics, a bank
of the model's futures, and MPUR/MPER through them."""

import json

import pytest
import torch
from click.testing import CliRunner

from ebmlab.cli import cli
from ebmlab.world.driving.data import TrafficWindows, reference_track
from ebmlab.world.driving.evaluate import evaluate
from ebmlab.world.driving.kinematic_ego import (
    build_bank,
    ego_views,
    kinematic_mper_loss,
    kinematic_mpur_loss,
    kinematic_rollout,
    track_views,
)
from ebmlab.world.driving.model import TrafficModel, kinematic_state_step
from ebmlab.world.driving.mpc import MpcDriver
from ebmlab.world.driving.policy import DrivingPolicy
from ebmlab.world.traffic.episodes import Episodes, driven_on, views
from ebmlab.world.traffic.raster import SCALE
from ebmlab.world.traffic.recording import CONDITIONING as C

FUTURE = 6


@pytest.fixture(scope="module")
def windows(small_recording):
    return TrafficWindows(small_recording, small_recording.split("train"), future=FUTURE, frame="track")


def _model(rec, latent_dim=8, dropout=0.2):
    torch.manual_seed(0)
    model = TrafficModel(latent_dim=latent_dim, dropout=dropout, frame_dim=32, hidden=64, width=8, ego="kinematic")
    model.norm.fit(rec, rec.split("train")[:50])
    return model


class Steady(torch.nn.Module):
    """A driver holding one action, for checking what the costs charge (not a trained policy)."""

    def __init__(self, norm, a: float, b: float) -> None:
        super().__init__()
        self.norm, self.action = norm, torch.tensor([a, b])
        self.encoder = lambda images: images.new_zeros(images.shape[:-3] + (1,))

    def act(self, codes, states):
        return self.action.expand(len(states), 2)


def test_track_views_shifted_to_the_car_are_its_own_views(windows, small_recording):
    rec = small_recording
    w = windows.sample(6, torch.Generator().manual_seed(0))
    steps = torch.arange(-C + 1, FUTURE + 1)
    cx, cy = reference_track(w["states"][:, C - 1], steps)
    own, _ = views(rec, w["cars"].repeat_interleave(len(steps)), (w["t"][:, None] + steps).flatten())
    own = own.view(6, len(steps), *own.shape[1:])
    assert torch.equal(own[:, :C], w["views"])
    size = rec.cars["length"][w["cars"]], rec.cars["width"][w["cars"]]
    for k in range(len(steps)):
        dx, dy = w["states"][:, k, 0] - cx[:, k], w["states"][:, k, 1] - cy[:, k]
        seen = ego_views(w["images"][:, k : k + 1, 1], dx, dy, w["states"][:, k, 1], *size, rec.road)[:, 0]
        for channel in (0, 2, 3):  # road and ego: drawn exactly where the car is
            assert torch.allclose(seen[:, channel], own[:, k, channel], atol=1e-5)
        # the other cars: bilinear shifts of the track views, exact at the reference point, close elsewhere
        margin = int(dx.abs().max() * SCALE) + 2
        error = (seen[:, 1] - own[:, k, 1])[:, margin:-margin].abs()
        assert float(error.mean()) < (1e-6 if k == C - 1 else 0.01), k
    assert float(w["images"][:, :, 2].abs().max()) == 0.0  # the world model does not see the ego car
    # and back: the car's own views, shifted to the track, are the track views (what MPC feeds its model)
    back = track_views(w["views"], w["states"][:, :C], rec.road)
    margin = int((w["states"][:, :C, 0] - cx[:, :C]).abs().max() * SCALE) + 2
    for channel in (0, 2, 3):
        assert torch.allclose(back[:, :, channel], w["images"][:, :C, channel], atol=1e-5)
    assert float((back[:, :, 1] - w["images"][:, :C, 1])[..., margin:-margin, :].abs().mean()) < 0.01


def test_the_kinematic_model_predicts_others_from_their_past_alone(windows, small_recording):
    w = windows.sample(3, torch.Generator().manual_seed(1))
    model = _model(small_recording).eval()
    z = torch.randn(3, FUTURE, 8)
    past = (w["images"][:, :C], w["states"][:, :C])
    with torch.no_grad():
        images, states, _ = model.unroll(*past, w["actions"], z=z)
        other_images, _, _ = model.unroll(past[0], past[1] + 1.0, torch.randn_like(w["actions"]), z=z)
    assert torch.equal(images, other_images)
    # the ego's states are the kinematics' own: the recorded actions reproduce the recorded states
    assert torch.allclose(states, w["states"][:, C:], atol=1e-3)
    assert torch.allclose(kinematic_state_step(w["states"][:, C - 1], w["actions"][:, 0]), w["states"][:, C], atol=1e-4)
    loss, terms = model.loss(w, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert float(terms["state_mse"]) < 1e-6 and float(terms["image_mse"]) > 0


def test_bank_and_losses_train_the_policy_and_charge_steering_off_the_lane(windows, small_recording):
    rec = small_recording
    model = _model(rec)
    bank = build_bank(model, windows, 5, samples=3, generator=torch.Generator().manual_seed(2), chunk=2)
    assert bank.futures.shape == (5, 4, FUTURE, 117, 24) and bank.futures.dtype == torch.uint8
    assert bank.u_std > 0
    # the dropout masks give futures that differ; the first one has dropout off and is reproducible
    assert bool((bank.futures[:, 1] != bank.futures[:, 2]).any())
    batch = bank.batch(4, torch.Generator().manual_seed(3))
    batch["states"][:, -1, 2:] = torch.tensor([10.0, 0.0])  # at 10 m/s along the road
    straight = kinematic_rollout(Steady(model.norm, 0.0, 0.0), batch, FUTURE, rec.road)
    drifting = kinematic_rollout(Steady(model.norm, 0.0, 0.05), batch, FUTURE, rec.road)
    assert float((drifting["states"][:, -1, 1] - straight["states"][:, -1, 1]).abs().min()) > 0.5
    assert float(drifting["costs"][:, -1, 0].mean()) > float(straight["costs"][:, -1, 0].mean())
    # braking hard shortens the proximity mask when it is sized by the ego's own speed, not by its speed at the start
    braking = {
        mask: kinematic_rollout(Steady(model.norm, -8.0, 0.0), batch, FUTURE, rec.road, mask_speed=mask)
        for mask in ("own", "start")
    }
    assert bool((braking["own"]["costs"] <= braking["start"]["costs"] + 1e-6).all())
    assert float(braking["own"]["costs"].sum()) < float(braking["start"]["costs"].sum())
    # sized by the larger of the two speeds, braking costs as with the start's speed, and speeding up more
    braking_max = kinematic_rollout(Steady(model.norm, -8.0, 0.0), batch, FUTURE, rec.road, mask_speed="max")
    assert torch.allclose(braking_max["costs"], braking["start"]["costs"])
    speeding = {
        mask: kinematic_rollout(Steady(model.norm, 4.0, 0.0), batch, FUTURE, rec.road, mask_speed=mask)
        for mask in ("start", "max")
    }
    assert bool((speeding["max"]["costs"] >= speeding["start"]["costs"] - 1e-6).all())
    # a plan that holds a stopped car still learns that accelerating would move it (the gradient passes the stop)
    stopped = {**batch, "states": batch["states"].clone()}
    stopped["states"][:, -1, 2:] = 0.0
    plan = torch.tensor([-8.0, 0.0]).repeat(4, FUTURE, 1).requires_grad_()
    held = kinematic_rollout(None, stopped, FUTURE, rec.road, actions=plan)
    assert torch.equal(held["states"][:, -1, :2], stopped["states"][:, -1, :2])
    (grad,) = torch.autograd.grad(held["states"][:, -1, 0].sum(), plan)
    assert bool((grad[:, :-1, 0] > 0).all())
    policy = DrivingPolicy(frame_dim=16, hidden=32, width=4)
    policy.norm.load_state_dict(model.norm.state_dict())
    for loss, _ in (
        kinematic_mpur_loss(policy, bank, batch, FUTURE, rec.road, mask_speed="start"),
        kinematic_mper_loss(policy, batch, FUTURE, rec.road),
    ):
        policy.zero_grad()
        loss.backward()
        assert torch.isfinite(loss)
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())


class Learnt(Steady):
    """A driver holding one learnt action: its gradient is the sum of the cost's gradients w.r.t. the actions
    it took itself."""

    def __init__(self, norm, a: float, b: float) -> None:
        super().__init__(norm, a, b)
        self.action = torch.nn.Parameter(self.action)


def test_policy_trains_only_on_its_first_actions(windows, small_recording):
    rec = small_recording
    bank = build_bank(_model(rec), windows, 4, samples=2, generator=torch.Generator().manual_seed(2), chunk=2)
    batch = bank.batch(4, torch.Generator().manual_seed(3))
    driver = Learnt(None, -1.0, 0.01)
    plan = driver.action.detach().repeat(4, FUTURE, 1).requires_grad_()
    fixed = kinematic_rollout(None, batch, FUTURE, rec.road, actions=plan)
    (per_action,) = torch.autograd.grad(fixed["costs"][:, :, 0].sum(), plan)
    assert float(per_action[:, 0].abs().sum()) > 0 and float(per_action[:, -2].abs().sum()) > 0
    for k in (1, 3, FUTURE):
        driver.zero_grad()
        out = kinematic_rollout(driver, batch, FUTURE, rec.road, trained_steps=k)
        assert torch.allclose(out["costs"], fixed["costs"])  # the same rollout: only the gradient changes
        out["costs"][:, :, 0].sum().backward()
        assert torch.allclose(driver.action.grad, per_action[:, :k].sum((0, 1)), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="trained_steps"):
        kinematic_rollout(driver, batch, FUTURE, rec.road, trained_steps=FUTURE + 1)


def test_gradient_mpc_plans_through_a_kinematic_model(small_recording):
    result = evaluate(small_recording, MpcDriver(_model(small_recording), horizon=3, iterations=2), cars=3)
    assert result["episodes"] == 3 and 0 <= result["success_rate"] <= 1 and result["mean_distance"] > 0


def test_constant_velocity_world_is_exact_for_one_step_and_drives_from_the_command_line(tmp_path, small_recording):
    rec = small_recording
    episodes = Episodes(rec, rec.split("test")[:6])
    _, states = episodes.observe()
    cx, cy = reference_track(states, torch.arange(1, 11))
    ahead = driven_on(episodes.others(), cx, cy, rec.road)
    assert ahead.shape == (6, 10, 117, 24)
    recorded = [
        views(rec, episodes.cars, episodes.t + k, centre=(cx[:, k - 1], cy[:, k - 1]))[0][:, 1] for k in (1, 10)
    ]
    assert torch.allclose(ahead[:, 0], recorded[0], atol=1e-4)  # a step moves a car at its velocity
    assert float((ahead[:, 9] - recorded[1]).abs().max()) > 0.05  # ten steps on, the others have accelerated
    reactive = Episodes(rec, rec.split("test")[:2], mode="reactive")
    assert driven_on(reactive.others(), cx[:2], cy[:2], rec.road).shape == (2, 10, 117, 24)
    path = str(rec.save(tmp_path / "rec.safetensors"))
    result = CliRunner().invoke(
        cli,
        [
            "world",
            "traffic",
            "eval",
            "--recording",
            path,
            "--driver",
            "mpc",
            "--model",
            "constant-velocity",
            "--cars",
            "2",
            "--mpc-horizon",
            "3",
            "--mpc-iterations",
            "1",
            "--out",
            str(tmp_path / "cv"),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "cv" / "metrics.json").read_text())
    assert metrics["episodes"] == 2 and metrics["mean_distance"] > 0


def test_kinematic_model_and_policy_run_from_the_command_line(tmp_path, small_recording):
    rec = str(small_recording.save(tmp_path / "rec.safetensors"))
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "world",
            "traffic",
            "model",
            "--recording",
            rec,
            "--ego",
            "kinematic",
            "--steps",
            "3",
            "--batch-size",
            "2",
            "--future",
            "2",
            "--show-steps",
            "3",
            "--eval-windows",
            "2",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["position_error_m_3"] < 1e-3
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
            "3",
            "--bank-windows",
            "3",
            "--dropout-samples",
            "2",
            "--eval-cars",
            "3",
            "--out",
            str(tmp_path / "p"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "p" / "metrics.json").read_text())["episodes"] == 3


@pytest.mark.parametrize(
    "args,message",
    [
        (["world", "traffic", "model", "--recording", "R", "--ego", "telepathic"], "telepathic"),
        (["world", "traffic", "policy", "--recording", "R", "--model", "M", "--bank-windows", "0"], "--bank-windows"),
    ],
)
def test_bad_kinematic_inputs_are_one_line_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and message in result.output, result.output
