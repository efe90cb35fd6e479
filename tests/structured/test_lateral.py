"""Tests of sparse coding with lateral inhibition (energy ½‖x − Dz‖² + λ‖z‖₁ + |z|ᵀS|z|)."""

import json
import subprocess
import sys

import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.sparse.solvers import ista
from ebmlab.structured.lateral import (
    inhibition_step,
    lateral_energy,
    lateral_ista,
    on_a_path,
    path_coactivity,
    tree_inhibition,
    tree_parents,
)
from sparse_problems import sparse_problem


def test_tree_inhibition_is_zero_along_paths():
    S = tree_inhibition(2, 3, 0.7)  # 7 nodes: 0 → (1, 2), 1 → (3, 4), 2 → (5, 6)
    assert S.shape == (7, 7) and torch.equal(S, S.T) and bool((S.diagonal() == 0).all())
    for i, j in [(0, 3), (1, 4), (2, 6), (0, 5)]:
        assert S[i, j] == 0  # ancestor and descendant
    for i, j in [(1, 2), (3, 4), (3, 5), (4, 6)]:
        assert S[i, j] == pytest.approx(0.7)  # different branches
    assert tree_parents(2, 3) == [-1, 0, 0, 1, 1, 2, 2]


def test_without_inhibition_it_is_ista():
    X, D = sparse_problem(20, 10, 14, 0.3)
    a = lateral_ista(X, D, 0.1, torch.zeros(14, 14), max_iter=300, tol=0)
    b = ista(X, D, 0.1, max_iter=300, tol=0)
    torch.testing.assert_close(a.z, b.z)


def test_tree_inhibition_puts_coactive_units_on_one_path():
    X, D = sparse_problem(300, 12, 15, 0.4, seed=2)
    S = tree_inhibition(2, 4, 1.0)
    res = lateral_ista(X, D, 0.05, S, max_iter=500, tol=1e-8)
    free = lateral_ista(X, D, 0.05, torch.zeros_like(S), max_iter=500, tol=1e-8)
    paths = on_a_path(tree_parents(2, 4))
    assert path_coactivity(res.z, paths) > 0.95 > path_coactivity(free.z, paths)
    # the iterations lower the energy from z = 0
    zero = lateral_energy(X, D, torch.zeros_like(res.z), 0.05, S).mean()
    assert res.objective < float(zero)


def test_learned_inhibition_stays_within_its_bounds():
    g = torch.Generator().manual_seed(0)
    S = torch.zeros(6, 6)
    for _ in range(5):
        S = inhibition_step(S, torch.randn(50, 6, generator=g) * 10, lr=100.0, s_max=0.8)
    assert float(S.min()) >= 0 and float(S.max()) <= 0.8 + 1e-6 and torch.equal(S, S.T)
    assert bool((S.diagonal() == 0).all()) and float(S.max()) == pytest.approx(0.8)
    below = inhibition_step(-torch.ones(6, 6), torch.zeros(3, 6), lr=1.0, s_max=0.8)
    assert float(below.min()) == 0.0  # projected back onto [0, s_max]
    X, D = sparse_problem(5, 6, 6, 0.3)
    with pytest.raises(ConfigError, match="symmetric, non-negative"):
        lateral_ista(X, D, 0.1, -torch.ones(6, 6).fill_diagonal_(0))
    with pytest.raises(ConfigError, match="must be 6×6"):
        lateral_ista(X, D, 0.1, torch.zeros(5, 5))


def test_lateral_command(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ebmlab.cli import cli

    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "lat"
    args = [
        "sparse",
        "lateral",
        "--tree",
        "2,3",
        "--steps",
        "20",
        "--n-patches",
        "2000",
        "--eval-n",
        "200",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_units"] == 7 and m["path_coactivity"] >= m["path_coactivity_chance"]
    assert (out / "tree.png").exists() and (out / "inhibition.png").exists()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "ebmlab",
            "sparse",
            "lateral",
            "--inhibition",
            "learned",
            "--strength",
            "2",
            "--s-max",
            "1",
            "--out",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
    )
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and "--s-max (1.0) must be >= --strength (2.0)" in lines[0]
