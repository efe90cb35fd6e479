"""Tests of the locally connected (image-level) topographic auto-encoder and `sparse local`."""

import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from ebmlab.cli import cli
from ebmlab.errors import ConfigError
from ebmlab.sparse.groups import torus_pools
from ebmlab.structured.local_ae import LocallyConnectedAE, window_corners


def test_window_corners_span_the_image():
    c = window_corners(32, 10, 24)
    assert c[0] == 0 and c[-1] == 22 and len(c) == 24
    assert bool((c[1:] - c[:-1] >= 0).all()) and bool((c[1:] - c[:-1] <= 1).all())
    with pytest.raises(ConfigError, match="do not fit"):
        window_corners(8, 10, 4)


def test_each_unit_sees_its_window_and_the_decoder_is_its_adjoint():
    g = torch.Generator().manual_seed(0)
    model = LocallyConnectedAE(12, 4, 5, torus_pools(25, 3, wrap=False), generator=g)
    image = torch.arange(144.0).reshape(1, 144)
    u = 2 * 5 + 4  # map row 2, column 4: corner at (p(2), p(4)) = (4, 8)
    want = image.reshape(12, 12)[4:8, 8:12].reshape(-1)
    torch.testing.assert_close(model.windows(image)[0, u], want)
    x, z = torch.randn(3, 144, generator=g), torch.randn(3, 25, generator=g)
    lhs = (model.decode(z) * x).sum()
    rhs = ((model.windows(x) * model.D.T[None]).sum(-1) * z).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-4, atol=1e-4)
    # one active unit paints its unit-norm decoder filter into its own window only
    one = torch.zeros(1, 25)
    one[0, u] = 1.0
    with torch.no_grad():
        painted = model.decode(one).reshape(12, 12)
    torch.testing.assert_close(painted[4:8, 8:12].reshape(-1), model.D[:, u].detach())
    assert float(painted.abs().sum()) == pytest.approx(float(model.D[:, u].detach().abs().sum()), rel=1e-5)
    with pytest.raises(ConfigError, match="144 pixels"):
        model.encode(torch.randn(2, 100))


def test_local_command_writes_the_map(tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "local"
    args = [
        "sparse",
        "local",
        "--image-size",
        "12",
        "--window",
        "5",
        "--map-side",
        "6",
        "--steps",
        "30",
        "--n-images",
        "400",
        "--batch-size",
        "50",
        "--lam",
        "0.1",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert 0 < m["neighbour_orientation_ratio"] < 2 and m["n_pinwheels"] >= 0
    assert 0 < m["relative_reconstruction_error"] < 1.5 and 0 <= m["gabor_fit_fraction"] <= 1
    assert (out / "orientation_map.png").exists() and (out / "filters.png").exists()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "ebmlab",
            "sparse",
            "local",
            "--image-size",
            "8",
            "--window",
            "10",
            "--out",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
    )
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and "do not fit --image-size 8" in lines[0], bad.stderr
    assert not (tmp_path / "b").exists()
