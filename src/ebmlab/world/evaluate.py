"""Evaluate a trained world-model run's agent again (``ebmlab world eval RUN``)."""

from __future__ import annotations

from pathlib import Path

import torch

from ebmlab.errors import RunFolderError
from ebmlab.runtime.atomic import atomic_write_json
from ebmlab.runtime.run import CHECKPOINT, read_run_config, read_run_info
from ebmlab.world.envs import state_dim
from ebmlab.world.policy import Policy
from ebmlab.world.train import (
    WorldConfig,
    agent_env,
    build_actor,
    build_value,
    build_world,
    evaluate_actor,
)

__all__ = ["load_agent", "eval_run"]


def load_agent(run_dir: Path):
    """(actor, config) of ``run_dir``: its forward model (and policy, value, …) from the exported weights, else the
    checkpoint."""
    info = read_run_info(run_dir)
    if (info["family"], info["name"]) != ("world", "train"):
        raise RunFolderError(f"{run_dir} holds a '{info['family']} {info['name']}' run, not a world-model run")
    cfg = read_run_config(run_dir, WorldConfig)
    env = agent_env(cfg)
    obs_dim, act_dim = state_dim(env), env.action_space.shape[0]
    low, high = (torch.as_tensor(b, dtype=torch.float32) for b in (env.action_space.low, env.action_space.high))
    channels = env.observation_space.shape[0] if cfg.observation == "pixels" else 2
    env.close()
    model, cost, perception, size = build_world(cfg, obs_dim, act_dim, low, high, channels)
    policy = Policy(size, act_dim, low, high) if cfg.actor == "policy" else None
    value = build_value(cfg, size, cost)
    own = cfg.sees_embeddings  # the cost and the encoder are the latent world's own weights
    parts = {
        "model": model,
        "policy": policy,
        "cost": cost if cfg.cost == "learned" and not own else None,
        "perception": None if own else perception,
        "value": value,
    }
    parts = {name: module for name, module in parts.items() if module is not None}
    try:
        if (run_dir / "model.safetensors").exists():
            from safetensors.torch import load_file

            for name, module in parts.items():
                module.load_state_dict(load_file(run_dir / f"{name}.safetensors"))
        elif (run_dir / CHECKPOINT).exists():
            states = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=False)["states"]
            for name, module in parts.items():
                module.load_state_dict(states[name])
        else:
            raise RunFolderError(f"{run_dir} has no model weights yet (no model.safetensors, no checkpoint)")
    except RunFolderError:
        raise
    except Exception as exc:  # truncated or foreign files
        raise RunFolderError(
            f"the weights in {run_dir} cannot be read ({exc.__class__.__name__}); they are damaged"
        ) from None
    for module in parts.values():
        module.eval()
    return build_actor(cfg, model, cost, policy, low, high, perception, value), cfg


def eval_run(run_dir: Path, episodes: int) -> dict:
    """Evaluate the run's actor on ``episodes`` fresh episodes; write RUN/eval.json and return it."""
    actor, cfg = load_agent(run_dir)
    result = {"env": cfg.env, "actor": cfg.actor, "episodes": episodes, **evaluate_actor(cfg, actor, episodes)}
    atomic_write_json(run_dir / "eval.json", result)
    return result
