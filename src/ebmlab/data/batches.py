"""Deterministic mini-batch order, the same for one process and for DDP ranks.

Epoch e of a run with seed s visits the examples in the order of a random
permutation drawn from a torch.Generator seeded with a hash of (s, e), so it
depends on nothing else (no global RNG state): a resumed run sees the same
batches, and every DDP rank computes the same permutation. The permutation is
cut into ⌊n / B⌋ global batches of B = batch_size indices (the remainder is
dropped). With W = world_size ranks, rank r takes the contiguous slice
[r·B/W, (r+1)·B/W) of every global batch, so the union over ranks of one step's
batches is exactly the single-process batch of that step.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ebmlab.errors import ConfigError


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed derived from (seed, epoch) by numpy's SeedSequence hash."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0] >> 1)


class EpochBatches:
    """The index batches of one epoch for one rank: iterable, with a length."""

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1):
        if batch_size <= 0:
            raise ConfigError(f"--batch-size must be positive, got {batch_size}")
        if world_size <= 0 or not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} is not in 0..{world_size - 1} (world size {world_size})")
        if batch_size % world_size:
            raise ConfigError(
                f"--batch-size {batch_size} is not divisible by the number of processes "
                f"{world_size}; choose a multiple of {world_size}"
            )
        if n < batch_size:
            raise ConfigError(
                f"--batch-size {batch_size} is larger than the dataset ({n} examples); use a smaller batch"
            )
        if seed < 0 or epoch < 0:
            raise ConfigError(f"seed and epoch must be >= 0, got seed={seed}, epoch={epoch}")
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, epoch
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return self.n // self.batch_size

    def __iter__(self) -> Iterator[torch.Tensor]:
        gen = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        order = torch.randperm(self.n, generator=gen)
        local = self.batch_size // self.world_size
        start = self.rank * local
        for b in range(len(self)):
            offset = b * self.batch_size + start
            yield order[offset : offset + local].clone()


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1) -> EpochBatches:
    """Index batches (LongTensor of batch_size // world_size) for one epoch; see module doc."""
    return EpochBatches(n, batch_size, seed, epoch, rank, world_size)
