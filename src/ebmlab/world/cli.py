"""``ebmlab world``: world models for control — a forward model, a cost, and an actor that plans through them."""

from __future__ import annotations

from pathlib import Path

import click

from ebmlab.commands import train_command
from ebmlab.world.baseline import BaselineConfig, train_baseline
from ebmlab.world.train import WorldConfig, train_world


@click.group("world")
def world() -> None:
    """World models for control: plan by gradient descent through a learned forward model.

    \b
    train     collect data, fit the forward model, act by MPC, CEM or a policy trained through it
    eval      evaluate a trained run's agent again on fresh episodes
    baseline  a model-free agent (stable-baselines3 SAC or PPO, rl-baselines3-zoo settings) on the same curve
    traffic   driving in dense traffic (PPUU): record, render, time the simulator
    """


def _mount_traffic() -> None:
    from ebmlab.world.driving.cli import traffic

    world.add_command(traffic)


@train_command(world, "train", WorldConfig, family="world")
def train_cmd(cfg: WorldConfig, run) -> dict:
    """Train a world-model agent on a gymnasium environment with a known cost.

    Planning is inference: the action sequence is the latent variable of the
    trajectory's summed cost, minimised by gradient descent through the unrolled
    forward model (receding horizon, warm start). The model is refitted to all
    data after every episode. Writes metrics.json (env_steps, eval_return,
    decision_ms), the learning curve, predicted vs real rollouts, the weights
    and report.html.

    \b
    Examples:
      ebmlab world train --env Pendulum-v1 --env-steps 2000
      ebmlab world train --actor policy --model ensemble --uncertainty-weight 0.5
      ebmlab world train --actor cem --out runs/pendulum-cem
    """
    return train_world(cfg, run)


@train_command(world, "baseline", BaselineConfig, family="world")
def baseline_cmd(cfg: BaselineConfig, run) -> dict:
    """Train a model-free agent (stable-baselines3) and evaluate it like a world-model run.

    The hyper-parameters are rl-baselines3-zoo's for the environment. Writes
    metrics.json (env_steps, eval_return), the learning curve and report.html;
    ebmlab compare puts it beside world-model runs.

    \b
    Examples:
      ebmlab world baseline --algo sac --env Pendulum-v1 --steps 10000
      ebmlab world baseline --algo ppo --env MountainCarContinuous-v0 --steps 20000
    """
    return train_baseline(cfg, run)


@world.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--episodes",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Fresh evaluation episodes (seeded apart from training's).",
)
def eval_cmd(run_dir: str, episodes: int) -> None:
    """Evaluate the agent of a finished (or checkpointed) world-model run RUN_DIR; writes RUN_DIR/eval.json."""
    from ebmlab.world.evaluate import eval_run

    result = eval_run(Path(run_dir), episodes)
    click.echo(
        f"eval_return {result['eval_return']:.1f} ± {result['eval_return_std']:.1f} over {episodes} episodes "
        f"({result['decision_ms']:.1f} ms per decision); wrote {Path(run_dir) / 'eval.json'}"
    )


_mount_traffic()
