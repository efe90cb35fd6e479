"""The run folder: everything one training run writes, and how it resumes.

``runs/<family>-<name>-<time>/`` (or ``--out DIR``) holds

- ``run.json``      family, name, versions, the command line;
- ``config.json``   the resolved configuration (flat);
- ``metrics.jsonl`` one JSON object per logged step; ``metrics.json`` the final, flat metrics;
- ``checkpoints/last.pt`` model, optimizer, step and RNG state, written atomically;
- ``tb/``           TensorBoard events; figures as PNG; weights as safetensors;
- ``report.html``   config, metrics and figures in one self-contained page, built from the folder by
  :func:`ebmlab.viz.report.write_report` after :meth:`Run.finish` (the runtime itself draws nothing).

A run that stops early says so in run.json (``status``: diverged, interrupted,
write-failed; ``finished`` at the end): see :mod:`ebmlab.runtime.stops`.

``Run.resume(DIR)`` continues a run from its last checkpoint; on CPU an
interrupted-then-resumed run ends with exactly the weights of an
uninterrupted one, provided the loop draws its data order from
``ebmlab.data.epoch_batches`` and its randomness from the global generators.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import torch

from ebmlab import __version__
from ebmlab.errors import Diverged, Interrupted, RunFolderError, RunStopped, WriteFailed
from ebmlab.runtime.atomic import atomic_torch_save, atomic_write, atomic_write_json, atomic_write_text, write_failed
from ebmlab.runtime.config import config_from_dict, config_to_dict
from ebmlab.runtime.device import resolve_device
from ebmlab.runtime.distributed import DistInfo, barrier, init_distributed, local_device
from ebmlab.runtime.seeding import rng_state, seed_everything, set_rng_state
from ebmlab.runtime.stops import StopSignals, require_finite, state_tensors

CHECKPOINT = Path("checkpoints") / "last.pt"


class Run:
    """One training run: its folder, config, device, metrics, checkpoints and figures.

    Build it with :meth:`create` (a new folder) or :meth:`resume` (an existing one).
    Only the main process (rank 0) writes; the others read checkpoints.
    """

    def __init__(self, directory: Path, family: str, name: str, config: Any, fresh: bool) -> None:
        self.dir = Path(directory)
        self.family = family
        self.name = name
        self.config = config
        self.fresh = fresh
        device = resolve_device(getattr(config, "device", "auto"))
        self.dist: DistInfo = init_distributed(device)
        self.device = local_device(device, self.dist)
        self.restored_extra: dict[str, Any] = {}
        self._writer = None
        self._bar = None
        self._start = time.time()
        self._last_checkpoint_step = -1
        self._stopping: int | None = None  # the stop signal every process agreed on
        self.step = 0  # the last step the loop reported (should_log / should_checkpoint)
        self.signals = StopSignals()  # `with run.signals:` stops on SIGTERM/SIGINT at a checkpoint
        seed_everything(getattr(config, "seed", 0))

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, family: str, name: str, config: Any, out: str | Path | None = None) -> "Run":
        """A new run folder (``out``, or ``runs/<family>-<name>-<time>``); refuses a non-empty one."""
        if out is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = Path("runs") / f"{family}-{name}-{stamp}"
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise RunFolderError(f"--out {out} is a file; give a folder path")
        if out.is_dir() and any(out.iterdir()):
            hint = f"pass --resume {out} to continue it" if (out / "config.json").exists() else "choose an empty folder"
            raise RunFolderError(f"--out {out} is not empty; {hint} or another --out")
        run = cls(out, family, name, config, fresh=True)
        if run.is_main:
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RunFolderError(f"cannot create run folder {out}: {exc.strerror}") from None
            atomic_write_json(out / "config.json", config_to_dict(config))
            atomic_write_json(
                out / "run.json",
                {
                    "family": family,
                    "name": name,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "command": sys.argv,
                    "ebmlab": __version__,
                    "torch": torch.__version__,
                    "world_size": run.dist.world_size,
                    "device": str(run.device),
                },
            )
        barrier(run.dist)
        return run

    @classmethod
    def resume(cls, directory: str | Path, config_cls: type, family: str, name: str) -> "Run":
        """Continue the run in ``directory`` with its saved configuration."""
        directory = Path(directory)
        info = read_run_info(directory)
        if (info["family"], info["name"]) != (family, name):
            raise RunFolderError(
                f"{directory} holds a '{info['family']} {info['name']}' run, not '{family} {name}'; "
                f"resume it with `ebmlab {info['family']} {info['name']} --resume {directory}`"
            )
        config = read_run_config(directory, config_cls)
        run = cls(directory, family, name, config, fresh=False)
        if run.is_main:  # temporary files of a write that a kill interrupted
            for stale in directory.rglob(".*.tmp"):
                stale.unlink(missing_ok=True)
        return run

    # ------------------------------------------------------------------ state
    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / CHECKPOINT

    def should_checkpoint(self, step: int, total: int | None = None) -> bool:
        """True every ``config.checkpoint_every`` steps, at the last step when ``total`` is given, and at the end of
        the step during which SIGTERM or SIGINT arrived (:mod:`ebmlab.runtime.stops`)."""
        self.step = step
        every = getattr(self.config, "checkpoint_every", 500)
        last = total is not None and step >= total
        stop = self._stop_requested()
        if last:
            self.signals.looping = False
        return step % every == 0 or last or stop

    def _stop_requested(self) -> bool:
        """Whether a stop signal arrived, agreed by every process under torchrun (the largest signal number)."""
        signum = self.signals.requested or 0
        if self.dist.enabled:
            import torch.distributed as dist

            flag = torch.tensor([signum], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            signum = int(flag.item())
        self._stopping = signum or None
        return bool(signum)

    def should_log(self, step: int, total: int | None = None) -> bool:
        self.step = step
        every = getattr(self.config, "log_every", 10)
        return step % every == 0 or step == 1 or (total is not None and step == total)

    def save_checkpoint(self, step: int, extra: dict[str, Any] | None = None, **stateful: Any) -> None:
        """Write model/optimizer state dicts, ``step``, RNG state and ``extra`` atomically; refuse non-finite weights
        (:class:`~ebmlab.errors.Diverged`: the previous checkpoint stays), and end the run
        (:class:`~ebmlab.errors.Interrupted`) once written if a stop signal arrived."""
        self.step = step
        states = {k: v.state_dict() for k, v in stateful.items()}
        require_finite(state_tensors("", states))
        if self.is_main:
            state = {"step": step, "states": states, "rng": rng_state(), "extra": extra or {}}
            self.signals.writing = True
            try:
                atomic_torch_save(self.checkpoint_path, state)
            finally:
                self.signals.writing = False
        self._last_checkpoint_step = step
        # one process alone stops on its own signal; under torchrun only on the signal all agreed on (at
        # should_checkpoint), so that every process stops at the same step
        stop = self._stopping or (None if self.dist.enabled else self.signals.requested)
        if stop:
            barrier(self.dist)  # the other processes wait for rank 0's write
            raise Interrupted(stop)

    def restore(self, **stateful: Any) -> int:
        """Load the last checkpoint into ``stateful`` objects; return the steps already done (0 if none)."""
        path = self.checkpoint_path
        self.signals.looping = True  # every checkpointing loop restores first: its steps begin
        if self.fresh or not path.exists():
            return 0
        try:
            state = torch.load(path, map_location=self.device, weights_only=False)
        except Exception as exc:  # a truncated or foreign file
            raise RunFolderError(
                f"checkpoint {path} cannot be read ({exc.__class__.__name__}); it is damaged"
            ) from None
        missing = sorted(set(stateful) - set(state["states"]))
        if missing:
            raise RunFolderError(f"checkpoint {path} has no state for {', '.join(missing)}")
        for key, obj in stateful.items():
            try:
                obj.load_state_dict(state["states"][key])
            except (RuntimeError, ValueError, KeyError) as exc:  # another model's or version's state
                reason = " ".join(str(exc).split())
                reason = reason if len(reason) <= 200 else reason[:200].rsplit(" ", 1)[0] + " …"
                raise RunFolderError(
                    f"checkpoint {path} does not fit this run's {key} ({reason}); it was written by "
                    "another version or configuration: start a new run instead"
                ) from None
        set_rng_state(state["rng"])
        self.restored_extra = state.get("extra", {})
        step = int(state["step"])
        self._last_checkpoint_step = step
        if self.is_main:
            self._truncate_metrics(step)
        return step

    def _truncate_metrics(self, step: int) -> None:
        path = self.dir / "metrics.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):  # a line cut short by a failed write
                continue
        atomic_write_text(path, "".join(line + "\n" for line in kept))

    # ------------------------------------------------------------------ logging
    def progress(self, iterable: Iterable, total: int | None = None, desc: str | None = None, initial: int = 0):
        """A tqdm progress bar (rate and ETA) on stderr; :meth:`log` shows the latest metrics on it."""
        from tqdm.auto import tqdm

        self._bar = tqdm(
            iterable,
            total=total,
            initial=initial,
            desc=desc or self.name,
            disable=not self.is_main or None,
            dynamic_ncols=True,
            file=sys.stderr,
        )
        return self._bar

    def log(self, step: int, **scalars: float) -> None:
        """Append ``{"step": step, **scalars}`` to metrics.jsonl and TensorBoard."""
        if not self.is_main:
            return
        values = {k: _to_number(v) for k, v in scalars.items()}
        record = {"step": step, **values, "time_s": round(time.time() - self._start, 3)}
        path = self.dir / "metrics.jsonl"
        try:
            with open(path, "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as exc:
            raise write_failed(path, exc) from None
        writer = self._tensorboard()
        for key, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                writer.add_scalar(key, value, step)
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in values.items() if isinstance(v, float)}, refresh=False)

    def _tensorboard(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if self.fresh else max(self._last_checkpoint_step + 1, 0)
            self._writer = SummaryWriter(log_dir=str(self.dir / "tb"), purge_step=purge)
        return self._writer

    def save_figure(self, name: str, fig: Any) -> Path:
        """Save a matplotlib figure as ``<name>.png`` in the run folder and close it."""
        import matplotlib.pyplot as plt

        path = self.dir / f"{name}.png"
        if self.is_main:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
            atomic_write(path, lambda f: f.write(buffer.getvalue()))
        plt.close(fig)
        return path

    def export_weights(self, name: str, tensors: dict[str, torch.Tensor]) -> Path:
        """Export tensors for sharing as ``<name>.safetensors`` (never non-finite ones: :class:`~ebmlab.errors.Diverged`). The step
        loop is over: from here a stop signal ends the run at once."""
        from safetensors.torch import save

        require_finite((f"{name}.{k}", v) for k, v in tensors.items())
        self.signals.looping = False
        if self.signals.requested is not None:
            raise Interrupted(self.signals.requested)
        path = self.dir / f"{name}.safetensors"
        if self.is_main:
            data = save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()})
            atomic_write(path, lambda f: f.write(data))
        return path

    def finish(self, metrics: dict[str, Any]) -> Path:
        """Write metrics.json (flat) and mark the run finished; return metrics.json's path. The report is built
        from the folder afterwards (:func:`ebmlab.viz.report.write_report`; the commands do it)."""
        path = self.dir / "metrics.json"
        if self.is_main:
            flat = {k: _to_number(v) for k, v in metrics.items()}
            atomic_write_json(path, flat)
            self._set_status("finished", self.step)
            self.close()
        barrier(self.dist)
        return path

    def stopped(self, exc: RunStopped) -> str:
        """Record in run.json why the run stopped early and return the one line that tells the user what was kept and
        what to do next."""
        step, kept = self.step, self._last_checkpoint_step
        checkpoint = self.checkpoint_path.exists()
        resume = f"ebmlab {self.family} {self.name} --resume {self.dir}"
        if isinstance(exc, Diverged):
            status = "diverged"
            saved = (
                f"the last good checkpoint ({self.checkpoint_path}, step {kept}) is kept"
                if checkpoint
                else "no checkpoint had been written"
            )
            message = f"the run diverged at step {step}: {exc.what}; {saved}; try {_lower_lr_hint(self.config)}"
        elif isinstance(exc, Interrupted):
            status = "interrupted"
            name = signal.Signals(exc.signum).name
            message = (
                f"stopped by {name} at step {kept}, checkpoint written; resume with: {resume}"
                if checkpoint and kept == step
                else f"stopped by {name}; "
                + (
                    f"resume from the last checkpoint with: {resume}"
                    if checkpoint
                    else "no checkpoint had been written"
                )
            )
        else:
            status = "write-failed"
            message = f"{exc}; " + (
                f"the last checkpoint is intact: resume with {resume} once the cause is fixed"
                if checkpoint
                else "no checkpoint had been written"
            )
        self.close()
        if self.is_main and self.dir.is_dir():
            try:
                self._set_status(status, step, reason=message)
            except (WriteFailed, OSError):
                pass  # the disk that failed the run may fail this too; the message still reaches the terminal
        return message

    def _set_status(self, status: str, step: int, **more: Any) -> None:
        info = read_run_info(self.dir)
        info.update(status=status, step=step, **more)
        if status == "finished":
            info.pop("reason", None)
        atomic_write_json(self.dir / "run.json", info)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def discard_if_empty(self) -> None:
        """Remove a fresh run folder that holds no checkpoint yet (after a user error)."""
        self.close()
        if self.is_main and self.fresh and not self.checkpoint_path.exists() and self.dir.is_dir():
            shutil.rmtree(self.dir, ignore_errors=True)


def read_run_config(directory: str | Path, config_cls: type):
    """The configuration a run folder saved (config.json) as a ``config_cls``, with a clear error when unreadable."""
    path = Path(directory) / "config.json"
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"cannot read {path}: {exc}") from None
    return config_from_dict(config_cls, values, source=str(path))


def load_exported_weights(directory: str | Path, name: str, module: torch.nn.Module) -> None:
    """Load ``<directory>/<name>.safetensors`` (written by :meth:`Run.export_weights`) into ``module``, with a
    clear RunFolderError when the run has not finished or the file does not fit."""
    from safetensors.torch import load_file

    path = Path(directory) / f"{name}.safetensors"
    try:
        module.load_state_dict(load_file(path))
    except FileNotFoundError:
        raise RunFolderError(f"{directory} has no {path.name}; the run has not finished") from None
    except Exception as exc:  # noqa: BLE001  (a damaged file, or another model's weights)
        raise RunFolderError(f"{path} cannot be loaded into this {name} ({exc.__class__.__name__})") from None


def read_run_info(directory: str | Path) -> dict[str, Any]:
    """run.json of a run folder, with a clear error when it is not one."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RunFolderError(f"run folder {directory} does not exist")
    try:
        return json.loads((directory / "run.json").read_text())
    except FileNotFoundError:
        raise RunFolderError(f"{directory} is not an ebmlab run folder (no run.json)") from None
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"{directory / 'run.json'} is damaged: {exc}") from None


def _lower_lr_hint(config: Any) -> str:
    import dataclasses

    names = (
        [f.name for f in dataclasses.fields(config) if f.name == "lr" or f.name.endswith("_lr")]
        if dataclasses.is_dataclass(config)
        else []
    )
    if not names:
        return "a lower learning rate"
    given = ", ".join(f"--{n.replace('_', '-')} {getattr(config, n)}" for n in names)
    return f"a lower learning rate (this run: {given})"


def _to_number(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.item()
    if hasattr(value, "item") and not isinstance(value, (int, float, str)):
        value = value.item()  # numpy scalars
    return value
