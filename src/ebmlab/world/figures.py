"""Figures of a world-model run: the sample-efficiency curve and the model's rollouts against the real ones."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ebmlab.data.trajectories import Transitions  # noqa: E402

__all__ = ["learning_curve_figure", "rollout_figure", "open_loop"]


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
    dims = real.shape[1]
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
