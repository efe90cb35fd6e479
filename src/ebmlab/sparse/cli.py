"""``ebmlab sparse``: sparse coding with learned encoders."""

from __future__ import annotations

import click


@click.group("sparse")
def sparse() -> None:
    """Sparse coding: energy ½‖x − Dz‖² + λ‖z‖₁, its solvers and learned encoders.

    \b
    dict    learn a dictionary D by alternating inference and projected gradient steps
    lista   train LISTA, an unrolled encoder that predicts the optimal codes
    drsae   train a discriminative recurrent sparse auto-encoder (DrSAE)
    """
