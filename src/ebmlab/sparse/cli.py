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


from ebmlab.sparse.train_topo import GroupConfig, TopoConfig, train_topo  # noqa: E402


@train_command(sparse, "group", GroupConfig, family="sparse")
def group_cmd(cfg: GroupConfig, run) -> dict:
    """Train an auto-encoder with group sparsity on natural image patches.

    Kavukcuoglu, Ranzato, Fergus & LeCun, CVPR 2009. Encoder z = s ⊙ h(Wx − b),
    decoder x̂ = Dz (unit-norm columns), energy ½‖x − x̂‖² + λ Σ_j √(ε + ‖z_{P_j}‖²)
    over non-overlapping pools of --pool consecutive units (--layout torus: the
    overlapping neighbourhoods of `ebmlab sparse topo`). For the decoder-only
    model with codes inferred by the group proximal operator, see
    `ebmlab sparse dict --pool-size`.

    \b
    Writes metrics.json (reconstruction, gabor_fit_fraction, invariance_ratio of
    pooled outputs against single units under small shifts and rotations, ...),
    filters.png, the weights and report.html.

    \b
    Examples:
      ebmlab sparse group                                # 256 units, pools of 4
      ebmlab sparse group --pool 8 --encoder relu --lam 0.2
    """
    return train_topo(cfg, run)


@train_command(sparse, "topo", TopoConfig, family="sparse")
def topo_cmd(cfg: TopoConfig, run) -> dict:
    """Learn a topographic map of filters on natural image patches.

    Kavukcuoglu, Ranzato, Fergus & LeCun, CVPR 2009. An auto-encoder
    z = s ⊙ h(Wx − b), x̂ = Dz (unit-norm columns) on PCA-whitened patches, with
    the group norm λ Σ_j √(ε + ‖z_{P_j}‖²) over overlapping --pool × --pool
    neighbourhoods of a --map-side × --map-side torus: neighbouring units learn
    filters of similar orientation and position, with pinwheels between.

    \b
    Writes metrics.json (neighbour_orientation_ratio: mean orientation
    difference of neighbours over that of shuffled units; gabor_fit_fraction:
    share of filters whose Gabor fit explains >= 80 % of their variance;
    n_pinwheels, reconstruction, ...), the figures filters.png and
    orientation_map.png, the weights and report.html.

    \b
    Examples:
      ebmlab sparse topo                                 # 16×16 map, 3×3 pools
      ebmlab sparse topo --steps 1500 --out runs/topo-short
      ebmlab sparse topo --map-side 20 --pool 5 --lam 0.5
    """
    return train_topo(cfg, run)


from ebmlab.sparse.train_lateral import LateralConfig, train_lateral  # noqa: E402


@train_command(sparse, "lateral", LateralConfig, family="sparse")
def lateral_cmd(cfg: LateralConfig, run) -> dict:
    """Sparse coding with lateral inhibition between units.

    Gregor, Szlam & LeCun, NIPS 2011. Energy ½‖x − Dz‖² + λ‖z‖₁ + |z|ᵀS|z|,
    codes by proximal gradient, D by projected gradient steps. --inhibition
    tree: S is zero along the paths of a --tree B,D and --strength elsewhere, so
    the active units of a code lie on one path and the dictionary grows into a
    tree; --inhibition learned: S by gradient ascent within [0, --s-max].

    \b
    Writes metrics.json (path_coactivity: share of co-active unit pairs on one
    tree path, beside the same without inhibition and by chance; s_min, s_max;
    energy, ...), tree.png (atoms level by level), inhibition.png, report.html.

    \b
    Examples:
      ebmlab sparse lateral                              # 40 units on a ternary tree
      ebmlab sparse lateral --inhibition learned --s-max 1
    """
    return train_lateral(cfg, run)


from ebmlab.sparse.train_conv import ConvConfig, train_conv  # noqa: E402


@train_command(sparse, "conv", ConvConfig, family="sparse")
def conv_cmd(cfg: ConvConfig, run) -> dict:
    """Pre-train convolutional group-sparse layers, one on top of the other, and probe their features.

    Kavukcuoglu et al., CVPR 2009; Jarrett et al., ICCV 2009. Each layer is an
    auto-encoder z = s · relu(W ∗ x − b), x̂ = D ∗ z (unit-norm filters D_k) with
    energy ½‖x − x̂‖² + λ Σ_P √(ε + ‖z_P‖²) over --pool × --pool windows of every
    code map (L2 pooling). Layer 2 learns on layer 1's pooled maps, and so on.
    The decoders are then discarded and a linear classifier is trained on the
    top layer's pooled maps, beside raw pixels, one layer, and random filters
    of the same shape.

    \b
    Writes metrics.json (probe_accuracy and probe_accuracy_{layer1,pixels,random,
    random_layer1}; invariance_ratio of pooled maps against single units under
    1–2 px shifts and 5–15° rotations; reconstruction per layer, ...), the
    figures filters.png and probe.png, the weights (conv.safetensors), report.html.

    \b
    Examples:
      ebmlab sparse conv                                 # Fashion-MNIST, 32 7×7 then 64 5×5 filters
      ebmlab sparse conv --data mnist5k --epochs 2 --out runs/conv-mnist
      ebmlab sparse conv --channels 32 --kernels 9       # one layer
      ebmlab sparse conv --resume runs/conv-mnist        # continue an interrupted run
    """
    return train_conv(cfg, run)


from ebmlab.sparse.train_local import LocalConfig, train_local  # noqa: E402


@train_command(sparse, "local", LocalConfig, family="sparse")
def local_cmd(cfg: LocalConfig, run) -> dict:
    """Learn a topographic map over whole images with local filters and no weight sharing.

    Kavukcuoglu, Ranzato, Fergus & LeCun, CVPR 2009 (image-level training). The
    units form a --map-side × --map-side map laid over --image-size crops of
    natural photographs (ZCA-whitened); each unit has its own encoder and
    decoder filter on a --window × --window window, neighbours on the map having
    neighbouring windows. The energy ½‖x − x̂‖² + λ Σ_j √(ε + ‖z_{P_j}‖²) over
    overlapping --pool × --pool neighbourhoods organises the filters' orientation
    into a map with pinwheels.

    \b
    Writes metrics.json (neighbour_orientation_ratio, n_pinwheels,
    gabor_fit_fraction, relative_reconstruction_error, ...), filters.png (the
    filters in map order), orientation_map.png, the weights and report.html.

    \b
    Examples:
      ebmlab sparse local                                # 32×32 crops, 24×24 map, 10×10 windows
      ebmlab sparse local --map-side 32 --steps 8000 --out runs/local-32
    """
    return train_local(cfg, run)
