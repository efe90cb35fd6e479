"""Tests of dictionary learning (learning D for the sparse-coding energy) and its training loop."""

import dataclasses
import json

import pytest
import torch

from ebmlab.data import load_patches
from ebmlab.errors import ConfigError, DataError, UserError
from ebmlab.runtime import Run
from ebmlab.sparse.dictionary import Dictionary, dictionary_step, learn_dictionary, normalise_columns
from ebmlab.sparse.solvers import feature_sign
from ebmlab.sparse.train_dict import DictConfig, train_dictionary
from ebmlab.viz.report import write_report


@pytest.fixture(scope="module")
def patches():
    return load_patches(n=1500, size=6, seed=3)


def mean_energy(X, D, lam):
    return feature_sign(X, D, lam).objective


def test_learning_lowers_the_energy_and_keeps_unit_atoms(patches):
    train, held = patches[:1200], patches[1200:]
    res = learn_dictionary(train, 24, 0.15, steps=40, batch_size=100, solver_iter=30, seed=0)
    D = res.dictionary.weight
    torch.testing.assert_close(D.norm(dim=0), torch.ones(24))
    start = learn_dictionary(train, 24, 0.15, steps=0, seed=0).dictionary.weight  # the initial atoms
    assert mean_energy(held, D, 0.15) < 0.97 * mean_energy(held, start, 0.15)
    assert len(res.energies) == 40
    assert sum(res.energies[-5:]) < sum(res.energies[:5])


def test_learning_is_deterministic_for_a_seed(patches):
    a = learn_dictionary(patches, 16, 0.15, steps=5, batch_size=64, solver_iter=10, seed=1).dictionary.weight
    b = learn_dictionary(patches, 16, 0.15, steps=5, batch_size=64, solver_iter=10, seed=1).dictionary.weight
    c = learn_dictionary(patches, 16, 0.15, steps=5, batch_size=64, solver_iter=10, seed=2).dictionary.weight
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_gradient_step_lowers_reconstruction_for_fixed_codes(patches):
    X = patches[:200]
    D = normalise_columns(torch.randn(36, 20, generator=torch.Generator().manual_seed(0)))
    Z = feature_sign(X, D, 0.1).z
    D2 = dictionary_step(D, X, Z, lr=0.5)
    torch.testing.assert_close(D2.norm(dim=0), torch.ones(20))
    assert ((X - Z @ D2.T) ** 2).sum() < ((X - Z @ D.T) ** 2).sum()


def test_dictionary_module():
    d = Dictionary(4, 3, weight=normalise_columns(torch.eye(4)[:, :3] * 2))
    X = torch.tensor([[1.0, -0.5, 0.05, 2.0]])
    res = d.infer(X, 0.1, solver="fista", max_iter=200, tol=1e-10)
    torch.testing.assert_close(res.z, torch.tensor([[0.9, -0.4, 0.0]]))
    torch.testing.assert_close(d.decode(res.z), torch.tensor([[0.9, -0.4, 0.0, 0.0]]))
    assert d.energy(X, res.z, 0.1).shape == (1,)
    with pytest.raises(DataError):
        Dictionary(4, 3, weight=torch.zeros(3, 4))
    with pytest.raises(ConfigError, match="unknown solver"):
        d.infer(X, 0.1, solver="omp")


def test_bad_arguments_are_user_errors(patches):
    with pytest.raises(ConfigError, match="n_atoms"):
        learn_dictionary(patches, 0, 0.1)
    with pytest.raises(DataError):
        learn_dictionary(patches[0], 4, 0.1)
    with pytest.raises(UserError, match="lam"):
        learn_dictionary(patches, 4, -1.0, steps=1)
    with pytest.raises(ConfigError, match="--lr"):
        DictConfig(lr=0)
    with pytest.raises(ConfigError, match="--solver"):
        DictConfig(solver="omp")
    with pytest.raises(ConfigError, match="--data"):
        DictConfig(data="cifar")


def tiny_config(**kw):
    base = dict(
        n_patches=400,
        patch_size=6,
        n_atoms=16,
        batch_size=50,
        steps=12,
        solver_iter=20,
        eval_n=100,
        log_every=4,
        checkpoint_every=6,
        device="cpu",
    )
    base.update(kw)
    return DictConfig(**base)


def test_train_dictionary_end_to_end(tmp_path):
    cfg = tiny_config()
    run = Run.create("sparse", "dict", cfg, out=tmp_path / "run")
    metrics = train_dictionary(cfg, run)
    run.finish(metrics)
    write_report(run.dir)
    for key in ("objective", "nonzero_fraction", "reconstruction_error", "relative_reconstruction_error"):
        assert key in metrics
    assert 0 < metrics["nonzero_fraction"] < 1
    assert 0 < metrics["reconstruction_error"] < metrics["objective"]
    for name in ("atoms.png", "energy.png", "dictionary.safetensors", "metrics.json", "report.html"):
        assert (tmp_path / "run" / name).exists(), name
    from safetensors.torch import load_file

    D = load_file(tmp_path / "run" / "dictionary.safetensors")["D"]
    assert D.shape == (36, 16)
    torch.testing.assert_close(D.norm(dim=0), torch.ones(16))
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "energy" in r] == [1, 4, 8, 12]


def test_group_sparse_dictionary_switches_pools_on_and_off(tmp_path):
    cfg = dataclasses.replace(tiny_config(), pool_size=4, lam=0.3)
    run = Run.create("sparse", "dict", cfg, out=tmp_path / "run")
    metrics = train_dictionary(cfg, run)
    assert 0 < metrics["zero_pool_fraction"] < 1
    assert 0 < metrics["nonzero_fraction"] < 1
    with pytest.raises(ConfigError, match="pools of 3 atoms do not tile 16 atoms"):
        dataclasses.replace(tiny_config(), pool_size=3)
    with pytest.raises(ConfigError, match="--solver ista or fista"):
        dataclasses.replace(tiny_config(), pool_size=4, solver="cod")


def test_tree_dictionary_prunes_rarely_used_branches(tmp_path):
    cfg = tiny_config(tree="2,3", n_atoms=7, lam=0.2, prune_below=0.3)
    run = Run.create("sparse", "dict", cfg, out=tmp_path / "run")
    metrics = train_dictionary(cfg, run)
    assert metrics["tree_nodes"] == 7 and 1 <= metrics["tree_nodes_kept"] <= 7
    assert metrics["pruned_fraction"] == pytest.approx(1 - metrics["tree_nodes_kept"] / 7)
    assert metrics["objective_pruned"] >= metrics["objective"] - 1e-6  # fewer atoms never lower the optimum
    assert (tmp_path / "run" / "tree.png").exists()
    with pytest.raises(ConfigError, match="has 7 nodes; give --n-atoms 7"):
        tiny_config(tree="2,3")
    with pytest.raises(ConfigError, match="--tree must be two integers"):
        tiny_config(tree="2-3", n_atoms=7)


class _StopsEarly(Run):
    """A real run whose loop is cut after ``stop`` steps (as if the process were killed)."""

    stop = 6

    def progress(self, iterable, total=None, desc=None, initial=0):
        return [step for step in iterable if step < self.stop]


def test_resume_gives_the_same_dictionary(tmp_path):
    from safetensors.torch import load_file

    cfg = tiny_config(n_patches=200)  # 4 batches per epoch: the resumed run crosses epochs
    full = Run.create("sparse", "dict", cfg, out=tmp_path / "full")
    train_dictionary(cfg, full)
    cut = _StopsEarly.create("sparse", "dict", cfg, out=tmp_path / "cut")
    train_dictionary(cfg, cut)
    partial = load_file(tmp_path / "cut" / "dictionary.safetensors")["D"]
    assert not torch.equal(partial, load_file(tmp_path / "full" / "dictionary.safetensors")["D"])
    resumed = Run.resume(tmp_path / "cut", DictConfig, "sparse", "dict")
    train_dictionary(resumed.config, resumed)
    assert torch.equal(
        load_file(tmp_path / "full" / "dictionary.safetensors")["D"],
        load_file(tmp_path / "cut" / "dictionary.safetensors")["D"],
    )
