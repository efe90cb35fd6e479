"""``ebmlab world``: world models for control — a forward model, a cost, and an actor that plans through them."""

from __future__ import annotations

import click

from ebmlab.runtime.options import train_command
from ebmlab.world.train import WorldConfig, train_world


@click.group("world")
def world() -> None:
    """World models for control: plan by gradient descent through a learned forward model.

    \b
    train    collect data, fit the forward model, act by MPC, CEM or a policy trained through it
    """


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
