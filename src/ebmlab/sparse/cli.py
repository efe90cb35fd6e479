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
    (structured sparsity, from ebmlab.structured:)
    group   train an auto-encoder with group sparsity (non-overlapping pools)
    topo    learn a topographic map of filters (group sparsity over neighbourhoods)
    local   learn a topographic map over whole images with local, unshared filters
    lateral sparse coding with lateral inhibition |z|ᵀS|z| (tree-shaped or learned S)
    conv    pre-train convolutional group-sparse layers (stacked) and probe their features
    """


from ebmlab.commands import train_command  # noqa: E402
from ebmlab.sparse.train_drsae import DrsaeConfig, train_drsae  # noqa: E402


@train_command(sparse, "drsae", DrsaeConfig, family="sparse")
def drsae_cmd(cfg: DrsaeConfig, run) -> dict:
    """Train a discriminative recurrent sparse auto-encoder (DrSAE) on labelled images.

    Rolfe & LeCun, ICLR 2013. A recurrent encoder of rectified linear units,
    z(t+1) = max(0, E x + S z(t) − b) for T steps, feeds a unit-norm
    dictionary D (reconstruction) and a linear classifier C on z/‖z‖. Learning
    minimises ½‖x − D z(T)‖² + λ‖z(T)‖₁ for --unsup-epochs, then adds
    --cls-weight × the logistic loss for --sup-epochs. At the end the units are
    split into part- and categorical-units (recurrent self-connection S_ii).

    \b
    Writes metrics.json (test_accuracy, train_accuracy, loss terms, numbers of
    part/categorical units), figures of decoder columns and unit dynamics,
    the weights (drsae.safetensors) and report.html.

    \b
    Examples:
      ebmlab sparse drsae                               # mnist5k, 400 units, T = 11
      ebmlab sparse drsae --data fashion-mnist --sup-epochs 10 --out runs/drsae-fm
      ebmlab sparse drsae --resume runs/drsae-fm        # continue an interrupted run
    """
    return train_drsae(cfg, run)


from ebmlab.sparse.train_dict import DictConfig, train_dictionary  # noqa: E402


@train_command(sparse, "dict", DictConfig, family="sparse")
def dict_cmd(cfg: DictConfig, run) -> dict:
    """Learn a dictionary D for sparse coding, online over mini-batches.

    Energy ½‖x − Dz‖² + λ‖z‖₁ with unit-norm atoms (Olshausen & Field, 1996).
    Each step infers the codes of a mini-batch with --solver (FISTA by
    default), then takes a projected gradient step on D (step --lr, columns
    renormalised to unit norm).

    \b
    Writes metrics.json (objective, nonzero_fraction, reconstruction_error on
    held-out signals with exact codes), the atoms and energy-curve figures,
    the dictionary (dictionary.safetensors, key "D", n×m) and report.html.

    \b
    Examples:
      ebmlab sparse dict                                  # 8×8 patches, 256 atoms, λ = 0.15
      ebmlab sparse dict --n-atoms 100 --patch-size 10 --steps 500 --out runs/dict10
      ebmlab sparse dict --resume runs/dict10             # continue an interrupted run
    """
    return train_dictionary(cfg, run)


from ebmlab.sparse.train_lista import ListaConfig, train_lista  # noqa: E402


@train_command(sparse, "lista", ListaConfig, family="sparse")
def lista_cmd(cfg: ListaConfig, run) -> dict:
    """Train LISTA, an unrolled encoder that predicts optimal sparse codes (amortised inference).

    Gregor & LeCun, ICML 2010. On photograph patches (--patch-size², mean
    removed, contrast-normalised) a dictionary D of --n-atoms atoms is learned
    for the energy ½‖x − Dz‖² + λ‖z‖₁, FISTA run to convergence gives the
    optimal codes Z*, and for every T in --steps an encoder

    \b
        Z(0) = h_θ(W_e x),   Z(t+1) = h_θ(W_e x + S Z(t)),   t < T,

    initialised as ISTA (W_e = Dᵀ/L, S = I − DᵀD/L, θ = λ/L) learns to
    predict Z* (loss ½‖Z(T) − Z*‖², Adam or SGD). On held-out patches its code
    error Σ‖Z − Z*‖² / Σ‖Z*‖² is compared with ISTA, FISTA and CoD after k
    iterations, as in the paper's Figure 3.

    \b
    Writes metrics.json (code_error_T{T} per T, {ista,fista,cod}_code_error_k{k},
    fista_iters_to_match_T{T}), error_vs_iterations.png, encoder_filters.png,
    dictionary.png, the weights (lista.safetensors) and report.html.

    \b
    Examples:
      ebmlab sparse lista                                  # 10×10 patches, m = 100, T = 1,2,3,5,10
      ebmlab sparse lista --n-atoms 400 --steps 1,3,5 --out runs/lista-400
      ebmlab sparse lista --resume runs/lista-400          # continue an interrupted run
    """
    return train_lista(cfg, run)
