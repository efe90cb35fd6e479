"""The run folder: everything one training run writes, and how it resumes.

``runs/<family>-<name>-<time>/`` (or ``--out DIR``) holds

- ``run.json``      family, name, versions, the command line;
- ``config.json``   the resolved configuration (flat);
- ``metrics.jsonl`` one JSON object per logged step; ``metrics.json`` the final, flat metrics;
- ``checkpoints/last.pt`` model, optimizer, step and RNG state, written atomically;
- ``tb/``           TensorBoard events; figures as PNG; weights as safetensors;
- ``report.html``   config, metrics and figures in one self-contained page.

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
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import torch

from ebmlab import __version__
from ebmlab.errors import RunFolderError
from ebmlab.runtime.atomic import atomic_torch_save, atomic_write, atomic_write_json, atomic_write_text
from ebmlab.runtime.config import config_from_dict, config_to_dict
from ebmlab.runtime.device import resolve_device
from ebmlab.runtime.distributed import DistInfo, barrier, init_distributed, local_device
from ebmlab.runtime.seeding import rng_state, seed_everything, set_rng_state

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
        """True every ``config.checkpoint_every`` steps, and at the last step when ``total`` is given."""
        every = getattr(self.config, "checkpoint_every", 500)
        return step % every == 0 or (total is not None and step == total)

    def should_log(self, step: int, total: int | None = None) -> bool:
        every = getattr(self.config, "log_every", 10)
        return step % every == 0 or step == 1 or (total is not None and step == total)

    def save_checkpoint(self, step: int, extra: dict[str, Any] | None = None, **stateful: Any) -> None:
        """Write model/optimizer state dicts, ``step``, RNG state and ``extra`` atomically."""
        self._last_checkpoint_step = step
        if not self.is_main:
            return
        state = {
            "step": step,
            "states": {k: v.state_dict() for k, v in stateful.items()},
            "rng": rng_state(),
            "extra": extra or {},
        }
        atomic_torch_save(self.checkpoint_path, state)

    def restore(self, **stateful: Any) -> int:
        """Load the last checkpoint into ``stateful`` objects; return the steps already done (0 if none)."""
        path = self.checkpoint_path
        if self.fresh or not path.exists():
            return 0
        try:
            state = torch.load(path, map_location=self.device, weights_only=False)
        except Exception as exc:  # a truncated or foreign file
            raise RunFolderError(f"checkpoint {path} cannot be read ({exc.__class__.__name__}); it is damaged") from None
        missing = sorted(set(stateful) - set(state["states"]))
        if missing:
            raise RunFolderError(f"checkpoint {path} has no state for {', '.join(missing)}")
        for key, obj in stateful.items():
            try:
                obj.load_state_dict(state["states"][key])
            except (RuntimeError, ValueError, KeyError) as exc:  # another model's or version's state
                reason = " ".join(str(exc).split())
                reason = reason if len(reason) <= 200 else reason[:200].rsplit(" ", 1)[0] + " …"
                raise RunFolderError(f"checkpoint {path} does not fit this run's {key} ({reason}); it was written by "
                                     "another version or configuration: start a new run instead") from None
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
        kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
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
        with open(self.dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
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
        """Export tensors for sharing as ``<name>.safetensors``."""
        from safetensors.torch import save

        path = self.dir / f"{name}.safetensors"
        if self.is_main:
            data = save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()})
            atomic_write(path, lambda f: f.write(data))
        return path

    def finish(self, metrics: dict[str, Any]) -> Path:
        """Write metrics.json (flat) and report.html; return the report's path."""
        from ebmlab.viz.report import write_report

        report = self.dir / "report.html"
        if self.is_main:
            flat = {k: _to_number(v) for k, v in metrics.items()}
            atomic_write_json(self.dir / "metrics.json", flat)
            self.close()
            write_report(self.dir)
        barrier(self.dist)
        return report

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


def _to_number(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.item()
    if hasattr(value, "item") and not isinstance(value, (int, float, str)):
        value = value.item()  # numpy scalars
    return value
