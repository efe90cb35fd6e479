"""``ebmlab world traffic model``: fit PPUU's forward model to recorded traffic.

Each step draws ``batch_size`` windows from the training split (20
conditioning frames, ``future`` recorded actions and frames), unrolls the model
over them feeding its predictions back, and takes an Adam step on the
prediction loss (+ β·KL with a latent). At the end: predicted against real
futures over ``show_steps`` steps for validation cars (a figure and a GIF), and
the prediction error against the horizon on validation windows. The weights
load back with :func:`load_model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ebmlab.runtime import Run, TrainConfig, check
from ebmlab.runtime.run import load_exported_weights, read_run_config
from ebmlab.world.driving.data import TrafficWindows
from ebmlab.world.driving.model import EGO_MODELS, TrafficModel
from ebmlab.world.driving.record import find_recording
from ebmlab.world.driving.steps import adam_steps
from ebmlab.world.traffic.recording import CONDITIONING

__all__ = ["ModelConfig", "train_model", "load_model", "horizon_errors"]


@dataclass(frozen=True)
class ModelConfig(TrainConfig):
    """PPUU's forward model: deterministic (latent_dim 0) or stochastic (a latent z, its posterior, z-dropout)."""

    recording: str = field(
        default="", metadata={"help": "Recording: a traffic.safetensors file or a `world traffic record` run folder."}
    )
    ego: str = field(
        default="learned",
        metadata={
            "help": "learned (PPUU: the network predicts the ego's next state and view too) or kinematic (the ego moves by its known kinematics; the network predicts the others, in views that do not follow the ego: Sobal et al. 2022).",
            "choices": EGO_MODELS,
        },
    )
    latent_dim: int = field(default=32, metadata={"help": "Size of z (0: a deterministic model)."})
    kl_weight: float = field(default=1e-6, metadata={"help": "β, the weight of KL(q(z|past, next) ‖ N(0, I))."})
    z_dropout: float = field(default=0.5, metadata={"help": "Fraction of samples whose z comes from the prior."})
    dropout: float = field(
        default=0.1, metadata={"help": "Dropout in the model (its masks measure MPUR's uncertainty)."}
    )
    future: int = field(default=20, metadata={"help": "Predicted frames per training unroll (PPUU: 20)."})
    steps: int = field(default=1500, metadata={"help": "Adam steps."})
    batch_size: int = field(default=16, metadata={"help": "Windows per step."})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate."})
    show_steps: int = field(
        default=30, metadata={"help": "Steps of the predicted-vs-real figures and the error curve."}
    )
    eval_windows: int = field(default=64, metadata={"help": "Validation windows of the error-against-horizon curve."})

    def __post_init__(self) -> None:
        super().__post_init__()
        check(bool(self.recording), "--recording is required (a file or a `world traffic record` run folder)")
        check(self.latent_dim >= 0, "--latent-dim must be >= 0")
        check(0 <= self.z_dropout <= 1, "--z-dropout must be in [0, 1]")
        check(0 <= self.dropout < 1, "--dropout must be in [0, 1)")
        check(
            self.future >= 1 and self.steps >= 1 and self.batch_size >= 1,
            "--future, --steps, --batch-size must be >= 1",
        )
        check(self.show_steps >= 1 and self.eval_windows >= 1, "--show-steps and --eval-windows must be >= 1")


def build_model(cfg: ModelConfig) -> TrafficModel:
    return TrafficModel(latent_dim=cfg.latent_dim, dropout=cfg.dropout, ego=cfg.ego)


def load_model(run_dir: str | Path) -> tuple[TrafficModel, ModelConfig]:
    """The trained forward model of a `world traffic model` run folder (eval mode) and its config."""
    cfg = read_run_config(run_dir, ModelConfig)
    model = build_model(cfg)
    load_exported_weights(run_dir, "model", model)
    return model.eval(), cfg


@torch.no_grad()
def horizon_errors(model: TrafficModel, window: dict, generator=None) -> dict[str, np.ndarray]:
    """Per predicted step: image MSE and position error (m) of the model unrolled on recorded actions."""
    C = CONDITIONING
    images, states = window["images"], window["states"]
    pred_i, pred_s, _ = model.unroll(images[:, :C], states[:, :C], window["actions"], generator=generator)
    image = ((pred_i - images[:, C:]) ** 2).mean((0, 2, 3, 4))
    position = (pred_s[..., :2] - states[:, C:, :2]).norm(dim=-1).mean(0)
    return {"image_mse": image.numpy(), "position_m": position.numpy()}


def _prediction_figure(real: torch.Tensor, pred: torch.Tensor, every: int = 3):
    """Rows: real and predicted ego views of each shown car, every ``every``-th of the predicted steps."""
    import matplotlib.pyplot as plt

    from ebmlab.world.traffic.render import view_rgb

    cars, T = real.shape[:2]
    cols = list(range(0, T, every))
    fig, axes = plt.subplots(2 * cars, len(cols), figsize=(1.1 * len(cols), 1.05 * 2 * cars), squeeze=False)
    for c in range(cars):
        for j, t in enumerate(cols):
            for r, (what, seq) in enumerate((("real", real), ("predicted", pred))):
                ax = axes[2 * c + r, j]
                ax.imshow(view_rgb(seq[c, t], scale=1).transpose(1, 0, 2)[::-1])
                ax.set_xticks([]), ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(f"{what}", fontsize=7)
                if c == 0 and r == 0:
                    ax.set_title(f"t+{t + 1}", fontsize=7)
    fig.suptitle("recorded future (real) against the model's prediction, driven by the recorded actions", fontsize=9)
    return fig


def train_model(cfg: ModelConfig, run: Run) -> dict:
    rec = find_recording(cfg.recording)
    train_cars, val_cars = rec.split("train"), rec.split("val")
    frame = "track" if cfg.ego == "kinematic" else "ego"
    windows = TrafficWindows(rec, train_cars, cfg.future, frame)
    model = build_model(cfg)
    model.norm.fit(rec, train_cars)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    model.train()
    adam_steps(
        run,
        "model",
        model,
        opt,
        cfg.steps,
        g,
        lambda: model.loss(windows.sample(cfg.batch_size, g), cfg.z_dropout, cfg.kl_weight, generator=g),
        "traffic model",
    )
    model.eval()
    if not model.kinematic:  # a kinematic ego's policies measure their uncertainty on their own samples
        _fit_uncertainty(model, windows, g)
    run.export_weights("model", model.state_dict())

    # predicted against real futures, and the error against the horizon, on validation cars
    eval_g = torch.Generator().manual_seed(10_000 + cfg.seed)
    val = TrafficWindows(rec, val_cars, cfg.show_steps, frame).sample(cfg.eval_windows, eval_g)
    errors = horizon_errors(model, val, eval_g)
    with torch.no_grad():
        shown = {k: v[:3] for k, v in val.items()}
        pred, _, _ = model.unroll(
            shown["images"][:, :CONDITIONING], shown["states"][:, :CONDITIONING], shown["actions"], generator=eval_g
        )
    run.save_figure("predicted_vs_real", _prediction_figure(shown["images"][:, CONDITIONING:], pred))
    _prediction_gif(run, shown["images"][0, CONDITIONING:], pred[0])
    run.save_figure("error_vs_horizon", _horizon_figure(errors, "stochastic" if cfg.latent_dim else "deterministic"))
    metrics = {
        "image_mse_1": float(errors["image_mse"][0]),
        "image_mse_10": float(errors["image_mse"][min(9, cfg.show_steps - 1)]),
        f"image_mse_{cfg.show_steps}": float(errors["image_mse"][-1]),
        "position_error_m_10": float(errors["position_m"][min(9, cfg.show_steps - 1)]),
        f"position_error_m_{cfg.show_steps}": float(errors["position_m"][-1]),
        "train_windows": len(windows),
    }
    if run.is_main:
        np.savez(run.dir / "horizon_errors.npz", **errors)
    return metrics


@torch.no_grad()
def _fit_uncertainty(model: TrafficModel, windows: TrafficWindows, g: torch.Generator, n: int = 64) -> None:
    """Mean and spread of MPUR's three uncertainties (images, states, costs) over training windows, to normalise
    them (PPUU normalises the penalty by its statistics on the training data)."""
    from ebmlab.world.driving.policy import dropout_uncertainty

    w = windows.sample(n, g)
    u = dropout_uncertainty(
        model, w["images"][:, :CONDITIONING], w["states"][:, :CONDITIONING], w["actions"][:, :1], generator=g
    )
    model.uncertainty_mean.copy_(u.mean(0))
    model.uncertainty_std.copy_(u.std(0).clamp_min(1e-6))


def _horizon_figure(errors: dict, label: str):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    steps = np.arange(1, len(errors["image_mse"]) + 1)
    axes[0].plot(steps, errors["image_mse"], label=label)
    axes[0].set(xlabel="predicted step", ylabel="image MSE", title="image error against horizon")
    axes[1].plot(steps, errors["position_m"], label=label)
    axes[1].set(xlabel="predicted step", ylabel="metres", title="position error against horizon")
    axes[0].legend()
    return fig


def _prediction_gif(run: Run, real: torch.Tensor, pred: torch.Tensor) -> None:
    from ebmlab.world.traffic.render import stack_images, view_rgb, write_gif

    if run.is_main:
        write_gif(
            run.dir / "predicted_vs_real.gif",
            [stack_images([view_rgb(r), view_rgb(p)], 0) for r, p in zip(real, pred)],
            fps=5,
        )
