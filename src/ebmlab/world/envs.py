"""Environments through the gymnasium API, checked for what a world-model agent needs.

An agent here plans with a differentiable cost, so an environment is supported
when it has a continuous (Box) action space, a flat (1-D Box) observation, and
a cost written in torch (:mod:`ebmlab.world.costs`). :func:`make_env` gives one
line saying what is wrong otherwise: an unknown id, a discrete action space, an
image observation, no known cost.
"""

from __future__ import annotations

from ebmlab.errors import ConfigError

__all__ = ["make_env", "check_env"]


def make_env(name: str, seed: int | None = None, need_cost: bool = True):
    """``gymnasium.make(name)`` after checking that a world-model agent can act in it; reset with ``seed``."""
    import gymnasium as gym

    from ebmlab.world.costs import COSTS

    if name not in gym.registry:
        close = [k for k in gym.registry if k.lower().startswith(name.lower().split("-")[0][:4])][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown environment {name!r}{hint}; supported: {', '.join(COSTS)}")
    try:
        env = gym.make(name)
    except gym.error.DependencyNotInstalled as exc:
        raise ConfigError(f"environment {name} needs a package that is not installed: {exc}") from None
    check_env(env, name)
    if need_cost and name not in COSTS:
        env.close()
        raise ConfigError(f"no known cost for {name}; supported: {', '.join(COSTS)} "
                          "(or fit a cost network to its rewards with --cost learned)")
    env.reset(seed=seed)
    return env


def check_env(env, name: str) -> None:
    """A ConfigError (and the environment closed) unless actions are continuous and observations flat."""
    from gymnasium import spaces

    if not isinstance(env.action_space, spaces.Box):
        env.close()
        raise ConfigError(f"{name} has a {type(env.action_space).__name__} action space; planning by gradient "
                          "descent needs a continuous (Box) one, e.g. Pendulum-v1")
    if not isinstance(env.observation_space, spaces.Box) or len(env.observation_space.shape) != 1:
        env.close()
        raise ConfigError(f"{name} observations have shape {getattr(env.observation_space, 'shape', None)}; "
                          "this agent needs a flat vector (1-D Box) observation")
