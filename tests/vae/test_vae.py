"""The VAE: its free energy by hand, training on points and images, resume, bad inputs."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from ebmlab.cli import cli
from ebmlab.errors import ConfigError
from ebmlab.vae.model import MLPVAE, ConvVAE

ENV = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}


def test_free_energy_terms_by_hand():
    torch.manual_seed(0)
    vae = MLPVAE((2,), nz=3, hidden=8, decoder_std=0.5)
    x = torch.randn(4, 2)
    mu, logvar = vae.encode(x)
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1).mean()
    t = vae.free_energy(x, beta=2.0)
    torch.testing.assert_close(t["kl"], kl)
    torch.testing.assert_close(t["loss"], t["reconstruction"] + 2.0 * t["kl"])
    # with σ(x) → 0 the sample is μ(x): the reconstruction term is the Gaussian NLL of the decoded mean
    with torch.no_grad():
        vae.enc[-1].bias[3:] = -60.0
        vae.enc[-1].weight[3:] = 0.0
    out = vae.decoder_output(vae.encode(x)[0])
    want = (0.5 * (x - out) ** 2 / 0.25 + 0.5 * math.log(2 * math.pi * 0.25)).sum(1).mean()
    torch.testing.assert_close(vae.free_energy(x)["reconstruction"], want)


def test_image_vaes_decode_into_the_image_range():
    for vae in (ConvVAE(1, 28, nz=4), MLPVAE((1, 28, 28), nz=4, hidden=16)):
        s = vae.sample(5)
        assert s.shape == (5, 1, 28, 28) and float(s.abs().max()) <= 1.0
        assert vae.free_energy(s)["loss"].item() > 0
    with pytest.raises(ConfigError, match="multiple of 4"):
        ConvVAE(1, 30)


def test_vae_learns_points_and_resumes_exactly(tmp_path, monkeypatch, interrupted):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    args = [
        "vae",
        "train",
        "--data",
        "grid25",
        "--arch",
        "mlp",
        "--hidden",
        "64",
        "--nz",
        "2",
        "--n-train",
        "4000",
        "--batch-size",
        "100",
        "--epochs",
        "4",
        "--eval-every",
        "80",
        "--checkpoint-every",
        "30",
        "--n-eval",
        "500",
    ]
    full = tmp_path / "full"
    result = CliRunner().invoke(cli, [*args, "--out", str(full)])
    assert result.exit_code == 0, result.output
    m = json.loads((full / "metrics.json").read_text())
    assert m["iterations"] == 160 and m["modes_captured"] >= 0 and "reverse_kl" in m
    first = [json.loads(line) for line in (full / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert first[-1]["loss"] < first[0]["loss"]  # it learns
    cut = tmp_path / "cut"
    interrupted([*args, "--out", str(cut)], 90)
    assert CliRunner().invoke(cli, ["vae", "train", "--resume", str(cut)]).exit_code == 0
    a, b = load_file(cut / "vae.safetensors"), load_file(full / "vae.safetensors")
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_image_vae_writes_the_gan_metrics_and_its_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "vae"
    result = CliRunner().invoke(
        cli, ["vae", "train", "--data", "digits", "--epochs", "1", "--n-eval", "300", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    for key in ("fd", "precision", "recall", "density", "coverage", "free_energy", "kl"):
        assert key in m
    for name in ("samples", "reconstructions", "interpolations"):
        assert (out / f"{name}.png").exists()


def test_time_budget_stops_training_early(tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "budget"
    result = CliRunner().invoke(
        cli,
        [
            "vae",
            "train",
            "--data",
            "ring8",
            "--arch",
            "mlp",
            "--epochs",
            "1000",
            "--n-train",
            "1000",
            "--batch-size",
            "100",
            "--time-budget",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert 0 < m["iterations"] < 1000 * 10 and m["train_s"] >= 1.0


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--data", "ring8"], "--arch conv needs images"),
        (["--image-size", "30"], "multiple of 4"),
        (["--arch", "transformer"], "Invalid value for '--arch'"),
    ],
)
def test_bad_inputs(tmp_path, extra, message):
    proc = subprocess.run(
        [sys.executable, "-m", "ebmlab", "vae", "train", *extra, "--out", str(tmp_path / "x")],
        env=ENV,
        capture_output=True,
        text=True,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "x").exists()
