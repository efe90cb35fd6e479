"""Tests of the topographic-map measurements and of the topographic auto-encoder."""

import json
import math

import numpy as np
import pytest
import torch

from ebmlab.data import load_patches, pca_fit
from ebmlab.errors import DataError
from ebmlab.sparse.groups import singleton_pools, torus_pools
from ebmlab.structured.group_ae import GroupSparseAE
from ebmlab.structured.topography import find_pinwheels, fit_gabor, gabor, neighbour_orientation_ratio


@pytest.mark.parametrize("theta", [0.3, 1.2, 2.5])
def test_gabor_fit_recovers_a_gabor(theta):
    img = gabor((4.6, 5.2, theta, 0.18, 0.7, 1.8, 2.6, 1.0), 10, 10)
    fit = fit_gabor(img + 0.01 * np.random.default_rng(0).standard_normal(img.shape))
    assert fit.r2 > 0.98
    d = abs(fit.orientation - theta % math.pi)
    assert min(d, math.pi - d) < math.radians(4)
    assert fit.freq == pytest.approx(0.18, abs=0.02)


def test_gabor_fit_of_noise_explains_little():
    fit = fit_gabor(np.random.default_rng(1).standard_normal((10, 10)))
    assert fit.r2 < 0.6
    with pytest.raises(DataError, match="2-D filter"):
        fit_gabor(np.zeros(10))


def test_neighbour_ratio_smooth_vs_random_maps():
    side = 12
    cols = np.tile(np.arange(side), side)
    smooth = np.pi * cols / side  # orientation turns once around the torus
    assert neighbour_orientation_ratio(smooth, side)["ratio"] < 0.2
    rnd = np.random.default_rng(0).uniform(0, np.pi, side * side)
    assert 0.85 < neighbour_orientation_ratio(rnd, side)["ratio"] < 1.15
    with pytest.raises(DataError, match="needs 144 values"):
        neighbour_orientation_ratio(rnd[:-1], side)


def test_pinwheels_found_with_their_sign():
    side = 10
    yy, xx = np.mgrid[0:side, 0:side]
    angle = np.arctan2(yy - 4.5, xx - 4.5)
    plus = find_pinwheels(0.5 * angle.ravel(), side, wrap=False)
    minus = find_pinwheels(-0.5 * angle.ravel(), side, wrap=False)
    assert plus == [(4.5, 4.5, 1)] and minus == [(4.5, 4.5, -1)]
    assert find_pinwheels(np.full(side * side, 0.4), side) == []
    rnd = find_pinwheels(np.random.default_rng(2).uniform(0, np.pi, side * side), side, wrap=True)
    assert rnd and sum(s for _, _, s in rnd) == 0  # windings on a torus cancel


def test_pca_whitening_reduces_and_whitens():
    x = load_patches(n=4000, size=6, seed=0, contrast=False)
    w = pca_fit(x, 0.9)
    y = w.apply(x)
    k = y.shape[1]
    assert 1 < k < 36
    torch.testing.assert_close(y.T @ y / len(y), torch.eye(k), atol=1e-3, rtol=0)
    rel = float(((y @ w.inverse + w.mean - x).norm() / (x - x.mean(0)).norm()) ** 2)
    assert rel == pytest.approx(1 - 0.9, abs=0.03)
    with pytest.raises(DataError, match="keep_variance"):
        pca_fit(x, 1.5)


def test_group_sparse_autoencoder_energy_terms():
    g = torch.Generator().manual_seed(0)
    pools = torus_pools(16, 3)
    model = GroupSparseAE(7, pools, encoder="relu", eps=1e-8, generator=g)
    x = torch.randn(5, 7, generator=g)
    z = model.encode(x)
    assert z.shape == (5, 16) and bool((z >= 0).all())
    terms = model.energy(x, 0.5)
    want_group = torch.stack([z[:, row].norm(dim=1) for row in pools.index], 1).sum(1).mean()
    torch.testing.assert_close(terms["group"], want_group, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(terms["total"], terms["reconstruction"] + 0.5 * terms["group"])
    single = GroupSparseAE(7, singleton_pools(16), eps=1e-12, generator=g)
    zs = single.encode(x)
    torch.testing.assert_close(single.group_norm(zs), zs.abs().sum(1), atol=1e-5, rtol=1e-5)
    model.D.data.mul_(3.0)
    model.normalise_decoder_()
    torch.testing.assert_close(model.D.norm(dim=0), torch.ones(16))


def test_topo_command_writes_map_metrics_and_figures(tmp_path, monkeypatch):
    import subprocess
    import sys

    from click.testing import CliRunner

    from ebmlab.cli import cli

    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "topo"
    args = [
        "sparse",
        "topo",
        "--steps",
        "60",
        "--n-patches",
        "2000",
        "--batch-size",
        "256",
        "--map-side",
        "6",
        "--patch-size",
        "8",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert 0 < m["neighbour_orientation_ratio"] < 2 and 0 <= m["gabor_fit_fraction"] <= 1
    assert m["n_pinwheels"] >= 0 and m["reconstruction"] > 0
    assert m["invariance_ratio"] > 0 and -1 <= m["invariance_single_shift"] <= 1
    for name in ("filters", "orientation_map", "energy"):
        assert (out / "figures" / f"{name}.png").exists() or (out / f"{name}.png").exists()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "ebmlab",
            "sparse",
            "topo",
            "--map-side",
            "4",
            "--pool",
            "5",
            "--out",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
    )
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and "--pool must be in 1..--map-side (4)" in lines[0]
    assert not (tmp_path / "b").exists()


def test_invariance_metric_on_hand_made_responses():
    from ebmlab.structured.invariance import invariance, response_correlation

    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 4, generator=g)
    torch.testing.assert_close(response_correlation(a, 2 * a + 1), torch.ones(4, dtype=torch.float64))
    # two units in one pool: the transformation swaps their roles (a quadrature pair under a shift),
    # so each unit's response is uncorrelated before and after, while the pool's energy is unchanged
    x = torch.randn(2000, 2, generator=g)
    y = torch.stack([x[:, 1], -x[:, 0]], 1)
    inv = invariance(lambda t: t, torch.tensor([[0, 1]]), (x.numpy(), y.numpy()))
    assert abs(inv.single) < 0.1 and inv.pooled == pytest.approx(1.0) and inv.ratio > 10


def test_transformed_pairs_are_shifted_copies():
    from ebmlab.structured.invariance import transformed_pairs

    pairs = transformed_pairs(50, 8, seed=1, shifts=(0,), angles=(0.0,))
    for a, b in pairs.values():
        np.testing.assert_allclose(a, b, atol=1e-5)  # no shift, no rotation: the same patch
    moved = transformed_pairs(50, 8, seed=1)["shift"]
    assert np.abs(moved[0] - moved[1]).max() > 1e-3


def test_group_command_non_overlapping_pools(tmp_path, monkeypatch):
    import subprocess
    import sys

    from click.testing import CliRunner

    from ebmlab.cli import cli

    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "group"
    args = [
        "sparse",
        "group",
        "--steps",
        "40",
        "--n-patches",
        "2000",
        "--batch-size",
        "256",
        "--map-side",
        "6",
        "--pool",
        "4",
        "--patch-size",
        "8",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert "invariance_ratio" in m and "neighbour_orientation_ratio" not in m
    assert (out / "filters.png").exists() and not (out / "orientation_map.png").exists()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "ebmlab",
            "sparse",
            "group",
            "--map-side",
            "6",
            "--pool",
            "5",
            "--out",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
    )
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and "do not tile the 36 units" in lines[0]
    assert not (tmp_path / "b").exists()
