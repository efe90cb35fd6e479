"""Tests of the convolutional group-sparse auto-encoder, its stack, the linear probe and `sparse conv`."""

import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from safetensors.torch import load_file

from ebmlab.cli import cli
from ebmlab.errors import ConfigError
from ebmlab.structured.conv_ae import ConvGroupSparseAE, ConvStack, l2_pool
from ebmlab.structured.invariance import image_pairs, invariance


def test_l2_pool_is_the_norm_of_each_window_with_zero_padding():
    z = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    p = l2_pool(z, 2)
    assert p.shape == (2, 3, 3, 3)
    torch.testing.assert_close(p[1, 2, 0, 1], z[1, 2, 0:2, 2:4].norm())
    torch.testing.assert_close(p[0, 1, 2, 2], z[0, 1, 4, 4].abs())  # the corner window holds one unit
    torch.testing.assert_close(l2_pool(z, 1, eps=1.0), (z * z + 1).sqrt())


def test_decoder_is_the_adjoint_of_a_convolution_with_the_same_filters():
    g = torch.Generator().manual_seed(1)
    layer = ConvGroupSparseAE(2, 4, 5, generator=g)
    x, z = torch.randn(3, 2, 9, 9, generator=g), torch.randn(3, 4, 9, 9, generator=g)
    lhs = (F.conv2d(x, layer.D, padding=2) * z).sum()
    torch.testing.assert_close(lhs, (x * layer.decode(z)).sum(), rtol=1e-4, atol=1e-4)


def test_energy_terms_and_unit_norm_decoder():
    g = torch.Generator().manual_seed(2)
    layer = ConvGroupSparseAE(1, 3, 3, pool=2, eps=1e-8, generator=g)
    with torch.no_grad():
        layer.D.mul_(3.0)
    layer.normalise_decoder_()
    torch.testing.assert_close(layer.D.flatten(1).norm(dim=1), torch.ones(3))
    x = torch.randn(4, 1, 6, 6, generator=g)
    layer.fit_input_(x)
    xs = (x - x.mean()) / x.std()
    torch.testing.assert_close(layer.standardise(x), xs, rtol=1e-5, atol=1e-5)
    z = layer.encode(xs)
    assert bool((z >= 0).all())
    t = layer.energy(x, 0.5)
    want_group = sum(
        z[:, k, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].pow(2).sum((1, 2)).sqrt()
        for k in range(3)
        for i in range(3)
        for j in range(3)
    ).mean()
    torch.testing.assert_close(t["group"], want_group, rtol=1e-5, atol=1e-5)
    want_rec = 0.5 * (xs - layer.decode(z)).pow(2).sum((1, 2, 3)).mean()
    torch.testing.assert_close(t["total"], want_rec + 0.5 * want_group, rtol=1e-5, atol=1e-5)


def test_stack_shapes_and_bad_layers():
    stack = ConvStack(1, (4, 6), (5, 3), pool=2)
    f1, f2 = stack.features(torch.randn(2, 1, 28, 28))
    assert f1.shape == (2, 4, 14, 14) and f2.shape == (2, 6, 7, 7)
    with pytest.raises(ConfigError, match="one kernel size per layer"):
        ConvStack(1, (4, 6), (5,))
    with pytest.raises(ConfigError, match="odd"):
        ConvGroupSparseAE(1, 4, 4)


def test_image_pairs_and_invariance_of_a_pooled_map():
    g = torch.Generator().manual_seed(4)
    images = torch.zeros(300, 1, 12, 12)
    images[:, :, 4:8, 4:8] = torch.rand(300, 1, 4, 4, generator=g)
    pairs = image_pairs(images, seed=0, shifts=(1,), angles=(10.0,))
    a, b = pairs["shift"]
    moved = [(1, 0), (-1, 0), (0, 1), (0, -1)]
    for k in range(5):  # each image is its shifted copy moved one pixel back
        assert any(torch.equal(torch.roll(b[k], (-dr, -dc), (1, 2)), a[k]) for dr, dc in moved)
    ra, rb = pairs["rotation"]
    assert not torch.equal(ra, rb) and ra.shape == rb.shape
    # the pixels themselves as single units, the whole 12×12 image as one L2 pool: a 1-pixel shift keeps
    # the pool's energy (the content stays inside) while single pixels decorrelate
    inv = invariance(lambda x: x, lambda z: l2_pool(z, 12), (a, b))
    assert inv.pooled == pytest.approx(1.0, abs=1e-6) and inv.single < 0.5 and inv.ratio > 2


def _conv_args(out, *extra):
    return [
        "sparse",
        "conv",
        "--data",
        "digits",
        "--channels",
        "4,6",
        "--kernels",
        "3,3",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--probe-epochs",
        "2",
        "--checkpoint-every",
        "20",
        "--log-every",
        "5",
        "--device",
        "cpu",
        *extra,
        "--out",
        str(out),
    ]


def test_conv_command_writes_probes_and_resumes_exactly_across_the_layer_boundary(tmp_path, monkeypatch, interrupted):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    full = tmp_path / "full"
    result = CliRunner().invoke(cli, _conv_args(full))
    assert result.exit_code == 0, result.output
    m = json.loads((full / "metrics.json").read_text())
    for key in (
        "probe_accuracy",
        "probe_accuracy_layer1",
        "probe_accuracy_pixels",
        "probe_accuracy_random",
        "probe_accuracy_random_layer1",
    ):
        assert 0.1 < m[key] <= 1.0, key
    assert m["invariance_ratio"] > 0 and m["feature_dims"] == 6 * 2 * 2
    assert (full / "probe.png").exists() and (full / "filters.png").exists()

    # interrupt right after a checkpoint (at the layer boundary, and inside layer 2), then resume
    per_layer = 2 * (1437 // 32)
    for stop in (per_layer, per_layer + 20 - per_layer % 20):
        cut = tmp_path / f"cut{stop}"
        interrupted(_conv_args(cut), stop)
        assert not (cut / "metrics.json").exists()
        resumed = CliRunner().invoke(cli, ["sparse", "conv", "--resume", str(cut)])
        assert resumed.exit_code == 0, resumed.output
        a, b = load_file(cut / "conv.safetensors"), load_file(full / "conv.safetensors")
        for key in a:
            assert torch.equal(a[key], b[key]), (stop, key)


def test_conv_bad_options_are_one_line_errors(tmp_path):
    for extra, message in (
        (["--channels", "4,6", "--kernels", "3"], "--kernels needs one size per layer"),
        (["--kernels", "4,5"], "--kernels must be odd"),
    ):
        bad = subprocess.run(
            [sys.executable, "-m", "ebmlab", "sparse", "conv", *extra, "--out", str(tmp_path / "b")],
            capture_output=True,
            text=True,
        )
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode == 2 and len(lines) == 1 and message in lines[0], bad.stderr
        assert not (tmp_path / "b").exists()
