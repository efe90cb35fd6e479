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
