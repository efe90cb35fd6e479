"""The world-model agent's loop (``ebmlab world train``): collect, fit the model, act, add the data, refit.

1. Seed data: ``seed_steps`` steps of uniformly random actions.
2. Each round (one episode; with ``--fit-every N``, the episodes until N new
   steps have come in): fit the forward model (:mod:`ebmlab.world.models`)
   to all transitions so far (``fit_steps`` Adam steps; normalisation refitted);
   with ``--value-grid``, tabulate through it the cost still to come after a
   plan's last step, which ends the plans' energy (:mod:`ebmlab.world.value`);
   with ``--td-value``, fit a value network to the buffer's transitions by
   temporal differences instead, for states of any size
   (:mod:`ebmlab.world.td_value`);
   with ``--actor policy``, train the policy through the model
   (:mod:`ebmlab.world.policy`); with ``--actor mppi``, update TD-MPC2's
   latent model, Q ensemble and policy prior instead, once on the random steps
   and then after each step it acts (:mod:`ebmlab.world.tdmpc`); then run one
   episode with the actor — gradient MPC, CEM (:mod:`ebmlab.world.planners`),
   the policy or MPPI — and add its steps.
3. Every ``eval_every`` environment steps (and at the end), evaluate the actor on
   ``eval_episodes`` fresh episodes (seeds apart from training's): the mean return
   is ``eval_return``, logged against ``env_steps`` (the sample-efficiency curve).

The run's step is the number of environment steps. A checkpoint (model, policy,
optimisers, replay buffer, random state) is written after every episode, and
every episode resets the environment with its own seed, so a resumed run
continues exactly where an uninterrupted one would have been.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ebmlab.data.trajectories import Transitions
from ebmlab.runtime import Run, TrainConfig, check
from ebmlab.world.costs import COSTS, LearnedCost, get_cost
from ebmlab.world.envs import OBSERVATIONS, make_env, state_dim
from ebmlab.world.latent import OBJECTIVES, LatentWorld, fit_latent
from ebmlab.world.models import Ensemble, ForwardModel, spread
from ebmlab.world.perception import ConvEncoder, Perceiving
from ebmlab.world.planners import CEM, GradientMPC
from ebmlab.world.policy import Policy, policy_loss
from ebmlab.world.td_value import TDValue
from ebmlab.world.tdmpc import MPPI, ValueWorld, fit_value_world, value_world_optimisers
from ebmlab.world.value import ValueTable, get_chart

__all__ = [
    "WorldConfig",
    "train_world",
    "agent_env",
    "build_model",
    "build_cost",
    "build_perception",
    "build_world",
    "build_value",
    "build_actor",
    "evaluate_actor",
]

ACTORS = ("mpc", "cem", "policy", "mppi")
TD_TARGETS = ("real", "imagined")
COST_KINDS = ("known", "learned")
MODELS = ("deterministic", "latent", "ensemble")
PERCEPTIONS = ("supervised", *OBJECTIVES)
EVAL_SEED = 1_000_000  # evaluation episodes are seeded apart from training's


@dataclass(frozen=True)
class WorldConfig(TrainConfig):
    """A forward model fitted to the agent's own data and an actor that plans or acts through it."""

    env: str = field(default="Pendulum-v1", metadata={"help": f"Gymnasium environment id ({', '.join(COSTS)})."})
    actor: str = field(
        default="mpc",
        metadata={
            "help": "Gradient MPC (mpc), the cross-entropy method (cem), a policy trained through the model (policy), or TD-MPC2's recipe (mppi: a latent model with reward, termination and Q heads and a policy prior, trained by latent consistency and temporal differences, planned through by MPPI over --horizon steps, 3 in TD-MPC2; it learns its own reward and value, and from pixels its own encoder, never the state).",
            "choices": ACTORS,
        },
    )
    model: str = field(
        default="deterministic",
        metadata={
            "help": "Forward model: deterministic, latent (a latent variable z for aleatoric uncertainty), or ensemble.",
            "choices": MODELS,
        },
    )
    observation: str = field(
        default="state",
        metadata={
            "help": "What the agent sees: the environment's state vector, or its rendering (pixels: grey frames, a CNN estimates the state).",
            "choices": OBSERVATIONS,
        },
    )
    frame_size: int = field(
        default=64, metadata={"help": "--observation pixels: frame side in pixels (a multiple of 8)."}
    )
    frame_batch: int = field(
        default=64,
        metadata={"help": "--observation pixels: frame stacks (or sequences) per step of the encoder's fit."},
    )
    perception: str = field(
        default="supervised",
        metadata={
            "help": "--observation pixels: a CNN regressed on the simulator's state (supervised), or a world model in an embedding space learned from pixels alone, never the state, kept from collapsing by VICReg's terms (jepa) or by a pixel decoder (reconstruction); both learn their own cost, whatever --cost says.",
            "choices": PERCEPTIONS,
        },
    )
    embedding_dim: int = field(
        default=0,
        metadata={
            "help": "--perception jepa/reconstruction or --actor mppi: size of h(o) (0: the actor's own, 32; 64 for mppi)."
        },
    )
    consistency_steps: int = field(
        default=10, metadata={"help": "--perception jepa/reconstruction: steps K each training sequence is unrolled."}
    )
    target_every: int = field(
        default=250,
        metadata={"help": "--perception jepa/reconstruction: fit steps between refreshes of the target encoder."},
    )
    cost: str = field(
        default="known",
        metadata={
            "help": "The environment's cost written in torch (known), or a network fitted to its rewards (learned; any environment).",
            "choices": COST_KINDS,
        },
    )
    env_steps: int = field(default=2000, metadata={"help": "Environment steps in all (seed data included)."})
    seed_steps: int = field(default=200, metadata={"help": "Steps of random actions before the first fit."})
    hidden: int = field(
        default=0,
        metadata={"help": "Units per hidden layer of the forward model (0: the actor's own, 200; 128 for mppi)."},
    )
    layers: int = field(default=3, metadata={"help": "Hidden layers of the forward model."})
    latent_dim: int = field(default=2, metadata={"help": "--model latent: size of z."})
    kl_weight: float = field(default=0.1, metadata={"help": "--model latent: weight of KL(q(z|s,a,s') ‖ N(0, I))."})
    z_dropout: float = field(default=0.5, metadata={"help": "--model latent: fraction of samples trained with z = 0."})
    ensemble: int = field(default=5, metadata={"help": "--model ensemble: number of members."})
    fit_steps: int = field(default=500, metadata={"help": "Adam steps of the model per round."})
    fit_every: int = field(
        default=0,
        metadata={
            "help": "Refit (model, value, policy) before an episode only once this many steps have come in since the last fit (0: before every episode; for tasks whose early episodes last a few steps)."
        },
    )
    batch_size: int = field(default=256, metadata={"help": "Transitions per model (and policy) step."})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate of the model."})
    horizon: int = field(
        default=0,
        metadata={"help": "Planning (and policy-training) horizon in steps (0: the actor's own, 30; 3 for mppi)."},
    )
    mpc_iterations: int = field(
        default=5, metadata={"help": "Gradient MPC: Adam steps on the plan per decision (warm start)."}
    )
    mpc_first_iterations: int = field(
        default=100, metadata={"help": "Gradient MPC: Adam steps for the first decision of an episode."}
    )
    mpc_lr: float = field(default=0.03, metadata={"help": "Gradient MPC: step size, in units of the action range."})
    restarts: int = field(
        default=4, metadata={"help": "Gradient MPC: plans optimised at once (the warm one and random ones)."}
    )
    cem_population: int = field(default=400, metadata={"help": "CEM: action sequences per iteration."})
    cem_elites: int = field(default=40, metadata={"help": "CEM: sequences kept to refit the Gaussian."})
    cem_iterations: int = field(default=5, metadata={"help": "CEM: iterations per decision."})
    mppi_samples: int = field(default=256, metadata={"help": "--actor mppi: action sequences scored per iteration."})
    mppi_iterations: int = field(default=4, metadata={"help": "--actor mppi: MPPI iterations per decision."})
    updates_per_step: int = field(
        default=1,
        metadata={
            "help": "--actor mppi: updates of the model, Q and policy after each step it acts (and as many per random step before it first acts)."
        },
    )
    policy_steps: int = field(default=300, metadata={"help": "--actor policy: Adam steps of the policy per round."})
    policy_lr: float = field(default=1e-3, metadata={"help": "--actor policy: Adam learning rate."})
    value_grid: str = field(
        default="",
        metadata={
            "help": "A terminal value V(ŝ_H) ending every plan's energy, tabulated on a grid of this many points (e.g. 720x321: θ × θ̇ for Pendulum-v1) by value iteration through the model each round ('': none; states of two numbers only)."
        },
    )
    value_actions: int = field(
        default=21, metadata={"help": "--value-grid: evenly spaced actions per action dimension tried in each backup."}
    )
    td_value: bool = field(
        default=False,
        metadata={
            "help": "A terminal value V(ŝ_H) ending every plan's energy, a network fitted by temporal differences (any state size; no bootstrap past a terminal step; see --td-targets)."
        },
    )
    gamma: float = field(default=0.99, metadata={"help": "--td-value: discount γ of the cost still to come."})
    td_steps: int = field(default=500, metadata={"help": "--td-value: Adam steps of the value per round."})
    td_lr: float = field(default=3e-4, metadata={"help": "--td-value: Adam learning rate of the value."})
    td_tau: float = field(default=0.01, metadata={"help": "--td-value: Polyak rate τ of the target value per step."})
    td_targets: str = field(
        default="real",
        metadata={
            "help": "--td-value: targets from the real transitions (real: the value of the agent that acted), or TD(λ) returns along the trajectories the policy imagines through the model (imagined: the policy's own value; --actor policy).",
            "choices": TD_TARGETS,
        },
    )
    td_lambda: float = field(default=0.95, metadata={"help": "--td-targets imagined: λ of the TD(λ) returns."})
    uncertainty_weight: float = field(
        default=0.0,
        metadata={"help": "--actor policy with --model ensemble: weight λ of PPUU's hinged uncertainty penalty."},
    )
    eval_every: int = field(
        default=500, metadata={"help": "Evaluate every this many environment steps (and at the end)."}
    )
    eval_episodes: int = field(default=5, metadata={"help": "Episodes per evaluation."})
    max_episode_steps: int = field(
        default=0, metadata={"help": "Cap on an episode's steps (0: the environment's own limit)."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        # 0: the actor's own (mppi's, the others'). MPPI's model is trained over as many steps as it plans, and
        # sized for a decision (4 iterations of 256 plans over 3 steps) in under 20 ms on one CPU thread
        for name, own in {"horizon": (3, 30), "hidden": (128, 200), "embedding_dim": (64, 32)}.items():
            if getattr(self, name) == 0:
                object.__setattr__(self, name, own[0] if self.actor == "mppi" else own[1])
        check(self.actor in ACTORS, f"--actor must be one of {', '.join(ACTORS)}, got {self.actor!r}")
        check(self.model in MODELS, f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
        check(self.cost in COST_KINDS, f"--cost must be one of {', '.join(COST_KINDS)}, got {self.cost!r}")
        check(
            self.observation in OBSERVATIONS,
            f"--observation must be one of {', '.join(OBSERVATIONS)}, got {self.observation!r}",
        )
        check(
            self.frame_size >= 8 and self.frame_size % 8 == 0,
            f"--frame-size must be a multiple of 8, got {self.frame_size}",
        )
        check(self.frame_batch >= 1, f"--frame-batch must be >= 1, got {self.frame_batch}")
        check(self.perception in PERCEPTIONS, f"--perception must be one of {', '.join(PERCEPTIONS)}")
        for name in (
            "env_steps",
            "hidden",
            "layers",
            "latent_dim",
            "ensemble",
            "fit_steps",
            "batch_size",
            "horizon",
            "mpc_first_iterations",
            "restarts",
            "cem_population",
            "cem_elites",
            "cem_iterations",
            "eval_every",
            "eval_episodes",
            "value_actions",
            "embedding_dim",
            "consistency_steps",
            "target_every",
            "mppi_samples",
            "mppi_iterations",
        ):
            check(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in (
            "seed_steps",
            "mpc_iterations",
            "policy_steps",
            "max_episode_steps",
            "td_steps",
            "fit_every",
        ):
            check(getattr(self, name) >= 0, f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        check(self.cem_elites <= self.cem_population, "--cem-elites must be <= --cem-population")
        check(0 <= self.z_dropout <= 1, f"--z-dropout must be in [0, 1], got {self.z_dropout}")
        for name in ("lr", "mpc_lr", "policy_lr", "td_lr"):
            check(getattr(self, name) > 0, f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")
        check(self.kl_weight >= 0 and self.uncertainty_weight >= 0, "--kl-weight and --uncertainty-weight must be >= 0")
        check(0 <= self.gamma < 1, f"--gamma must be in [0, 1), got {self.gamma}")
        check(0 < self.td_tau <= 1, f"--td-tau must be in (0, 1], got {self.td_tau}")
        check(not (self.td_value and self.value_grid), "--td-value and --value-grid are two terminal values: pick one")
        check(
            self.actor != "mppi" or not (self.td_value or self.value_grid),
            "--actor mppi learns its own Q ending the plans: drop --td-value / --value-grid",
        )
        check(
            self.actor != "mppi" or self.perception == "supervised",
            "--actor mppi trains its own encoder from pixels, never the state: drop --perception",
        )
        check(
            self.actor != "mppi" or self.embedding_dim % 8 == 0, "--actor mppi: --embedding-dim must be a multiple of 8"
        )
        check(
            self.actor != "mppi" or self.mppi_samples > 64 + 24,
            "--actor mppi: --mppi-samples must exceed its 64 elites and 24 policy samples",
        )
        check(self.updates_per_step >= 1, f"--updates-per-step must be >= 1, got {self.updates_per_step}")
        check(self.td_targets in TD_TARGETS, f"--td-targets must be one of {', '.join(TD_TARGETS)}")
        check(
            self.td_targets == "real" or self.actor == "policy",
            "--td-targets imagined needs a policy to imagine with: --actor policy",
        )
        check(0 <= self.td_lambda <= 1, f"--td-lambda must be in [0, 1], got {self.td_lambda}")
        check(
            not (self.value_grid and self.sees_embeddings),
            "--value-grid tabulates over the state's chart; a world model from pixels alone has none: use --td-value",
        )
        if self.value_grid:
            get_chart(self.env)  # one line when the environment has no chart
            check(
                value_grid_size(self.value_grid) is not None,
                f"--value-grid must be two sizes >= 2 like 720x321, got {self.value_grid!r}",
            )
        agent_env(self).close()  # an unsuitable environment: one line, before any folder

    @property
    def sees_embeddings(self) -> bool:
        """Whether the agent plans over embeddings of pixels learned without the state (a latent world model)."""
        return self.observation == "pixels" and self.perception != "supervised"


def agent_env(cfg: WorldConfig, seed: int | None = None):
    """The environment as the agent sees it (state or pixels), checked for a known cost unless it learns one."""
    return make_env(
        cfg.env,
        seed=seed,
        need_cost=cfg.cost == "known" and not cfg.sees_embeddings and cfg.actor != "mppi",
        observation=cfg.observation,
        frame_size=cfg.frame_size,
    )


def build_model(cfg: WorldConfig, obs_dim: int, act_dim: int) -> torch.nn.Module:
    if cfg.model == "ensemble":
        return Ensemble([ForwardModel(obs_dim, act_dim, cfg.hidden, cfg.layers) for _ in range(cfg.ensemble)])
    return ForwardModel(obs_dim, act_dim, cfg.hidden, cfg.layers, cfg.latent_dim if cfg.model == "latent" else 0)


def build_cost(cfg: WorldConfig, obs_dim: int, act_dim: int):
    """The environment's known cost, or a :class:`LearnedCost` to fit (``--cost learned``)."""
    return LearnedCost(obs_dim, act_dim, cfg.hidden) if cfg.cost == "learned" else get_cost(cfg.env)


def build_perception(cfg: WorldConfig, obs_dim: int) -> ConvEncoder | None:
    """The CNN that estimates the state from frames (``--observation pixels``); None when the state is seen."""
    return ConvEncoder(obs_dim, cfg.frame_size) if cfg.observation == "pixels" and not cfg.sees_embeddings else None


def build_world(cfg: WorldConfig, obs_dim: int, act_dim: int, low: torch.Tensor, high: torch.Tensor, channels: int = 2):
    """(model, cost, perception, the size of the states planned over): a :class:`~ebmlab.world.tdmpc.ValueWorld` that learns its own
    reward and value (``--actor mppi``; no cost, no perception); a :class:`LatentWorld` whose encoder is the
    perception and whose cost is its own, with ``--perception jepa/reconstruction``; else the parts above."""
    if cfg.actor == "mppi":
        frames = (channels, cfg.frame_size) if cfg.observation == "pixels" else None
        world = ValueWorld(
            obs_dim, act_dim, low, high, cfg.embedding_dim, cfg.hidden, gamma=cfg.gamma, tau=cfg.td_tau, frames=frames
        )
        return world, None, None, cfg.embedding_dim
    if cfg.sees_embeddings:
        world = LatentWorld(
            act_dim, cfg.embedding_dim, cfg.frame_size, channels, cfg.hidden, cfg.layers, objective=cfg.perception
        )
        return world, world.cost, world.encoder, cfg.embedding_dim
    model, cost = build_model(cfg, obs_dim, act_dim), build_cost(cfg, obs_dim, act_dim)
    return model, cost, build_perception(cfg, obs_dim), obs_dim


def value_grid_size(text: str) -> tuple[int, int] | None:
    """``"720x321"`` → (720, 321); None unless two integers >= 2."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        return None
    size = tuple(int(p) for p in parts)
    return size if min(size) >= 2 else None


def build_value(cfg: WorldConfig, obs_dim: int, cost) -> ValueTable | TDValue | None:
    """The terminal value: tabulated (``--value-grid``), learned by temporal differences (``--td-value``; it carries
    the cost's termination test, which makes plans episodic), or None."""
    if cfg.td_value:
        return TDValue(
            obs_dim, cfg.hidden, gamma=cfg.gamma, tau=cfg.td_tau, terminated=getattr(cost, "terminated", None)
        )
    return ValueTable(get_chart(cfg.env), value_grid_size(cfg.value_grid)) if cfg.value_grid else None


def plan_terminal(cfg: WorldConfig, value):
    """What ends a plan's energy: V itself (a table), γ^H V (a TD value), or None."""
    return value.planning(cfg.horizon) if isinstance(value, TDValue) else value


def build_actor(
    cfg: WorldConfig,
    model,
    cost,
    policy: Policy | None,
    low: torch.Tensor,
    high: torch.Tensor,
    perception: ConvEncoder | None = None,
    value: ValueTable | TDValue | None = None,
):
    """The planner (or the policy) acting through the model (a latent world's dynamics); behind the encoder when
    the agent sees pixels."""
    g = torch.Generator().manual_seed(cfg.seed + 7)
    if isinstance(model, ValueWorld):
        return MPPI(model, cfg.horizon, g, cfg.mppi_samples, iterations=cfg.mppi_iterations)
    cost, value = cost.planning, plan_terminal(cfg, value)
    if isinstance(model, LatentWorld):
        model = model.dynamics
    if cfg.actor == "mpc":
        actor = GradientMPC(
            model,
            cost,
            low,
            high,
            cfg.horizon,
            cfg.mpc_iterations,
            cfg.mpc_first_iterations,
            cfg.mpc_lr,
            cfg.restarts,
            g,
            terminal=value,
        )
    elif cfg.actor == "cem":
        actor = CEM(
            model,
            cost,
            low,
            high,
            cfg.horizon,
            cfg.cem_population,
            cfg.cem_elites,
            cfg.cem_iterations,
            g,
            terminal=value,
        )
    else:
        actor = policy
    return Perceiving(perception, actor) if perception is not None else actor


def _members(model) -> list[ForwardModel]:
    return list(model.models) if isinstance(model, Ensemble) else [model]


def fit_model(
    cfg: WorldConfig,
    model,
    opt,
    data: Transitions,
    g: torch.Generator,
    cost=None,
    perception: ConvEncoder | None = None,
) -> dict:
    """``fit_steps`` Adam steps on minibatches (each ensemble member its own); normalisation refitted first.
    A :class:`LearnedCost` and the pixel encoder (their parameters in ``opt`` too) are fitted in the same steps,
    each on its own minibatches."""
    for m in _members(model):
        m.norm.fit(data.obs, data.act, data.next_obs)
    learned = isinstance(cost, LearnedCost)
    if learned:
        cost.fit_statistics(data.obs, data.act, data.next_obs, data.reward)
        cost.train()
    if perception is not None:
        perception.fit_statistics(data.obs)
        perception.train()
    model.train()
    terms: dict = {}
    for _ in range(cfg.fit_steps):
        total = 0.0
        for m in _members(model):
            loss, terms = m.loss(
                *data.sample(cfg.batch_size, g), kl_weight=cfg.kl_weight, z_dropout=cfg.z_dropout, generator=g
            )
            total = total + loss
        if learned:
            i = torch.randint(len(data), (cfg.batch_size,), generator=g)
            cost_loss = cost.loss(data.obs[i], data.act[i], data.next_obs[i], data.reward[i])
            terms["cost"] = cost_loss.detach()
            total = total + cost_loss
        if perception is not None:
            i = torch.randint(len(data), (cfg.frame_batch,), generator=g)
            seen = perception.loss(data.frames[i], data.obs[i])
            terms["perception"] = seen.detach()
            total = total + seen
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
    for part in (model, cost if learned else None, perception):
        if part is not None:
            part.eval()
    return {f"model_{k}": float(v) for k, v in terms.items()}


def train_policy(
    cfg: WorldConfig,
    policy: Policy,
    model,
    cost,
    opt,
    data: Transitions,
    g: torch.Generator,
    value: ValueTable | TDValue | None = None,
    value_opt: torch.optim.Optimizer | None = None,
) -> dict:
    """``policy_steps`` Adam steps of the policy through the frozen model (and cost) from buffer start states;
    with ``--td-targets imagined``, each followed by a step of the value on the TD(λ) returns of the trajectories
    the policy just imagined (and a target update)."""
    states = torch.cat([data.obs, data.next_obs])  # it acts on predicted states too (see Normaliser.fit)
    policy.obs_mean.copy_(states.mean(0))
    policy.obs_std.copy_(spread(states))
    frozen = [model, cost] if isinstance(cost, LearnedCost) else [model]
    critic = value if cfg.td_value and cfg.td_targets == "imagined" else None
    cost, terminal = cost.planning, plan_terminal(cfg, value)
    for m in frozen:
        m.requires_grad_(False)
    info: dict = {}
    for _ in range(cfg.policy_steps):
        start = data.obs[torch.randint(len(data), (cfg.batch_size,), generator=g)]
        loss, info, (states, costs) = policy_loss(
            policy, model, cost, start, cfg.horizon, cfg.uncertainty_weight, terminal=terminal
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if critic is not None:
            value_loss = critic.imagined_loss(states, costs, cfg.td_lambda)
            value_opt.zero_grad(set_to_none=True)
            value_loss.backward()
            value_opt.step()
            critic.update_target()
            info["td_loss"] = value_loss.detach()
    for m in frozen:
        m.requires_grad_(True)
    return {f"policy_{k}": float(v) for k, v in info.items()}


def run_episode(
    env,
    actor,
    seed: int,
    max_steps: int,
    data: Transitions | None = None,
    episode: int = 0,
    random_actions: int = 0,
    rng: np.random.Generator | None = None,
    learn=None,
) -> dict:
    """One episode from ``env.reset(seed=seed)``; the first ``random_actions`` steps act at random, and after each
    step the actor took ``learn()`` (if given) runs. An environment that shows frames gives its state in
    ``info["state"]``: the data keep both."""
    obs, info = env.reset(seed=seed)
    if actor is not None:
        actor.reset()
    total, steps, decide = 0.0, 0, []
    while True:
        if steps < random_actions:
            action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        else:
            t = time.perf_counter()
            action = actor.act(torch.as_tensor(obs, dtype=torch.float32)).numpy()
            decide.append(time.perf_counter() - t)
        next_obs, reward, terminated, truncated, next_info = env.step(action)
        if data is not None:
            data.add(
                info.get("state", obs),
                action,
                reward,
                next_info.get("state", next_obs),
                episode,
                frames=obs if "state" in info else None,
                terminated=terminated,
                next_frames=next_obs if "state" in info else None,
            )
        if learn is not None and steps >= random_actions:
            learn()
        total += float(reward)
        steps += 1
        obs, info = next_obs, next_info
        if terminated or truncated or (max_steps and steps >= max_steps):
            return {"return": total, "steps": steps, "decision_ms": 1000 * statistics.median(decide) if decide else 0.0}


def evaluate_actor(cfg: WorldConfig, actor, episodes: int | None = None) -> dict:
    """Mean (and spread) of the return over ``eval_episodes`` fresh episodes, and the median decision time."""
    return evaluate_episodes(
        lambda: agent_env(cfg), cfg.seed, actor, episodes or cfg.eval_episodes, cfg.max_episode_steps
    )


def evaluate_episodes(new_env, seed: int, actor, episodes: int, max_steps: int = 0) -> dict:
    """The evaluation of every agent (world-model or model-free): ``episodes`` fresh episodes of the environment
    ``new_env()`` makes, seeded apart from training's; mean and spread of the return, median decision time."""
    env = new_env()
    try:
        results = [run_episode(env, actor, EVAL_SEED + seed * 1000 + i, max_steps) for i in range(episodes)]
    finally:
        env.close()
    returns = [r["return"] for r in results]
    return {
        "eval_return": statistics.mean(returns),
        "eval_return_std": statistics.pstdev(returns),
        "decision_ms": statistics.median(r["decision_ms"] for r in results),
    }


def train_world(cfg: WorldConfig, run: Run) -> dict:
    """Collect, fit, act, evaluate (see the module doc); returns the final metrics."""
    env = agent_env(cfg, seed=cfg.seed)
    obs_dim, act_dim = state_dim(env), env.action_space.shape[0]
    low, high = (torch.as_tensor(b, dtype=torch.float32) for b in (env.action_space.low, env.action_space.high))
    frame_shape = env.observation_space.shape if cfg.observation == "pixels" else None
    model, cost, perception, size = build_world(cfg, obs_dim, act_dim, low, high, frame_shape[0] if frame_shape else 2)
    world = model if isinstance(model, LatentWorld) else None  # its cost and encoder are its own parameters
    planned = model if isinstance(model, ValueWorld) else None  # its reward, value and policy are its own
    dynamics = world.dynamics if world is not None else model
    estimator = perception if world is None else None  # the state estimator, fitted and saved on its own
    learned = cost if isinstance(cost, LearnedCost) and world is None else None
    policy = Policy(size, act_dim, low, high) if cfg.actor == "policy" else None
    if planned is not None:  # one optimiser for the model and Q, one for its policy prior
        opt, policy_opt = value_world_optimisers(planned, cfg.lr)
    else:
        opt = torch.optim.Adam([*model.parameters(), *(learned.parameters() if learned else [])], lr=cfg.lr)
        policy_opt = torch.optim.Adam(policy.parameters(), lr=cfg.policy_lr) if policy is not None else None
    if estimator is not None:
        opt.add_param_group({"params": list(estimator.parameters())})
    value = build_value(cfg, size, cost)
    value_opt = torch.optim.Adam(value.nets.parameters(), lr=cfg.td_lr) if isinstance(value, TDValue) else None
    sweeps = cfg.max_episode_steps or getattr(env.spec, "max_episode_steps", None) or 1000  # the steps to come
    data = Transitions(obs_dim, act_dim, frame_shape)  # with pixels the states are kept, for diagnostics only
    extra_state = {"policy": policy} if policy is not None else {}
    if policy_opt is not None:
        extra_state["policy_opt"] = policy_opt
    if learned is not None:
        extra_state["cost"] = learned
    if estimator is not None:
        extra_state["perception"] = estimator
    if value is not None:
        extra_state["value"] = value
    if value_opt is not None:
        extra_state["value_opt"] = value_opt
    done = run.restore(model=model, opt=opt, data=data, **extra_state)
    episode = int(run.restored_extra.get("episode", 0))
    fitted_at = int(run.restored_extra.get("fitted_at", -1))  # the step of the last fit (-1: none yet)
    curve = list(run.restored_extra.get("curve", []))
    g = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    actor = build_actor(cfg, model, cost, policy, low, high, perception, value)
    if done:
        g.set_state(run.restored_extra["generator"])
        if run.restored_extra.get("actor_generator") is not None:
            actor.generator.set_state(run.restored_extra["actor_generator"])
    bar = run.progress(range(cfg.env_steps), total=cfg.env_steps, initial=done, desc=f"world {cfg.actor}")
    last_eval = max([c["env_steps"] for c in curve], default=-1)
    if done == 0:  # the untrained agent is the curve's first point
        curve.append({"env_steps": 0, **evaluate_actor(cfg, _random_actor(env, rng))})
        run.log(0, **curve[-1])
        last_eval = 0
    while done < cfg.env_steps:
        info: dict = {}
        remaining = cfg.env_steps - done
        cap = min(remaining, cfg.max_episode_steps) if cfg.max_episode_steps else remaining
        random_steps = max(0, cfg.seed_steps - done)
        due = fitted_at < 0 or (planned is None and done - fitted_at >= cfg.fit_every)  # mppi learns as it acts
        if random_steps < cap and len(data) and due:  # the actor will act in this episode: fit to the data so far
            fitted_at = done
            if planned is not None:  # once, on the random steps: as many updates as steps (TD-MPC2's pretraining)
                updates = cfg.updates_per_step * done
                info.update(fit_value_world(planned, opt, policy_opt, data, updates, cfg.batch_size, cfg.horizon, g))
            elif world is not None:  # value and policy learn on the embeddings of the frames
                terms, states = fit_latent(
                    world, opt, data, cfg.fit_steps, cfg.frame_batch, cfg.consistency_steps, cfg.target_every, g
                )
                info.update(terms)
            else:
                info.update(fit_model(cfg, model, opt, data, g, cost, estimator))
                states = data
            if value_opt is not None and cfg.td_targets == "imagined":  # fitted beside the policy, below
                value.fit_statistics(states.obs, states.next_obs, -states.reward)
            elif value_opt is not None:
                info.update(value.fit(states, value_opt, cfg.td_steps, cfg.batch_size, g))
            elif value is not None:
                info.update(value.fit(model, cost.planning, low, high, cfg.value_actions, sweeps))
            if policy is not None:
                info.update(train_policy(cfg, policy, dynamics, cost, policy_opt, states, g, value, value_opt))
        learn = None
        if planned is not None and fitted_at >= 0:  # updates interleaved with the steps it acts, as TD-MPC2's

            def learn(info=info):
                info.update(
                    fit_value_world(
                        planned, opt, policy_opt, data, cfg.updates_per_step, cfg.batch_size, cfg.horizon, g
                    )
                )

        rng = np.random.default_rng([cfg.seed, episode])
        result = run_episode(env, actor, cfg.seed * 1000 + episode, cap, data, episode, random_steps, rng, learn)
        done += result["steps"]
        episode += 1
        bar.update(result["steps"])
        run.log(done, episode_return=result["return"], episode_steps=result["steps"], **info)
        if done // cfg.eval_every > last_eval // cfg.eval_every or done >= cfg.env_steps:
            curve.append({"env_steps": done, **evaluate_actor(cfg, actor)})
            run.log(done, **curve[-1])
            last_eval = done
        run.save_checkpoint(
            done,
            extra={
                "episode": episode,
                "fitted_at": fitted_at,
                "curve": curve,
                "generator": g.get_state(),
                "actor_generator": _actor_generator(actor),
            },
            model=model,
            opt=opt,
            data=data,
            **extra_state,
        )
    bar.close()
    env.close()
    if not curve or curve[-1]["env_steps"] != done:  # resumed a finished run
        curve.append({"env_steps": done, **evaluate_actor(cfg, actor)})
    final = curve[-1]
    result = {
        "env_steps": done,
        "episodes": episode,
        "eval_return": final["eval_return"],
        "eval_return_std": final["eval_return_std"],
        "decision_ms": final["decision_ms"],
        "best_eval_return": max(c["eval_return"] for c in curve),
    }
    if run.is_main:
        from ebmlab.world.figures import learning_curve_figure, plan_figure, rollout_figure

        run.save_figure("learning_curve", learning_curve_figure(curve, f"{cfg.env}: {cfg.actor}, {cfg.model} model"))
        if planned is None:  # the figures of a model of the state (or of a latent world's embeddings)
            states = world.encoded(data) if world is not None else data
            run.save_figure("rollouts", rollout_figure(dynamics, states, cfg.horizon))
            run.save_figure("plans", plan_figure(actor, dynamics, states, cfg.horizon))
        run.export_weights("model", model.state_dict())
        if policy is not None:
            run.export_weights("policy", policy.state_dict())
        if learned is not None:
            run.export_weights("cost", learned.state_dict())
        if estimator is not None:
            run.export_weights("perception", estimator.state_dict())
        if value is not None:
            run.export_weights("value", value.state_dict())
    return result


def _actor_generator(actor):
    generator = getattr(actor, "generator", None)
    return generator.get_state() if generator is not None else None


class _random_actor:
    """Uniform random actions: the agent before it has learned anything."""

    def __init__(self, env, rng: np.random.Generator) -> None:
        self.low, self.high, self.rng = env.action_space.low, env.action_space.high, rng

    def reset(self) -> None:
        pass

    def act(self, obs) -> torch.Tensor:
        return torch.as_tensor(self.rng.uniform(self.low, self.high).astype(np.float32))
