"""Samples from a trained run's generator (``ebmlab gan sample RUN``)."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from ebmlab.errors import RunFolderError
from ebmlab.gan.train import GanConfig, build_networks, data_shape, is_2d
from ebmlab.runtime.atomic import atomic_torch_save, atomic_write
from ebmlab.runtime.run import CHECKPOINT, read_run_config, read_run_info

__all__ = ["load_networks", "sample_run"]


def load_networks(run_dir: Path) -> tuple[torch.nn.Module, torch.nn.Module, GanConfig]:
    """Generator and critic of ``run_dir`` (exported weights, else the last checkpoint), in eval mode, on CPU."""
    info = read_run_info(run_dir)
    if (info["family"], info["name"]) != ("gan", "train"):
        raise RunFolderError(f"{run_dir} holds a '{info['family']} {info['name']}' run, not a GAN run")
    cfg = read_run_config(run_dir, GanConfig)
    G, D = build_networks(cfg, data_shape(cfg))
    weights, checkpoint = run_dir / "generator.safetensors", run_dir / CHECKPOINT
    try:
        if weights.exists():
            from safetensors.torch import load_file

            state, critic = load_file(weights), load_file(run_dir / "critic.safetensors")
        elif checkpoint.exists():
            states = torch.load(checkpoint, map_location="cpu", weights_only=False)["states"]
            state = (
                {k.removeprefix("module."): v for k, v in states["ema"].items() if k.startswith("module.")}
                if "ema" in states
                else states["generator"]
            )
            critic = states["critic"]
        else:
            raise RunFolderError(f"{run_dir} has no generator weights yet (no generator.safetensors, no checkpoint)")
        G.load_state_dict(state)
        D.load_state_dict(critic)
    except RunFolderError:
        raise
    except Exception as exc:  # truncated or foreign files
        raise RunFolderError(
            f"the generator weights in {run_dir} cannot be read ({exc.__class__.__name__}); they are damaged"
        ) from None
    return G.eval(), D.eval(), cfg


@torch.no_grad()
def sample_run(run_dir: Path, n: int, seed: int, out: Path | None = None, refine: str = "none") -> Path:
    """Write n samples of ``run_dir``'s generator (accepted by its critic with ``refine="rejection"``,
    moved by descent on its latent energy with ``refine="descent"``)
    to ``out`` (.png picture or .pt tensor); return its path."""
    G, D, cfg = load_networks(run_dir)
    out = out or run_dir / f"samples_{seed}.png"
    if out.suffix not in (".png", ".pt"):
        raise RunFolderError(f"--out {out} must end in .png or .pt")
    g = torch.Generator().manual_seed(seed)
    if refine == "rejection":
        from ebmlab.gan.refine import rejection_sample

        x, _ = rejection_sample(G, D, cfg.loss, n, cfg.nz, g)
    elif refine == "descent":
        from ebmlab.gan.refine import descend_latent

        x = descend_latent(G, D, cfg.loss, n, cfg.nz, g, cfg.descent_steps, cfg.descent_step)
    else:
        z = torch.randn(n, cfg.nz, generator=g)
        x = torch.cat([G(z[i : i + 500]) for i in range(0, n, 500)])
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".pt":
        atomic_torch_save(out, x)
    elif is_2d(cfg.data):
        import matplotlib.pyplot as plt

        from ebmlab.data.mixtures import mixture
        from ebmlab.viz.samples import scatter_figure

        fig = scatter_figure(x, mixture(cfg.data), f"{run_dir.name}: {n} samples")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        atomic_write(out, lambda f: f.write(buffer.getvalue()))
    else:
        from matplotlib.image import imsave

        from ebmlab.viz.grid import image_grid

        grid = image_grid((x + 1) / 2, nrow=max(1, int(n**0.5)))
        buffer = io.BytesIO()
        imsave(buffer, grid[:, :, 0] if grid.shape[2] == 1 else grid, cmap="gray", vmin=0, vmax=1, format="png")
        atomic_write(out, lambda f: f.write(buffer.getvalue()))
    return out
