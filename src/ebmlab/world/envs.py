"""Environments through the gymnasium API, checked for what a world-model agent needs.

An agent here plans with a differentiable cost, so an environment is supported
when it has a continuous (Box) action space, a flat (1-D Box) observation, and
a cost written in torch (:mod:`ebmlab.world.costs`). :func:`make_env` gives one
line saying what is wrong otherwise: an unknown id, a discrete action space, an
image observation, no known cost. The DeepMind Control Suite's tasks are there
too, as ``dmc/<domain>-<task>-v0`` (:mod:`ebmlab.world.dmc`).
``observation="pixels"`` shows the agent the environment's rendering instead of
its state (:mod:`ebmlab.world.perception`).
"""

from __future__ import annotations

from ebmlab.errors import ConfigError

__all__ = ["make_env", "check_env", "state_dim"]

OBSERVATIONS = ("state", "pixels")


def make_env(
    name: str, seed: int | None = None, need_cost: bool = True, observation: str = "state", frame_size: int = 64
):
    """``gymnasium.make(name)`` after checking that a world-model agent can act in it; reset with ``seed``.
    With ``observation="pixels"`` its observations are rendered frames and ``info["state"]`` its state."""
    import gymnasium as gym

    from ebmlab.world.costs import COSTS
    from ebmlab.world.dmc import register_dmc

    register_dmc()
    if name not in gym.registry:
        close = [k for k in gym.registry if k.lower().startswith(name.lower().split("-")[0][:4])][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown environment {name!r}{hint}; supported: {', '.join(COSTS)}")
    try:
        env = gym.make(name, **({"render_mode": "rgb_array"} if observation == "pixels" else {}))
    except gym.error.DependencyNotInstalled as exc:
        raise ConfigError(f"environment {name} needs a package that is not installed: {exc}") from None
    check_env(env, name)
    if need_cost and name not in COSTS:
        env.close()
        raise ConfigError(
            f"no known cost for {name}; supported: {', '.join(COSTS)} "
            "(or fit a cost network to its rewards with --cost learned)"
        )
    if observation == "pixels":
        from ebmlab.world.perception import PixelObservations

        env = PixelObservations(env, frame_size)
        try:
            env.reset(seed=seed)
        except Exception as exc:  # rendering needs a display library the environment could not load
            env.close()
            raise ConfigError(f"{name} cannot be rendered here for --observation pixels: {exc}") from None
        return env
    env.reset(seed=seed)
    return env


def state_dim(env) -> int:
    """The size of the state the model predicts: the environment's observation, behind any pixel wrapper."""
    from ebmlab.world.perception import PixelObservations

    return (env.env if isinstance(env, PixelObservations) else env).observation_space.shape[0]


def check_env(env, name: str) -> None:
    """A ConfigError (and the environment closed) unless actions are continuous and observations flat."""
    from gymnasium import spaces

    if not isinstance(env.action_space, spaces.Box):
        env.close()
        raise ConfigError(
            f"{name} has a {type(env.action_space).__name__} action space; planning by gradient "
            "descent needs a continuous (Box) one, e.g. Pendulum-v1"
        )
    if not isinstance(env.observation_space, spaces.Box) or len(env.observation_space.shape) != 1:
        env.close()
        raise ConfigError(
            f"{name} observations have shape {getattr(env.observation_space, 'shape', None)}; "
            "this agent needs a flat vector (1-D Box) observation"
        )
