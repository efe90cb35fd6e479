"""Model-free baselines from stable-baselines3, with the rl-baselines3-zoo hyper-parameters, on one learning curve.

``ebmlab world baseline --algo sac|ppo --env ID --steps N`` trains the real
stable-baselines3 agent and evaluates it, deterministically, on
``eval_episodes`` fresh episodes every ``eval_every`` environment steps (and at
0 and the end), logging ``eval_return`` against the step: the same curve and
the same metrics.json keys (``env_steps``, ``eval_return``) as a world-model
run, so ``ebmlab compare`` puts both on one sample-efficiency plot.

The hyper-parameters are rl-baselines3-zoo's (hyperparams/sac.yml, ppo.yml) for
the supported environments; ``normalize: true`` is VecNormalize (observations
and rewards), frozen during evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ebmlab.errors import ConfigError
from ebmlab.runtime import Run, TrainConfig, check
from ebmlab.world.dmc import TASKS as DMC_TASKS
from ebmlab.world.envs import make_env
from ebmlab.world.train import evaluate_episodes

__all__ = ["BaselineConfig", "ZOO", "train_baseline"]

ALGOS = ("sac", "ppo")

# rl-baselines3-zoo's tuned settings (n_timesteps left out: --steps decides)
ZOO = {
    ("sac", "Pendulum-v1"): {"learning_rate": 1e-3},
    ("sac", "MountainCarContinuous-v0"): {
        "learning_rate": 3e-4,
        "buffer_size": 50000,
        "batch_size": 512,
        "ent_coef": 0.1,
        "train_freq": 32,
        "gradient_steps": 32,
        "gamma": 0.9999,
        "tau": 0.01,
        "learning_starts": 0,
        "use_sde": True,
        "policy_kwargs": {"log_std_init": -3.67, "net_arch": [64, 64]},
    },
    # the zoo tunes SAC for this task on PyBullet (InvertedDoublePendulumBulletEnv-v0, its pybullet defaults);
    # MuJoCo's version gets the same settings
    ("sac", "InvertedDoublePendulum-v5"): {
        "learning_rate": 7.3e-4,
        "buffer_size": 300000,
        "batch_size": 256,
        "ent_coef": "auto",
        "gamma": 0.98,
        "tau": 0.02,
        "train_freq": 8,
        "gradient_steps": 8,
        "learning_starts": 10000,
        "use_sde": True,
        "policy_kwargs": {"log_std_init": -3, "net_arch": [400, 300]},
    },
    # the zoo has no settings for the DeepMind Control Suite: stable-baselines3's SAC defaults (the SAC paper's:
    # two 256-unit layers, learning rate 3e-4, batch 256, τ 0.005, γ 0.99) after 1,000 random steps
    **{("sac", f"dmc/{domain}-{task}-v0"): {"learning_starts": 1000} for domain, task in DMC_TASKS},
    ("ppo", "Pendulum-v1"): {
        "n_envs": 4,
        "n_steps": 1024,
        "gae_lambda": 0.95,
        "gamma": 0.9,
        "n_epochs": 10,
        "ent_coef": 0.0,
        "learning_rate": 1e-3,
        "clip_range": 0.2,
        "use_sde": True,
        "sde_sample_freq": 4,
    },
    ("ppo", "MountainCarContinuous-v0"): {
        "normalize": True,
        "n_envs": 1,
        "batch_size": 256,
        "n_steps": 8,
        "gamma": 0.9999,
        "learning_rate": 7.77e-05,
        "ent_coef": 0.00429,
        "clip_range": 0.1,
        "n_epochs": 10,
        "gae_lambda": 0.9,
        "max_grad_norm": 5,
        "vf_coef": 0.19,
        "use_sde": True,
        "policy_kwargs": {"log_std_init": -3.29, "ortho_init": False},
    },
}


@dataclass(frozen=True)
class BaselineConfig(TrainConfig):
    """A stable-baselines3 agent with the zoo's hyper-parameters, evaluated like a world-model run."""

    algo: str = field(default="sac", metadata={"help": "Model-free algorithm.", "choices": ALGOS})
    env: str = field(default="Pendulum-v1", metadata={"help": "Gymnasium environment id."})
    steps: int = field(default=10000, metadata={"help": "Environment steps of training."})
    eval_every: int = field(
        default=1000, metadata={"help": "Evaluate every this many environment steps (and at 0 and the end)."}
    )
    eval_episodes: int = field(default=10, metadata={"help": "Episodes per evaluation (deterministic actions)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.algo in ALGOS, f"--algo must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        for name in ("steps", "eval_every", "eval_episodes"):
            check(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        make_env(self.env, need_cost=False).close()
        check(
            (self.algo, self.env) in ZOO,
            f"no rl-baselines3-zoo settings for {self.algo} on {self.env}; "
            f"supported: {', '.join(f'{a} {e}' for a, e in ZOO)}",
        )


class _Sb3Actor:
    """A stable-baselines3 model as an actor for :func:`ebmlab.world.train.evaluate_episodes` (deterministic)."""

    def __init__(self, model, normaliser) -> None:
        self.model, self.normaliser = model, normaliser

    def reset(self) -> None:
        pass

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.numpy()
        if self.normaliser is not None:
            x = self.normaliser.normalize_obs(x[None])[0]
        action, _ = self.model.predict(x, deterministic=True)
        return torch.as_tensor(action)


def train_baseline(cfg: BaselineConfig, run: Run) -> dict:
    """Train and evaluate the zoo's agent; the learning curve goes to metrics.jsonl and the report."""
    if not run.fresh:
        raise ConfigError("a model-free baseline cannot be resumed; start it again with a new --out")
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import VecNormalize

    settings = dict(ZOO[(cfg.algo, cfg.env)])
    n_envs, normalize = settings.pop("n_envs", 1), settings.pop("normalize", False)
    env = make_vec_env(cfg.env, n_envs=n_envs, seed=cfg.seed)
    if normalize:
        env = VecNormalize(env)
    algo = {"sac": SAC, "ppo": PPO}[cfg.algo]
    model = algo("MlpPolicy", env, seed=cfg.seed, verbose=0, device="cpu", **settings)
    # SB3's own training statistics go to the run folder (its default is a fresh folder under /tmp)
    model.set_logger(configure(str(run.dir / "sb3"), ["csv"]))
    curve: list[tuple[int, float]] = []
    bar = run.progress(range(cfg.steps), total=cfg.steps, desc=f"{cfg.algo} {cfg.env}")

    def evaluate(step: int) -> None:
        value = evaluate_episodes(
            lambda: make_env(cfg.env, need_cost=False),
            cfg.seed,
            _Sb3Actor(model, env if normalize else None),
            cfg.eval_episodes,
        )["eval_return"]
        curve.append((step, value))
        run.log(step, eval_return=value)

    class _Every(BaseCallback):
        def _on_step(self) -> bool:
            bar.n = min(self.num_timesteps, cfg.steps)
            bar.refresh()
            if self.num_timesteps // cfg.eval_every > (curve[-1][0] if curve else 0) // cfg.eval_every:
                evaluate(self.num_timesteps)
            return True

    evaluate(0)
    model.learn(total_timesteps=cfg.steps, callback=_Every())
    bar.close()
    if curve[-1][0] != model.num_timesteps:
        evaluate(model.num_timesteps)
    run.export_weights("policy", {k: v.detach().clone() for k, v in model.policy.state_dict().items()})
    env.close()
    from ebmlab.world.figures import learning_curve_figure

    points = [{"env_steps": s, "eval_return": r} for s, r in curve]
    run.save_figure("learning_curve", learning_curve_figure(points, f"{cfg.env}: {cfg.algo} (stable-baselines3)"))
    return {"env_steps": model.num_timesteps, "eval_return": curve[-1][1], "best_eval_return": max(r for _, r in curve)}
