"""``ebmlab world traffic``: driving in dense traffic (PPUU) — record traffic, render it, time the simulator."""

from __future__ import annotations

from pathlib import Path

import click

from ebmlab.commands import train_command
from ebmlab.world.driving.evaluate import EvalConfig, run_eval
from ebmlab.world.driving.ppo import PpoConfig, train_ppo
from ebmlab.world.driving.record import RecordConfig, run_record
from ebmlab.world.driving.train_model import ModelConfig, train_model
from ebmlab.world.driving.train_policy import PolicyConfig, train_policy


@click.group("traffic")
def traffic() -> None:
    """Driving in dense traffic (Henaff, Canziani & LeCun 2019, PPUU) on a simulated six-lane highway.

    \b
    record   simulate traffic and keep every car's trajectory (a run folder with traffic.safetensors)
    render   an episode of one recorded car (its own driver, or no action) as a GIF
    time     ego steps per second of the simulator, images included
    model    fit the forward model of ego views (deterministic or with a latent z)
    policy   train a policy on the recordings: 1-step imitation, MPER or MPUR (through the model), DAgger
    eval     PPUU's evaluation of a driver (a policy run, none, recorded, gradient MPC) on the test cars
    ppo      the model-free comparison: stable-baselines3 PPO on the simulator, evaluated the same way

    \b
    A whole study:
      ebmlab world traffic record --out runs/traffic
      ebmlab world traffic model --recording runs/traffic --out runs/model-stoch
      ebmlab world traffic policy --recording runs/traffic --model runs/model-stoch --kind mpur --out runs/mpur
      ebmlab world traffic eval --recording runs/traffic --driver none --out runs/eval-none
    """


@train_command(traffic, "model", ModelConfig, family="world")
def model_cmd(cfg: ModelConfig, run) -> dict:
    """Fit PPUU's forward model: 20 frames and states in, the next frame and state out, over multi-step unrolls.

    --latent-dim 0 gives the deterministic model; the default (32) the
    stochastic one, with a posterior q(z | past, next), KL weight β and
    z-dropout. Writes predicted-vs-real futures (figure and GIF), the error
    against the horizon and model.safetensors.

    \b
    Examples:
      ebmlab world traffic model --recording runs/traffic --out runs/model-stoch
      ebmlab world traffic model --recording runs/traffic --latent-dim 0 --out runs/model-det
    """
    return train_model(cfg, run)


@train_command(traffic, "policy", PolicyConfig, family="world")
def policy_cmd(cfg: PolicyConfig, run) -> dict:
    """Train a driving policy on recorded traffic only, then evaluate it on the test cars (success rate, …).

    \b
    Examples:
      ebmlab world traffic policy --recording runs/traffic --kind imitation --out runs/il
      ebmlab world traffic policy --recording runs/traffic --model runs/model-stoch --kind mpur --out runs/mpur
      ebmlab world traffic policy --recording runs/traffic --kind dagger --steps 1500 --batch-size 32 \
          --lr 3e-4 --out runs/dagger

    \b
    DAgger (the best policy here: docs/RESULTS.md) needs no model: each round a
    planner labels the states π reaches in a world of IDM drivers fitted to the
    recording, and π is regressed on every label so far; --resume goes on after
    the last finished round.
    """
    return train_policy(cfg, run)


@train_command(traffic, "eval", EvalConfig, family="world")
def eval_cmd(cfg: EvalConfig, run) -> dict:
    """PPUU's evaluation of a driver on the test cars: success rate, mean distance, collision and off-road rates.

    \b
    Examples:
      ebmlab world traffic eval --recording runs/traffic --driver none --out runs/eval-none
      ebmlab world traffic eval --recording runs/traffic --driver runs/mpur --mode reactive --out runs/mpur-reactive
    """
    return run_eval(cfg, run)


@train_command(traffic, "record", RecordConfig, family="world")
def record_cmd(cfg: RecordConfig, run) -> dict:
    """Simulate the highway (IDM/MOBIL drivers, stop-and-go waves) and record every car's states and actions.

    Writes traffic.safetensors (split by car 80/10/10), metrics.json (density,
    mean speed, stop-and-go share, flow), the time-space and fundamental diagrams
    and one test car's episode as a GIF.

    \b
    Examples:
      ebmlab world traffic record --out runs/traffic
      ebmlab world traffic record --envs 2 --seconds 120 --out runs/traffic-small
    """
    return run_record(cfg, run)


@traffic.command("render")
@click.argument("recording", type=click.Path())
@click.option("--car", type=int, default=None, help="Row of the car table to replace [default: the first test car].")
@click.option(
    "--driver",
    type=click.Choice(["recorded", "none"]),
    default="recorded",
    show_default=True,
    help="Who drives the ego car: the recorded driver's actions, or no action (a = b = 0).",
)
@click.option(
    "--mode",
    type=click.Choice(["replay", "reactive"]),
    default="replay",
    show_default=True,
    help="replay: the others follow their recordings; reactive: they drive on by IDM/MOBIL.",
)
@click.option("--steps", type=click.IntRange(1, 5000), default=300, show_default=True, help="Frames at most.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="GIF file to write.")
def render_cmd(recording: str, car: int | None, driver: str, mode: str, steps: int, out: str) -> None:
    """Render an episode of RECORDING (a file or a record run folder) as an animated GIF."""
    from ebmlab.errors import DataError
    from ebmlab.world.driving.record import find_recording, render_episode

    rec = find_recording(recording)
    if car is None:
        test = rec.split("test")
        if len(test) == 0:
            raise DataError("the recording has no complete test car; record longer or give --car")
        car = int(test[0])
    if not 0 <= car < len(rec) or not bool((rec.complete() == car).any()):
        raise DataError(
            f"--car {car} is not a complete recorded car (choose one of the {len(rec.complete())} in "
            "Recording.complete())"
        )
    result = render_episode(rec, car, Path(out), driver, mode, steps)
    ending = next((k for k in ("collision", "offroad", "arrived", "timeout") if result[k]), "still driving")
    click.echo(f"car {car}, {driver} driver, {mode}: {ending} after {result['distance']:.0f} m; wrote {out}")


@traffic.command("time")
@click.option("--envs", type=click.IntRange(1, 100_000), default=64, show_default=True, help="Environments at once.")
@click.option("--mode", type=click.Choice(["replay", "reactive"]), default="reactive", show_default=True)
@click.option("--steps", type=click.IntRange(10, 100_000), default=200, show_default=True, help="Steps timed.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
def time_cmd(envs: int, mode: str, steps: int, device: str) -> None:
    """Ego steps per second of ENVS episodes stepped at once (simulation, ego images and events)."""
    from ebmlab.world.traffic.timing import time_episodes

    result = time_episodes(envs, mode, steps, device)
    click.echo(
        f"{result['ego_steps_per_s']:,.0f} ego steps/s ({envs} environments, {mode}, "
        f"{result['cars_per_env']:.0f} cars each, {result['ms_per_step']:.2f} ms a step, {device})"
    )


@train_command(traffic, "ppo", PpoConfig, family="world")
def ppo_cmd(cfg: PpoConfig, run) -> dict:
    """Train stable-baselines3 PPO on the traffic simulator (replay mode, training cars), evaluate on the test cars.

    Unlike the world-model policies it learns by driving in the simulator;
    metrics.json says how many environment steps it used.

    \b
    Example:
      ebmlab world traffic ppo --recording runs/traffic --steps 200000 --out runs/ppo
    """
    return train_ppo(cfg, run)
