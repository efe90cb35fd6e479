"""Commands of structured sparsity (:mod:`ebmlab.structured`).

They keep the names the course's week and earlier runs know them by, under ``ebmlab sparse``
(``ebmlab sparse topo``, ``group``, ``lateral``, ``conv``, ``local``): the top-level command adds
:data:`commands` to that group, so that sparse coding itself knows nothing of structured sparsity.
"""

from __future__ import annotations

import click

from ebmlab.commands import train_command
from ebmlab.structured.train_conv import ConvConfig, train_conv
from ebmlab.structured.train_lateral import LateralConfig, train_lateral
from ebmlab.structured.train_local import LocalConfig, train_local
from ebmlab.structured.train_topo import GroupConfig, TopoConfig, train_topo

commands = click.Group("structured", help="Structured sparsity's commands, mounted into `ebmlab sparse`.")


@train_command(commands, "group", GroupConfig, family="sparse")
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


@train_command(commands, "topo", TopoConfig, family="sparse")
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


@train_command(commands, "lateral", LateralConfig, family="sparse")
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


@train_command(commands, "conv", ConvConfig, family="sparse")
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


@train_command(commands, "local", LocalConfig, family="sparse")
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
