"""``ebmlab data``: datasets (the data branch replaces this placeholder group)."""

import click


@click.group("data")
def data() -> None:
    """Datasets: what is available here and where it comes from."""
