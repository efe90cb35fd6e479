"""DAgger for the driving policy: a planner labels the states the policy itself reaches, round after round.

Ross, Gordon & Bagnell (AISTATS 2011): round r drives episodes in which the
expert acts with probability β = 0.5^r and the policy π otherwise, labels every
visited state with the expert's action, and trains π by regression on all the
labels gathered so far. Here the expert is gradient MPC (30 steps, 5 Adam steps
per decision, warm-started; the first plan of a short episode 30): through the
constant-velocity world, or — privileged, as in "learning by cheating" (Chen,
Zhou, Koltun & Krähenbühl, CoRL 2019) — through the episodes' own future
(:class:`~ebmlab.world.driving.mpc.FutureMpc`). π sees only its 20 views and states.

Where the episodes are driven decides whether the scheme keeps PPUU's rules:
in an imagined world (:mod:`~ebmlab.world.driving.imagined`: the other cars
driven on from a recorded frame at their velocity, or by IDM fitted to the
recording) no step of the simulator is taken, so the policy learns from the
recording alone; in ``replay`` the episodes step the replay simulator on
training cars, outside those rules (a measurement of what a policy can learn).
Each round's π is scored on 30-s episodes of validation cars in the imagined
world (a choice of round within the rules). docs/RESULTS.md measures it.

A run checkpoints after every round (π, optimiser, generator; each round's
labels in their own file), so ``--resume`` goes on after the last finished
round; a round cut short is done again from its start, identically.
"""

from __future__ import annotations

import torch

from ebmlab.runtime import Run, RunningMean
from ebmlab.runtime.atomic import atomic_torch_save
from ebmlab.world.driving.data import Normalisation
from ebmlab.world.driving.evaluate import PolicyDriver, drive, evaluate
from ebmlab.world.driving.imagined import fit_idm, imagined_episodes
from ebmlab.world.driving.kinematic_ego import to_uint8
from ebmlab.world.driving.mpc import ConstantVelocityMpc, FutureMpc
from ebmlab.world.driving.policy import DrivingPolicy
from ebmlab.world.driving.steps import take_average
from ebmlab.world.traffic.recording import CONDITIONING as C
from ebmlab.world.traffic.recording import Recording

__all__ = [
    "DaggerDriver",
    "gather",
    "regress",
    "labelled_windows",
    "regression_loss",
    "load_labels",
    "imagined_score",
    "train_dagger",
    "DAGGER_WORLDS",
    "EXPERTS",
]

DAGGER_WORLDS = ("fitted-idm", "constant-velocity", "replay")
EXPERTS = ("future", "constant-velocity")
PLAN_ITERATIONS, FIRST_PLAN_ITERATIONS = 5, 30
VALIDATION_CARS, VALIDATION_STEPS = 128, 300


class DaggerDriver(PolicyDriver):
    """At every step the expert says what it would do (the label), and each car follows the expert with
    probability ``beta``, otherwise π; views (uint8), states and labels along the way are kept for
    regression. The expert's first decision of an episode gets ``first_iterations`` Adam steps (a converged
    first plan for short episodes), the later ones its usual number, warm-started."""

    def __init__(self, policy, expert, beta: float, g: torch.Generator, first_iterations: int | None = None) -> None:
        super().__init__(policy)
        self.expert, self.beta, self.g = expert, beta, g
        self.first_iterations, self.iterations = first_iterations or expert.iterations, expert.iterations

    def start(self, episodes) -> None:
        super().start(episodes)
        self.expert.start(episodes)
        self.expert.iterations = self.first_iterations
        images, states = episodes.history()
        self.frames, self.state_log, self.labels, self.alive = [to_uint8(images)], [states], [], []

    def __call__(self, episodes, images, states):
        a_star, b_star = self.expert(episodes, images, states)
        self.expert.iterations = self.iterations
        a_pi, b_pi = super().__call__(episodes, images, states)
        follows = torch.rand(len(states), generator=self.g) < self.beta
        self.frames.append(to_uint8(images)[:, None])
        self.state_log.append(states[:, None])
        self.labels.append(torch.stack([a_star, b_star], -1))
        self.alive.append(~episodes.done)
        return torch.where(follows, a_star, a_pi), torch.where(follows, b_star, b_pi)

    def data(self) -> dict:
        """The logs and, for every (car, step) still running, indices into them: its last C views and states
        end at ``step + C`` and its label is ``labels[car, step]``."""
        alive = torch.stack(self.alive, 1)
        car, step = alive.nonzero(as_tuple=True)
        return {
            "frames": torch.cat(self.frames, 1),
            "states": torch.cat(self.state_log, 1),
            "labels": torch.stack(self.labels, 1),
            "car": car,
            "step": step,
        }


def gather(
    rec: Recording,
    policy: DrivingPolicy,
    norm: Normalisation,
    cars: torch.Tensor,
    beta: float,
    g: torch.Generator,
    world: str = "fitted-idm",
    episode_steps: int = 150,
    expert: str = "future",
    mask_speed: str = "max",
    horizon: int = 30,
    fit=None,
) -> tuple[dict, dict]:
    """One round's episodes on ``cars`` (training cars): the labelled states (:meth:`DaggerDriver.data`) and the
    episodes' summary (how the mixed driver fared)."""
    planner = (FutureMpc if expert == "future" else ConstantVelocityMpc)(
        norm, horizon, PLAN_ITERATIONS, mask_speed=mask_speed
    )
    imagined = world != "replay"
    driver = DaggerDriver(policy.eval(), planner, beta, g, FIRST_PLAN_ITERATIONS if imagined else None)
    episodes = imagined_episodes(rec, cars, episode_steps, g, world, fit) if imagined else None
    episodes, _ = drive(rec, driver, cars, episodes=episodes)
    return driver.data(), episodes.summary()


def labelled_windows(sets: list[dict], batch: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """``batch`` labelled states of one of ``sets`` (:meth:`DaggerDriver.data`; the set drawn uniformly, then its
    states): the C views (floats in [0, 1]) and states that end at each, and the planner's label (B×2)."""
    d = sets[int(torch.randint(len(sets), (1,), generator=g))]
    i = torch.randint(len(d["car"]), (batch,), generator=g)
    car, t = d["car"][i], d["step"][i]
    window = t[:, None] + torch.arange(1, C + 1)  # the views before the decision, the current one last
    return {
        "images": d["frames"][car[:, None], window].float() / 255,
        "states": d["states"][car[:, None], window],
        "labels": d["labels"][car, t],
    }


def regression_loss(policy: DrivingPolicy, window: dict) -> torch.Tensor:
    """Squared error between π's normalised action on ``window`` (:func:`labelled_windows`) and the label's."""
    images = window["images"]
    codes = policy.encoder(images.flatten(0, 1)).view(*images.shape[:2], -1)
    pred = policy.normalised(codes, window["states"])
    return ((pred - policy.norm.actions(window["labels"])) ** 2).mean()


def load_labels(run_dir) -> list[dict]:
    """The labelled states of every finished round of a ``--kind dagger`` run folder (``labels/roundN.pt``)."""
    from pathlib import Path

    from ebmlab.errors import DataError

    files = sorted((Path(run_dir) / "labels").glob("round*.pt"), key=lambda f: int(f.stem[5:]))
    if not files:
        raise DataError(f"{run_dir} holds no labels/round*.pt: give a `world traffic policy --kind dagger` run folder")
    return [torch.load(f, weights_only=True) for f in files]


def regress(
    policy: DrivingPolicy,
    opt: torch.optim.Optimizer,
    sets: list[dict],
    steps: int,
    batch: int,
    g: torch.Generator,
    average: int = 0,
    progress=None,
) -> float:
    """``steps`` Adam steps of squared error between π's normalised action and the label, on batches of one
    round's labels at a time (the round drawn uniformly), gradients clipped at norm 10; with ``average``, π
    ends as the mean of its weights over the last so many steps. Returns the mean loss of the last 100 steps."""
    policy.train()
    averaged = torch.optim.swa_utils.AveragedModel(policy) if average else None
    late = RunningMean()
    for step in progress(range(steps)) if progress else range(steps):
        loss = regression_loss(policy, labelled_windows(sets, batch, g))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 10.0)
        opt.step()
        if averaged is not None and step >= steps - average:
            averaged.update_parameters(policy)
        if step >= steps - 100:
            late.add(loss=loss.detach())
    if averaged is not None:
        take_average(policy, averaged)
    return late.pop()["loss"]


def imagined_score(rec: Recording, policy: DrivingPolicy, world: str, seed: int, fit=None) -> dict:
    """π on 30-s episodes of the first 128 validation cars in an imagined world: how often it arrives, collides,
    leaves the road (no simulator: a choice of round within PPUU's rules)."""
    val = rec.split("val")[:VALIDATION_CARS]
    episodes = imagined_episodes(rec, val, VALIDATION_STEPS, torch.Generator().manual_seed(seed + 100), world, fit)
    score = drive(rec, PolicyDriver(policy.eval()), val, episodes=episodes)[0].summary()
    return {k: score[k] for k in ("success_rate", "collision_rate", "offroad_rate", "mean_distance")}


def train_dagger(cfg, run: Run, rec: Recording) -> dict:
    """``world traffic policy --kind dagger``: ``cfg.dagger_rounds`` rounds, checkpointed after each; returns
    the last round's π's evaluation on the test cars, with the labels gathered."""
    g = torch.Generator().manual_seed(cfg.seed)
    norm = Normalisation().fit(rec, rec.split("train"))
    policy = DrivingPolicy()
    policy.norm.load_state_dict(norm.state_dict())
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    labels_dir = run.dir / "labels"
    done = run.restore(policy=policy, optimizer=opt)
    run.signals.looping = False  # a stop signal ends the run at once: the last finished round is kept
    if done:
        g.set_state(run.restored_extra["generator"])
    sets = [torch.load(labels_dir / f"round{r}.pt", weights_only=True) for r in range(done)]
    train = rec.split("train")
    world = cfg.dagger_world
    fit = fit_idm(rec) if world == "fitted-idm" else None
    for r in range(done, cfg.dagger_rounds):
        beta = 0.5**r
        chosen = train[torch.randperm(len(train), generator=g)[: cfg.dagger_cars]]
        labelled, gathered = gather(
            rec, policy, norm, chosen, beta, g, world, cfg.episode_steps, cfg.dagger_expert, cfg.mask_speed,
            cfg.horizon, fit,
        )  # fmt: skip
        sets.append(labelled)
        for group in opt.param_groups:  # the learning rate falls from round to round when --lr-decay < 1
            group["lr"] = cfg.lr * cfg.lr_decay**r
        loss = regress(
            policy, opt, sets, cfg.steps, cfg.batch_size, g, cfg.average_steps,
            lambda steps: run.progress(steps, total=cfg.steps, desc=f"DAgger round {r} (β {beta:g})"),
        )  # fmt: skip
        row = {
            "beta": beta,
            "labels": sum(len(d["car"]) for d in sets),
            "regression_loss": loss,
            "gathering_success_rate": gathered["success_rate"],
            "gathering_collision_rate": gathered["collision_rate"],
        }
        if world != "replay":
            row.update({f"imagined_{k}": v for k, v in imagined_score(rec, policy, world, cfg.seed, fit).items()})
        if cfg.eval_rounds:
            result = evaluate(rec, PolicyDriver(policy.eval()), None, cfg.eval_mode, cfg.eval_cars)
            row.update({f"test_{k}": result[k] for k in ("success_rate", "mean_distance", "collision_rate")})
        run.log(r + 1, **row)  # a row past the last checkpoint is dropped when the run resumes
        if run.is_main:
            atomic_torch_save(labels_dir / f"round{r}.pt", labelled)
        run.save_checkpoint(r + 1, extra={"generator": g.get_state()}, policy=policy, optimizer=opt)
        run.export_weights("policy", policy.state_dict())  # the latest round's π, for `world traffic eval`
    policy.eval()
    result = evaluate(rec, PolicyDriver(policy), run, cfg.eval_mode, cfg.eval_cars, gif_name="episode_dagger")
    return {**result, "labels": sum(len(d["car"]) for d in sets), "rounds": cfg.dagger_rounds}
