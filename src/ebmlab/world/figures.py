"""Figures of a world-model run: the sample-efficiency curve, the model's rollouts against the real ones, and the
plans the actor makes along an episode."""

from __future__ import annotations

from ebmlab.viz.backend import file_backend  # noqa: E402

file_backend()
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ebmlab.data.trajectories import Transitions  # noqa: E402

__all__ = ["learning_curve_figure", "rollout_figure", "plan_figure", "open_loop"]

SHOWN = 6  # state coordinates drawn at most (an embedding has dozens)


def learning_curve_figure(curve: list[dict], title: str):
    """Evaluation return (mean ± std over episodes) against environment steps."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    x = [c["env_steps"] for c in curve]
    y = [c["eval_return"] for c in curve]
    s = [c.get("eval_return_std", 0.0) for c in curve]
    ax.plot(x, y, "o-", lw=1.5)
    ax.fill_between(x, [a - b for a, b in zip(y, s)], [a + b for a, b in zip(y, s)], alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@torch.no_grad()
def open_loop(model, obs0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """States predicted from ``obs0`` with the executed ``actions`` (T×A), no correction: (T+1)×obs_dim."""
    states = [obs0]
    for a in actions:
        states.append(model(states[-1][None], a[None])[0])
    return torch.stack(states)


def rollout_figure(model, data: Transitions, horizon: int):
    """The last episode's first ``3·horizon`` steps: real states against the model's open-loop prediction."""
    last = data.episode == data.episode[-1]
    obs, act, next_obs = data.obs[last], data.act[last], data.next_obs[last]
    n = min(len(act), 3 * horizon)
    real = torch.cat([obs[:1], next_obs[:n]])
    predicted = open_loop(model, obs[0], act[:n])
    dims = min(real.shape[1], SHOWN)
    fig, axes = plt.subplots(1, dims, figsize=(3.2 * dims, 2.8), squeeze=False)
    for d, ax in enumerate(axes[0]):
        ax.plot(real[:, d], "k-", lw=1.5, label="real")
        ax.plot(predicted[:, d], "C1--", lw=1.5, label="model (open loop)")
        ax.axvline(horizon, color="grey", lw=0.8, ls=":")
        ax.set_title(f"state {d}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("last episode: predicted vs real (dotted: planning horizon)", fontsize=10)
    fig.tight_layout()
    return fig


@torch.no_grad()
def _plan_from(actor, model, state: torch.Tensor, horizon: int) -> torch.Tensor:
    """The actions (H×A) the actor intends from ``state``: a planner's fresh plan, or the policy unrolled
    through the model."""
    if hasattr(actor, "plan"):
        actor.reset()
        with torch.enable_grad():
            actor.act(state)
        return actor.plan
    actions, s = [], state[None]
    for _ in range(horizon):
        actions.append(actor.act(s[0]))
        s = model(s, actions[-1][None])
    return torch.stack(actions)


def plan_figure(actor, model, data: Transitions, horizon: int, plans: int = 4):
    """Plans made afresh from ``plans`` states of the last episode: the actions planned and the states the model
    predicts along them (colours), over the episode's real states and actions (black)."""
    actor = getattr(actor, "actor", actor)  # behind a pixel encoder, the planner works on states
    last = data.episode == data.episode[-1]
    obs, act = data.obs[last], data.act[last]
    real = torch.cat([obs, data.next_obs[last][-1:]])
    dims = min(real.shape[1], SHOWN)
    fig, axes = plt.subplots(1, dims + 1, figsize=(3.2 * (dims + 1), 2.8), squeeze=False)
    for d, ax in enumerate(axes[0][:dims]):
        ax.plot(real[:, d], "k-", lw=1.2)
        ax.set_title(f"state {d}", fontsize=9)
    axes[0][dims].plot(act[:, 0], "k-", lw=1.2, label="executed")
    axes[0][dims].set_title("action 0", fontsize=9)
    for i, k in enumerate(torch.linspace(0, len(obs) - 1, plans).round().long().unique().tolist()):
        planned = _plan_from(actor, model, obs[k], horizon)
        predicted = open_loop(model, obs[k], planned)
        steps = range(k, k + len(predicted))
        for d, ax in enumerate(axes[0][:dims]):
            ax.plot(steps, predicted[:, d], f"C{i}--", lw=1.2)
        axes[0][dims].plot(steps[:-1], planned[:, 0], f"C{i}--", lw=1.2, label=f"planned at step {k}")
    axes[0][dims].legend(fontsize=6)
    for ax in axes[0]:
        ax.set_xlabel("step", fontsize=8)
    fig.suptitle("plans made along the last episode (dashed) against what happened (black)", fontsize=10)
    fig.tight_layout()
    return fig
