"""``ebmlab world traffic policy``: train a driving policy on recorded traffic only (imitation, MPER, MPUR or DAgger),
then evaluate it by PPUU's protocol on the test cars (:mod:`ebmlab.world.driving.evaluate`).

MPER and MPUR train through a forward model from a ``world traffic model`` run
(frozen); no step of the simulator is taken while training — the point of PPUU.
Through a model with a kinematic ego, they train on a bank of the model's
futures drawn once (:mod:`~ebmlab.world.driving.kinematic_ego`). DAgger needs no
model: a planner labels the states π reaches in a world imagined from the
recording (:mod:`~ebmlab.world.driving.dagger`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ebmlab.runtime import Run, TrainConfig, check
from ebmlab.runtime.run import load_exported_weights, read_run_config
from ebmlab.world.driving.dagger import DAGGER_WORLDS, EXPERTS
from ebmlab.world.driving.data import TrafficWindows
from ebmlab.world.driving.policy import KINDS, DrivingPolicy, imitation_loss, mper_loss, mpur_loss
from ebmlab.world.driving.record import find_recording
from ebmlab.world.driving.steps import adam_steps
from ebmlab.world.traffic.image_costs import MASK_SPEEDS

__all__ = ["PolicyConfig", "train_policy", "load_policy"]


@dataclass(frozen=True)
class PolicyConfig(TrainConfig):
    """A driving policy learnt from recordings: 1-step imitation, MPER or MPUR (PPUU's defaults)."""

    recording: str = field(
        default="", metadata={"help": "Recording: a traffic.safetensors file or a `world traffic record` run folder."}
    )
    kind: str = field(
        default="mpur",
        metadata={
            "help": "imitation (1 step), mper (through the model, stay near the recorded future), mpur (through the model, costs + uncertainty) or dagger (regression on a planner's labels of the states π reaches in an imagined world; no model).",
            "choices": (*KINDS, "dagger"),
        },
    )
    model: str = field(
        default="", metadata={"help": "mper/mpur: the `world traffic model` run folder to train through."}
    )
    horizon: int = field(
        default=30, metadata={"help": "Steps unrolled through the model (PPUU: 30 for MPUR, 20 for MPER)."}
    )
    gamma: float = field(default=0.99, metadata={"help": "mpur: discount of the per-step cost."})
    uncertainty_weight: float = field(
        default=0.05, metadata={"help": "mpur: λ_u, weight of the hinged uncertainty (0: none)."}
    )
    uncertainty_threshold: float = field(
        default=0.5, metadata={"help": "mpur: τ, where the normalised uncertainty starts to cost."}
    )
    dropout_samples: int = field(
        default=10, metadata={"help": "mpur: dropout masks whose spread is the uncertainty (PPUU: 10)."}
    )
    mask_speed: str = field(
        default="max",
        metadata={
            "help": "mpur: the speed sizing the proximity mask, the larger of the ego's at each step and at the rollout's start (max, measured best: docs/RESULTS.md), the ego's own (own, PPUU's), or the start's (start).",
            "choices": MASK_SPEEDS,
        },
    )
    bank_windows: int = field(
        default=1024,
        metadata={"help": "mper/mpur through a kinematic-ego model: training windows whose futures are drawn once."},
    )
    init: str = field(
        default="", metadata={"help": "Start π from the weights of this `world traffic policy` run folder."}
    )
    on_policy_states: str = field(
        default="",
        metadata={
            "help": "mpur: draw MPUR's pasts from the states a `--kind dagger` run's π reached (that run folder's labels/), instead of the recorded drivers'."
        },
    )
    regression_weight: float = field(
        default=0.0,
        metadata={
            "help": "mpur with --on-policy-states: weight of the regression onto the planner's labels of those states, kept beside MPUR's cost."
        },
    )
    dagger_rounds: int = field(default=7, metadata={"help": "dagger: rounds (the expert acts with β = 0.5^round)."})
    dagger_cars: int = field(default=256, metadata={"help": "dagger: training cars driven per round."})
    dagger_world: str = field(
        default="fitted-idm",
        metadata={
            "help": "dagger: where the episodes are driven: a world of IDM fitted to the recording (fitted-idm) or of constant velocities (both within PPUU's rules), or the replay simulator (outside them).",
            "choices": DAGGER_WORLDS,
        },
    )
    dagger_expert: str = field(
        default="future",
        metadata={
            "help": "dagger: the planner that labels, through the episodes' own future (future: privileged) or through the constant-velocity world.",
            "choices": EXPERTS,
        },
    )
    episode_steps: int = field(default=150, metadata={"help": "dagger: steps of each episode in an imagined world."})
    average_steps: int = field(
        default=750, metadata={"help": "dagger: π's weights averaged over each round's last so many steps (0: none)."}
    )
    average_last: int = field(
        default=0,
        metadata={"help": "imitation, mper, mpur: π's weights averaged over the last so many steps (0: none)."},
    )
    lr_decay: float = field(default=1.0, metadata={"help": "dagger: the learning rate is lr × lr_decay^round."})
    eval_rounds: bool = field(default=False, metadata={"help": "dagger: evaluate every round's π on the test cars."})
    steps: int = field(default=1000, metadata={"help": "Adam steps (dagger: per round)."})
    batch_size: int = field(default=16, metadata={"help": "Recorded pasts per step."})
    lr: float = field(default=1e-4, metadata={"help": "Adam learning rate."})
    eval_cars: int = field(default=0, metadata={"help": "Test cars evaluated at the end (0: all of the test split)."})
    eval_mode: str = field(
        default="replay", metadata={"help": "replay (PPUU's protocol) or reactive.", "choices": ("replay", "reactive")}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(bool(self.recording), "--recording is required (a file or a `world traffic record` run folder)")
        check(
            self.kind in ("imitation", "dagger") or bool(self.model),
            f"--kind {self.kind} trains through a model: give --model RUN",
        )
        check(self.kind != "dagger" or not self.model, "--kind dagger learns from a planner's labels: drop --model")
        check(self.dagger_rounds >= 1 and self.dagger_cars >= 1, "--dagger-rounds and --dagger-cars must be >= 1")
        check(self.episode_steps >= 1, "--episode-steps must be >= 1")
        check(
            self.average_steps >= 0 and (self.kind != "dagger" or self.average_steps <= self.steps),
            "--average-steps must be in [0, --steps]",
        )
        check(0 < self.lr_decay <= 1, "--lr-decay must be in (0, 1]")
        check(0 <= self.average_last <= self.steps, "--average-last must be in [0, --steps]")
        check(
            self.horizon >= 1 and self.steps >= 1 and self.batch_size >= 1,
            "--horizon, --steps, --batch-size must be >= 1",
        )
        check(0 < self.gamma <= 1, "--gamma must be in (0, 1]")
        check(self.dropout_samples >= 2, "--dropout-samples must be >= 2")
        check(self.eval_cars >= 0, "--eval-cars must be >= 0")
        check(self.bank_windows >= 1, "--bank-windows must be >= 1")
        check(
            not self.on_policy_states or self.kind == "mpur",
            "--on-policy-states is for --kind mpur (MPUR on the states a DAgger π reached)",
        )
        check(self.regression_weight >= 0, "--regression-weight must be >= 0")
        check(
            self.regression_weight == 0 or bool(self.on_policy_states),
            "--regression-weight needs --on-policy-states (the labels it regresses onto)",
        )


def load_policy(run_dir: str | Path) -> tuple[DrivingPolicy, PolicyConfig]:
    """The trained policy of a `world traffic policy` run folder (eval mode) and its config."""
    cfg = read_run_config(run_dir, PolicyConfig)
    policy = DrivingPolicy()
    load_exported_weights(run_dir, "policy", policy)
    return policy.eval(), cfg


def train_policy(cfg: PolicyConfig, run: Run) -> dict:
    from ebmlab.world.driving.evaluate import PolicyDriver, evaluate
    from ebmlab.world.driving.train_model import load_model

    rec = find_recording(cfg.recording)
    if cfg.kind == "dagger":
        from ebmlab.world.driving.dagger import train_dagger

        return train_dagger(cfg, run, rec)
    train_cars = rec.split("train")
    model = None
    if cfg.kind != "imitation":
        model, _ = load_model(cfg.model)
        for p in model.parameters():
            p.requires_grad_(False)
    policy = DrivingPolicy()
    if model is not None:
        policy.norm.load_state_dict(model.norm.state_dict())
    else:
        policy.norm.fit(rec, train_cars)
    if cfg.init:
        load_exported_weights(cfg.init, "policy", policy)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    if model is not None and model.kinematic:
        check(not cfg.on_policy_states, "--on-policy-states needs a model with a learned ego (--ego learned)")
        loss = _kinematic_loss(cfg, run, rec, model, policy, g)
    elif cfg.on_policy_states:
        loss = _on_policy_loss(cfg, model, policy, g)
    else:
        future = cfg.horizon if cfg.kind == "mper" else 1
        windows = TrafficWindows(rec, train_cars, future)

        def loss():
            window = windows.sample(cfg.batch_size, g)
            if cfg.kind == "imitation":
                return imitation_loss(policy, window)
            if cfg.kind == "mper":
                return mper_loss(policy, model, window, cfg.horizon, g)
            return _mpur(cfg, policy, model, window, g)

    adam_steps(run, "policy", policy, opt, cfg.steps, g, loss, f"policy {cfg.kind}", cfg.average_last)
    policy.eval()
    run.export_weights("policy", policy.state_dict())
    return evaluate(rec, PolicyDriver(policy), run, cfg.eval_mode, cfg.eval_cars, gif_name=f"episode_{cfg.kind}")


def _kinematic_loss(cfg: PolicyConfig, run: Run, rec, model, policy, g: torch.Generator):
    """MPER's or MPUR's loss through a kinematic-ego model, on a bank of its futures drawn once (the same bank
    for a resumed run: it is drawn from its own generator)."""
    from ebmlab.world.driving.kinematic_ego import build_bank, kinematic_mper_loss, kinematic_mpur_loss

    windows = TrafficWindows(rec, rec.split("train"), cfg.horizon, frame="track")
    bank = build_bank(
        model,
        windows,
        cfg.bank_windows,
        cfg.dropout_samples,
        torch.Generator().manual_seed(cfg.seed + 1),
        progress=lambda chunks: run.progress(chunks, total=len(chunks), desc="futures drawn"),
    )

    def loss():
        batch = bank.batch(cfg.batch_size, g)
        if cfg.kind == "mper":
            return kinematic_mper_loss(policy, batch, cfg.horizon, rec.road)
        return kinematic_mpur_loss(
            policy,
            bank,
            batch,
            cfg.horizon,
            rec.road,
            cfg.gamma,
            cfg.uncertainty_weight,
            cfg.uncertainty_threshold,
            cfg.mask_speed,
        )

    return loss


def _mpur(cfg: PolicyConfig, policy, model, window: dict, g: torch.Generator):
    """MPUR's loss (:func:`~ebmlab.world.driving.policy.mpur_loss`) on ``window`` with the run's settings."""
    return mpur_loss(
        policy,
        model,
        window,
        cfg.horizon,
        cfg.gamma,
        cfg.uncertainty_weight,
        cfg.uncertainty_threshold,
        cfg.dropout_samples,
        g,
        cfg.mask_speed,
    )


def _on_policy_loss(cfg: PolicyConfig, model, policy, g: torch.Generator):
    """MPUR's loss on pasts a DAgger π drove into (its run's labelled states), plus ``regression_weight`` × the
    squared error to the planner's labels of the same states."""
    from ebmlab.world.driving.dagger import labelled_windows, load_labels, regression_loss

    sets = load_labels(cfg.on_policy_states)

    def loss():
        window = labelled_windows(sets, cfg.batch_size, g)
        total, terms = _mpur(cfg, policy, model, window, g)
        if cfg.regression_weight > 0:
            regression = regression_loss(policy, window)
            total = total + cfg.regression_weight * regression
            terms["regression_mse"] = regression.detach()
        return total, terms

    return loss
