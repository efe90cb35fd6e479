"""The Adam loop the traffic model and the policies share: resumable, logged, checkpointed with its sampler."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ebmlab.runtime import Run, RunningMean

__all__ = ["adam_steps", "take_average"]


def adam_steps(
    run: Run,
    name: str,
    module: nn.Module,
    opt: torch.optim.Optimizer,
    steps: int,
    generator: torch.Generator,
    loss: Callable[[], tuple[torch.Tensor, dict]],
    desc: str,
    average: int = 0,
) -> None:
    """Take ``steps`` Adam steps on ``loss()`` (which draws its own batch from ``generator``), gradients clipped
    at norm 10; log means every ``log_every`` steps; checkpoint ``module`` (as ``name``), the optimiser and the
    generator, so that a resumed run draws the batches an uninterrupted one would have. With ``average``,
    ``module`` ends as the mean of its weights over the last so many steps (the running mean is checkpointed too)."""
    stateful = {name: module, "optimizer": opt}
    averaged = torch.optim.swa_utils.AveragedModel(module) if average else None
    if averaged is not None:
        stateful["averaged"] = averaged
    start = run.restore(**stateful)
    if start:
        generator.set_state(run.restored_extra["generator"])
    running = RunningMean()
    for step in run.progress(range(start, steps), total=steps, initial=start, desc=desc):
        value, terms = loss()
        opt.zero_grad(set_to_none=True)
        value.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 10.0)
        opt.step()
        if averaged is not None and step >= steps - average:
            averaged.update_parameters(module)
        running.add(loss=value.detach(), **terms)
        done = step + 1
        if run.should_log(done, steps):
            run.log(done, **running.pop(run.dist))
        if run.should_checkpoint(done, steps):
            run.save_checkpoint(done, extra={"generator": generator.get_state()}, **stateful)
    if averaged is not None:
        take_average(module, averaged)


@torch.no_grad()
def take_average(module: nn.Module, averaged: torch.optim.swa_utils.AveragedModel) -> None:
    """Set ``module``'s parameters to the running mean kept by ``averaged`` (its buffers stay as they are)."""
    for mine, mean in zip(module.parameters(), averaged.module.parameters()):
        mine.copy_(mean)
