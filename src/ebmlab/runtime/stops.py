"""How a run stops early without losing anything: divergence and SIGTERM/SIGINT.

Divergence. Every loop adds its losses to a :class:`~ebmlab.runtime.RunningMean`
at every step, so one non-finite step makes the mean non-finite: :meth:`~ebmlab.runtime.averaging.RunningMean.pop`
raises :class:`~ebmlab.errors.Diverged` at the next log line (every ``--log-every``
steps), at no cost per step. Before any checkpoint or exported weights are written,
:func:`require_finite` checks every tensor, so a checkpoint is never overwritten by
non-finite weights.

Signals. :class:`StopSignals` (installed by every ``ebmlab`` training command for
the duration of the run) turns the first SIGTERM or SIGINT that arrives while the
run is in its step loop into a request: the loop finishes its current step, its
next :meth:`~ebmlab.runtime.Run.should_checkpoint` answers yes, the checkpoint is
written atomically, and :class:`~ebmlab.errors.Interrupted` ends the run (exit
143 or 130). Outside the loop, or at a second signal, the run stops at once —
except while a checkpoint is being written, which always completes. Under
torchrun the request is agreed on by all processes at the same step (one
all-reduce per step, only when several processes run).
"""

from __future__ import annotations

import signal
import threading
from typing import Iterable

import torch

from ebmlab.errors import Diverged, Interrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def require_finite(tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
    """Raise :class:`Diverged` naming the first floating-point tensor that holds a NaN or an infinity."""
    for name, t in tensors:
        if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            raise Diverged(f"{name} holds non-finite values")


def state_tensors(prefix: str, state) -> Iterable[tuple[str, torch.Tensor]]:
    """(name, tensor) for every tensor nested in a state dict (a module's or an optimiser's)."""
    if isinstance(state, torch.Tensor):
        yield prefix, state
    elif isinstance(state, dict):
        for key, value in state.items():
            yield from state_tensors(f"{prefix}.{key}" if prefix else str(key), value)
    elif isinstance(state, (list, tuple)):
        for i, value in enumerate(state):
            yield from state_tensors(f"{prefix}.{i}" if prefix else str(i), value)


class StopSignals:
    """SIGTERM/SIGINT handlers for one run (see the module's docstring); a context manager that restores the
    previous handlers on exit. Only the main thread can install them; elsewhere it does nothing."""

    def __init__(self) -> None:
        self.requested: int | None = None  # the signal received, once
        self.looping = False  # in the step loop: a signal is honoured at the next checkpoint
        self.writing = False  # a checkpoint is being written: nothing interrupts it
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame) -> None:
        first = self.requested is None
        if first:
            self.requested = signum
        if self.writing or (first and self.looping):
            return  # honoured after the write / at the end of the step
        raise Interrupted(signum)
