"""``ebmlab report RUN``: rebuild a run's report.html."""

from __future__ import annotations

import click


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
def report(run_dirs: tuple[str, ...]) -> None:
    """Rebuild report.html of each RUN folder and print its path.

    The report holds the configuration, the final metrics, the training curves
    from metrics.jsonl and every figure of the run, in one self-contained page.
    """
    from ebmlab.viz.report import write_report

    for run_dir in run_dirs:
        click.echo(write_report(run_dir))


@click.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for compare.md, compare.png and compare.html [default: runs/compare-<time>].",
)
def compare(run_dirs: tuple[str, ...], out: str | None) -> None:
    """Put finished runs side by side: one table of their final metrics and one figure.

    Works across families (e.g. GANs with different losses beside a VAE): every
    metric that a run reports gets a column, the best value of each known metric
    is marked.

    \b
    Example:
      ebmlab compare runs/gan-ls runs/gan-wgan runs/vae --out runs/cmp
    """
    import time
    from pathlib import Path

    from ebmlab.viz.compare import compare_runs

    folder = Path(out) if out else Path("runs") / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
    table, folder = compare_runs(list(run_dirs), folder)
    click.echo(table)
    click.echo(f"\ncomparison: {(folder / 'compare.html').resolve()}")
