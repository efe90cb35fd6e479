"""TD-MPC2's recipe (``--actor mppi``): two-hot values, SimNorm, Q that stops at a terminal step and bootstraps
otherwise, the termination head, MPPI finding the best action through a learned model, and runs (resumed
exactly, evaluated from their folder)."""

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from ebmlab.cli import cli
from ebmlab.data.trajectories import Transitions
from ebmlab.world.tdmpc import (
    MPPI,
    SimNorm,
    ValueWorld,
    decode,
    fit_value_world,
    random_shift,
    two_hot,
    value_world_optimisers,
)
from world_small import SMALL


def test_two_hot_values_decode_back_across_scales():
    y = torch.tensor([-300.0, -1.5, 0.0, 0.01, 1.0, 9.5, 900.0])
    probs = two_hot(y)
    assert torch.allclose(probs.sum(-1), torch.ones(len(y)))
    assert ((probs > 0).sum(-1) <= 2).all()
    assert torch.allclose(decode(torch.log(probs + 1e-30)), y, rtol=1e-3, atol=1e-4)


def test_simnorm_puts_each_group_on_a_simplex():
    z = SimNorm(8)(torch.randn(5, 32) * 3)
    groups = z.reshape(5, 4, 8)
    assert (groups >= 0).all() and torch.allclose(groups.sum(-1), torch.ones(5, 4))


def test_simnorm_written_out_is_torchs_softmax_with_its_gradient_even_for_large_inputs():
    x = (torch.randn(6, 32) * 40).requires_grad_()
    weights = torch.randn(6, 32)
    (SimNorm(8)(x) * weights).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    expected = x.unflatten(-1, (4, 8)).softmax(-1).flatten(-2)
    (expected * weights).sum().backward()
    assert torch.allclose(SimNorm(8)(x), expected, atol=1e-6) and torch.allclose(ours, x.grad, atol=1e-5)


def test_random_shift_moves_each_frame_stack_whole_by_at_most_pad_pixels():
    frames = torch.randint(0, 256, (20, 2, 2, 16, 16), dtype=torch.uint8)
    moved = random_shift(frames, 3, torch.Generator().manual_seed(0))
    assert moved.shape == frames.shape and moved.dtype == torch.uint8
    padded = torch.nn.functional.pad(frames.reshape(40, 2, 16, 16).float(), (3,) * 4, mode="replicate")
    offsets = set()
    for i, stack in enumerate(moved.reshape(40, 2, 16, 16).float()):
        found = [(y, x) for y in range(7) for x in range(7) if torch.equal(padded[i, :, y : y + 16, x : x + 16], stack)]
        assert found  # both frames of a stack moved together, by whole pixels, edges repeated
        offsets.add(found[0])
    assert len(offsets) > 5  # and not all by the same amount


A, B = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])


def two_state_data(n: int = 400) -> Transitions:
    """State A ends its one-step episode with reward 5; state B loops to itself for ever with reward 1 − (a − 0.5)²,
    actions uniform in [−1, 1]."""
    g = torch.Generator().manual_seed(0)
    data = Transitions(2, 1)
    for i in range(n):
        a = float(torch.rand((), generator=g) * 2 - 1)
        data.add(A, [a], 5.0, A, episode=i, terminated=True)
        data.add(B, [a], 1 - (a - 0.5) ** 2, B, episode=n)
    return data


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    world = ValueWorld(2, 1, -torch.ones(1), torch.ones(1), latent=16, hidden=64, gamma=0.5, tau=0.1)
    opt, policy_opt = value_world_optimisers(world, 3e-3)
    g = torch.Generator().manual_seed(1)
    fit_value_world(world, opt, policy_opt, two_state_data(), 600, 64, 2, g)
    return world, g


def test_q_stops_at_a_terminal_step_and_bootstraps_otherwise(trained):
    world, g = trained
    with torch.no_grad():
        z = world.encode(torch.stack([A, B]))
        a = torch.full((2, 1), 0.5)
        q = world.q_values(z, a, g, "avg")
        reward, end = world.reward_and_end(z, a)
    # A: 5 and nothing after (with a bootstrap it would be 5 + 0.5 Q(A) = 10); B: 1 / (1 − γ) = 2 at the best action
    assert abs(float(q[0]) - 5.0) < 0.5, q
    assert abs(float(q[1]) - 2.0) < 0.3, q
    assert abs(float(reward[0]) - 5.0) < 0.3 and abs(float(reward[1]) - 1.0) < 0.2, reward
    assert float(end[0]) > 0.9 and float(end[1]) < 0.1, end


def test_mppi_finds_the_best_action_through_the_learned_model(trained):
    world, g = trained
    actor = MPPI(world, 2, g, samples=256, elites=32, policy_samples=8, iterations=4)
    actor.reset()
    chosen = [float(actor.act(B)) for _ in range(5)]
    assert all(abs(a - 0.5) < 0.25 for a in chosen), chosen


MPPI_RUN = [*SMALL, "--actor", "mppi", "--horizon", "3", "--embedding-dim", "8", "--mppi-samples", "100"]
MPPI_RUN += ["--mppi-iterations", "2"]


def test_an_mppi_run_learns_its_own_reward_and_value_and_is_evaluated(tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "mppi"
    result = CliRunner().invoke(cli, [*MPPI_RUN, "--out", str(out)])
    assert result.exit_code == 0, result.output
    weights = load_file(out / "model.safetensors")
    assert {k.split(".")[0] for k in weights} >= {"encoder", "dynamics", "outcome", "q", "q_target", "policy"}
    assert not (out / "value.safetensors").exists() and not (out / "cost.safetensors").exists()
    again = CliRunner().invoke(cli, ["world", "eval", str(out), "--episodes", "1"])
    assert again.exit_code == 0, again.output


def test_an_interrupted_mppi_run_resumes_exactly(tmp_path, monkeypatch, interrupted):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    full = tmp_path / "full"
    assert CliRunner().invoke(cli, [*MPPI_RUN, "--out", str(full)]).exit_code == 0
    cut = tmp_path / "cut"
    interrupted([*MPPI_RUN, "--out", str(cut)], 60)
    resumed = CliRunner().invoke(cli, ["world", "train", "--resume", str(cut)])
    assert resumed.exit_code == 0, resumed.output
    a, b = load_file(cut / "model.safetensors"), load_file(full / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--td-value"], "learns its own Q"),
        (["--embedding-dim", "12"], "multiple of 8"),
        (["--observation", "pixels", "--perception", "jepa"], "drop --perception"),
    ],
)
def test_bad_mppi_options_are_one_line_errors(tmp_path, extra, message):
    result = CliRunner().invoke(cli, [*MPPI_RUN, *extra, "--out", str(tmp_path / "bad")])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "bad").exists()


def test_mppi_has_its_own_sizes_unless_told_and_the_planners_theirs():
    from ebmlab.world.train import WorldConfig

    mppi, mpc = WorldConfig(actor="mppi"), WorldConfig()
    assert (mppi.horizon, mppi.hidden, mppi.embedding_dim) == (3, 128, 64)
    assert (mpc.horizon, mpc.hidden, mpc.embedding_dim) == (30, 200, 32)
    told = WorldConfig(actor="mppi", horizon=5, hidden=96, embedding_dim=16)
    assert (told.horizon, told.hidden, told.embedding_dim) == (5, 96, 16)


def test_an_mppi_run_from_pixels_learns_its_own_encoder(tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "pixels"
    args = [*MPPI_RUN, "--observation", "pixels", "--frame-size", "16", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    weights = load_file(out / "model.safetensors")
    assert weights["frames_fitted"] and weights["encoder.0.frame_std"] != 1  # the frames' statistics, fitted once
    assert any(k.startswith("encoder.0.net.") for k in weights)
    assert not (out / "perception.safetensors").exists()
    again = CliRunner().invoke(cli, ["world", "eval", str(out), "--episodes", "1"])
    assert again.exit_code == 0, again.output
