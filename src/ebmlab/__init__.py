"""ebmlab: energy-based self-supervised learning in PyTorch.

Every model is an energy F(x, z) over an observation x and a latent z;
inference minimises it over z, learning minimises a loss over parameters.
See README.md and docs/ for the families (sparse coding, structured sparsity,
world models, GANs as energy-based models).
"""

__version__ = "0.1.0"
