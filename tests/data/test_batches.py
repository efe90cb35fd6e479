import pytest
import torch

from ebmlab.data import epoch_batches
from ebmlab.errors import ConfigError


def test_covers_a_permutation_and_drops_the_last_partial_batch():
    batches = list(epoch_batches(103, 10, seed=0, epoch=0))
    assert len(batches) == len(epoch_batches(103, 10, seed=0, epoch=0)) == 10
    assert all(b.dtype == torch.int64 and b.shape == (10,) for b in batches)
    seen = torch.cat(batches)
    assert seen.unique().numel() == 100 and seen.min() >= 0 and seen.max() < 103


def test_deterministic_per_seed_and_epoch_and_independent_of_global_rng():
    a = torch.cat(list(epoch_batches(50, 5, seed=7, epoch=3)))
    torch.manual_seed(123)
    torch.rand(10)
    assert torch.equal(a, torch.cat(list(epoch_batches(50, 5, seed=7, epoch=3))))
    assert not torch.equal(a, torch.cat(list(epoch_batches(50, 5, seed=7, epoch=4))))
    assert not torch.equal(a, torch.cat(list(epoch_batches(50, 5, seed=8, epoch=3))))


def test_not_sorted():
    order = torch.cat(list(epoch_batches(1000, 100, seed=0, epoch=0)))
    assert not torch.equal(order, torch.arange(1000))


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_split_each_global_batch_contiguously(world_size):
    single = list(epoch_batches(64, 8, seed=1, epoch=2))
    per_rank = [list(epoch_batches(64, 8, seed=1, epoch=2, rank=r, world_size=world_size)) for r in range(world_size)]
    assert all(len(batches) == len(single) for batches in per_rank)
    for step, global_batch in enumerate(single):
        joined = torch.cat([per_rank[r][step] for r in range(world_size)])
        assert torch.equal(joined, global_batch)
        assert per_rank[0][step].numel() == 8 // world_size


def test_user_errors():
    with pytest.raises(ConfigError, match="not divisible by the number of processes 3"):
        epoch_batches(100, 10, 0, 0, rank=0, world_size=3)
    with pytest.raises(ConfigError, match="larger than the dataset"):
        epoch_batches(5, 10, 0, 0)
    with pytest.raises(ConfigError, match="rank 2 is not in 0..1"):
        epoch_batches(100, 10, 0, 0, rank=2, world_size=2)
    with pytest.raises(ConfigError, match="must be positive"):
        epoch_batches(100, 0, 0, 0)
