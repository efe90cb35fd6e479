"""`ebmlab gan train` and `gan sample` as a user runs them: metrics, figures, resume, DDP, bad inputs."""

import json
import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from ebmlab.cli import cli

ENV = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
SMALL = [  # the plain GAN, small (on a mixture the logistic loss's defaults are the measured recipe)
    *("--r1", "0", "--refine", "none", "--lr-decay", "none"),
    "--data",
    "ring8",
    "--n-train",
    "2000",
    "--batch-size",
    "50",
    "--hidden-g",
    "32",
    "--layers-g",
    "2",
    "--hidden-d",
    "32",
    "--layers-d",
    "2",
    "--nz",
    "8",
    "--eval-every",
    "40",
    "--sample-every",
    "40",
    "--n-eval",
    "500",
    "--log-every",
    "5",
    "--device",
    "cpu",
]


def ebmlab(*args):
    return subprocess.run([sys.executable, "-m", "ebmlab", *args], env=ENV, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("loss", ["margin", "logistic", "least-squares", "wasserstein"])
def test_every_loss_trains_on_a_mixture_and_reports_modes_and_diagnostics(tmp_path, monkeypatch, loss):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / loss
    result = CliRunner().invoke(cli, ["gan", "train", *SMALL, "--epochs", "2", "--loss", loss, "--out", str(out)])
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert 0 <= m["modes_captured"] <= 8 and 0 <= m["high_quality"] <= 1 and m["reverse_kl"] >= 0
    for key in ("warn_oscillation", "warn_vanishing_gradient", "warn_mode_collapse", "oscillation_score"):
        assert key in m
    assert m["iterations"] == 2 * 40
    assert (out / "samples.png").exists() and (out / "diagnostics.png").exists() and (out / "report.html").exists()
    assert len(list((out / "samples").glob("step_*.png"))) == 2
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("grad_norm_g" in r for r in logged) and any("modes_captured" in r for r in logged)


def test_a_forced_collapse_is_flagged_and_sampling_works(tmp_path):
    # a generator with one hidden unit and no noise to speak of (nz 1) trained briefly cannot spread over
    # the 25 grid modes: the detector must say so, in metrics.json and on stderr
    out = tmp_path / "collapsed"
    proc = ebmlab(
        "gan", "train", *SMALL, "--data", "grid25", "--nz", "1", "--hidden-g", "1", "--epochs", "2", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["warn_mode_collapse"] == 1 and m["modes_captured"] < 25
    assert "mode collapse" in proc.stderr
    sample = ebmlab("gan", "sample", str(out), "--n", "10", "--out", str(tmp_path / "s.pt"))
    assert sample.returncode == 0, sample.stderr
    assert torch.load(tmp_path / "s.pt").shape == (10, 2)


@pytest.mark.parametrize("refine", ["rejection", "descent"])
def test_refined_evaluation_reports_both_the_critic_corrected_and_the_raw_samples(tmp_path, monkeypatch, refine):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "refined"
    result = CliRunner().invoke(
        cli,
        [
            "gan",
            "train",
            *SMALL,
            "--epochs",
            "2",
            "--loss",
            "least-squares",
            "--refine",
            refine,
            "--descent-steps",
            "5",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    for key in ("modes_captured", "high_quality", "reverse_kl"):
        assert f"raw_{key}" in m and key in m
    assert (0 < m["acceptance_rate"] <= 1) if refine == "rejection" else "acceptance_rate" not in m
    sampled = CliRunner().invoke(
        cli, ["gan", "sample", str(out), "--refine", refine, "--n", "50", "--out", str(tmp_path / "r.pt")]
    )
    assert sampled.exit_code == 0, sampled.output
    assert torch.load(tmp_path / "r.pt").shape == (50, 2)


def test_interrupted_then_resumed_run_ends_with_the_same_weights(tmp_path, monkeypatch, interrupted):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    args = [
        "gan",
        "train",
        *SMALL,
        "--epochs",
        "3",
        "--loss",
        "wasserstein",
        "--n-critic",
        "3",
        "--ema",
        "0.9",
        "--checkpoint-every",
        "25",
    ]
    full = tmp_path / "full"
    assert CliRunner().invoke(cli, [*args, "--out", str(full)]).exit_code == 0

    cut = tmp_path / "cut"
    interrupted([*args, "--out", str(cut)], 75)
    assert not (cut / "metrics.json").exists()
    resumed = CliRunner().invoke(cli, ["gan", "train", "--resume", str(cut)])
    assert resumed.exit_code == 0, resumed.output
    for name in ("generator", "critic"):
        a, b = load_file(cut / f"{name}.safetensors"), load_file(full / f"{name}.safetensors")
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)
    assert (
        json.loads((cut / "metrics.json").read_text())["reverse_kl"]
        == json.loads((full / "metrics.json").read_text())["reverse_kl"]
    )


def test_image_gan_dry_run_and_samples(tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "dcgan"
    result = CliRunner().invoke(
        cli,
        [
            "gan",
            "train",
            "--data",
            "digits",
            "--ngf",
            "8",
            "--ndf",
            "8",
            "--nz",
            "16",
            "--n-eval",
            "200",
            "--dry-run",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["iterations"] == 1
    for key in ("fd", "precision", "recall", "density", "coverage", "diversity", "feature_classifier_accuracy"):
        assert key in m
    assert (out / "samples" / "step_0000001.png").exists()
    sampled = CliRunner().invoke(cli, ["gan", "sample", str(out), "--n", "9"])
    assert sampled.exit_code == 0, sampled.output
    assert (out / "samples_0.png").exists()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--loss", "hinge"], "Invalid value for '--loss'"),
        (["--data", "digits", "--image-size", "30"], "--image-size 30 does not suit"),
        (["--loss", "margin", "--saturating"], "logistic loss only"),
        (["--data", "folder"], "--data folder needs --data-dir"),
        (["--loss", "wasserstein", "--refine", "rejection"], "needs the logistic or least-squares loss"),
        (["--r1", "-1"], "--r1 must be >= 0"),
        (["--loss", "margin", "--refine", "descent"], "--refine descent needs the logistic or least-squares loss"),
    ],
)
def test_bad_inputs_are_one_line_errors_and_leave_nothing(tmp_path, extra, message):
    out = tmp_path / "bad"
    proc = ebmlab("gan", "train", *extra, "--out", str(out))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert not out.exists()


def test_corrupt_checkpoint_is_reported_and_left_alone(tmp_path):
    out = tmp_path / "run"
    assert ebmlab("gan", "train", *SMALL, "--epochs", "1", "--out", str(out)).returncode == 0
    checkpoint = out / "checkpoints" / "last.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for args in (["gan", "train", "--resume", str(out)], ["gan", "sample", str(out / "missing")]):
        proc = ebmlab(*args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "damaged" in ebmlab("gan", "train", "--resume", str(out)).stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="gloo backend missing")
def test_ddp_two_processes_follow_one_process(tmp_path):
    args = ["gan", "train", *SMALL, "--epochs", "1", "--no-batchnorm-g", "--loss", "least-squares", "--r1", "0.5"]
    one = ebmlab(*args, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "ebmlab",
            *args,
            "--out",
            str(tmp_path / "two"),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]

    def losses(folder):
        records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        return [(r["step"], r["loss_d"], r["loss_g"]) for r in records if "loss_d" in r]

    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert [r[0] for r in a] == [r[0] for r in b] and len(a) >= 8
    for (_, d1, g1), (_, d2, g2) in zip(a, b):
        assert d2 == pytest.approx(d1, rel=1e-4) and g2 == pytest.approx(g1, rel=1e-4)


def test_refit_refines_any_loss_with_a_fresh_logistic_critic(tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "refit"
    result = CliRunner().invoke(
        cli,
        [
            "gan",
            "train",
            *SMALL,
            "--epochs",
            "1",
            "--loss",
            "wasserstein",
            "--refine",
            "refit",
            "--refit-steps",
            "50",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert "raw_high_quality" in m and 0 < m["acceptance_rate"] <= 1


def test_the_command_line_starts_from_the_recipe_measured_for_the_data():
    from ebmlab.gan.train import GanConfig
    from ebmlab.runtime.config import resolve_config

    ring = resolve_config(GanConfig, None, {})  # `ebmlab gan train` with no option
    assert (ring.data, ring.loss, ring.r1, ring.refine, ring.epochs, ring.batch_size, ring.lr_decay) == (
        "ring8", "logistic", 0.5, "descent", 60, 100, "cosine"
    )  # fmt: skip
    assert resolve_config(GanConfig, None, {"data": "grid25"}).r1 == 1.0
    plain = resolve_config(GanConfig, None, {"r1": 0.0, "refine": "none"})  # options given win, the rest stays
    assert (plain.r1, plain.refine, plain.epochs) == (0.0, "none", 60)
    other = resolve_config(GanConfig, None, {"loss": "least-squares"})  # the recipe is the logistic loss's
    assert (other.r1, other.refine, other.epochs, other.batch_size) == (0.0, "none", 25, 64)
    images = resolve_config(GanConfig, None, {"data": "fashion-mnist"})
    assert (images.r1, images.refine, images.batch_size) == (0.0, "none", 64)
    assert GanConfig().r1 == 0.0 and GanConfig.for_data("grid25").r1 == 1.0  # Python: plain, or asked for
    shown = CliRunner().invoke(cli, ["gan", "train", "--help"], terminal_width=200).output
    assert "ring8 logistic: 0.5" in shown and "grid25 logistic: 1.0" in shown
