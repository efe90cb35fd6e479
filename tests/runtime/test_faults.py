"""Runs that meet divergence, SIGTERM/SIGINT and failed writes: real commands in subprocesses, real signals, a real
file-size limit (RLIMIT_FSIZE: the kernel refuses the write), and the runtime's pieces in-process."""

import json
import os
import resource
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from ebmlab.errors import Diverged, WriteFailed
from ebmlab.runtime import Run, RunningMean, TrainConfig
from ebmlab.runtime.atomic import atomic_torch_save, atomic_write_text

ARGS = [
    "sparse",
    "drsae",
    "--data",
    "digits",
    "--units",
    "48",
    "--batch-size",
    "32",
    "--seed",
    "7",
    "--device",
    "cpu",
    "--unsup-epochs",
    "2",
    "--sup-epochs",
    "10",
    "--checkpoint-every",
    "100",
]
ENV = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
TOTAL = 12 * (1437 // 32)


class Cfg(TrainConfig):
    pass


def ebmlab(*args, limit_bytes=None):
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-m", "ebmlab", *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit if limit_bytes else None,
    )


def started(out):
    """An ebmlab run in the background, once it has written its first checkpoint."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ebmlab", *ARGS, "--out", str(out)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not (out / "checkpoints" / "last.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be stopped"
    return proc


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    result = ebmlab(*ARGS, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def same_weights(a, b):
    wa, wb = load_file(a / "drsae.safetensors"), load_file(b / "drsae.safetensors")
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_writes_a_checkpoint_at_the_step_and_resume_ends_as_an_uninterrupted_run(
    tmp_path, uninterrupted, sig, status
):
    out = tmp_path / "run"
    proc = started(out)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"ebmlab: stopped by {sig.name} at step ") and f"--resume {out}" in line
    step = int(line.split("at step ")[1].split(",")[0])
    assert 100 < step < TOTAL  # past the first checkpoint, before the end
    # the signal's own step (it may fall on a periodic one, 1 time in 100: then both are the same checkpoint)
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=False)["step"] == step
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert not (out / "metrics.json").exists() and not list(out.rglob("*.tmp"))

    resumed = ebmlab("sparse", "drsae", "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert same_weights(out, uninterrupted)
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_two_quick_signals_leave_a_readable_checkpoint_that_resumes(tmp_path, uninterrupted):
    out = tmp_path / "run"
    proc = started(out)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert not list(out.rglob("*.tmp"))
    torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    assert ebmlab("sparse", "drsae", "--resume", str(out)).returncode == 0
    assert same_weights(out, uninterrupted)


def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    result = ebmlab(
        "sparse",
        "drsae",
        "--data",
        "digits",
        "--units",
        "48",
        "--lr",
        "100",
        "--unsup-epochs",
        "1",
        "--sup-epochs",
        "2",
        "--checkpoint-every",
        "1",
        "--log-every",
        "5",
        "--out",
        str(out),
    )
    assert result.returncode == 3, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("ebmlab: the run diverged at step ") and "--lr 100.0" in line
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "diverged"
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    assert 0 < state["step"] < info["step"]
    assert all(torch.isfinite(t).all() for t in state["states"]["model"].values())
    assert not (out / "metrics.json").exists() and not (out / "drsae.safetensors").exists()


def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, uninterrupted):
    out = tmp_path / "run"
    proc = started(out)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    checkpoint = out / "checkpoints" / "last.pt"
    before = checkpoint.read_bytes()
    # the resumed run may write nothing larger than half a checkpoint: its next checkpoint fails in the kernel
    failed = ebmlab("sparse", "drsae", "--resume", str(out), limit_bytes=len(before) // 2)
    assert failed.returncode == 74, failed.stderr
    line = failed.stderr.strip().splitlines()[-1]
    assert line.startswith(f"ebmlab: cannot write {checkpoint}: File too large") and "--resume" in line
    assert checkpoint.read_bytes() == before and not list(out.rglob("*.tmp"))
    assert json.loads((out / "run.json").read_text())["status"] == "write-failed"
    assert ebmlab("sparse", "drsae", "--resume", str(out)).returncode == 0
    assert same_weights(out, uninterrupted)


def test_running_mean_of_a_non_finite_step_is_a_divergence():
    m = RunningMean()
    for value in (1.0, float("nan"), 2.0):
        m.add(loss=torch.tensor(value), other=1.0)
    with pytest.raises(Diverged, match="loss became nan"):
        m.pop()


def test_non_finite_weights_never_replace_a_checkpoint(tmp_path):
    run = Run.create("test", "loop", Cfg(), out=tmp_path / "run")
    model = torch.nn.Linear(3, 2)
    run.save_checkpoint(1, model=model)
    before = run.checkpoint_path.read_bytes()
    with torch.no_grad():
        model.weight[0, 0] = float("inf")
    with pytest.raises(Diverged, match="weight"):
        run.save_checkpoint(2, model=model)
    with pytest.raises(Diverged):
        run.export_weights("model", model.state_dict())
    assert run.checkpoint_path.read_bytes() == before and not (tmp_path / "run" / "model.safetensors").exists()


def test_a_write_refused_by_the_kernel_names_the_file_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "big.pt"
    atomic_write_text(path, "old")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
    try:
        with pytest.raises(WriteFailed, match=f"cannot write {path}: File too large"):
            atomic_torch_save(path, torch.zeros(10_000))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["big.pt"]


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


@pytest.mark.skipif(
    not torch.distributed.is_gloo_available() or not os.path.exists("/proc/self/task"),
    reason="gloo backend or /proc missing",
)
def test_ddp_sigterm_to_one_process_stops_all_with_one_checkpoint_and_divergence_stops_them_all(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "ebmlab"]
    out = tmp_path / "term"
    proc = subprocess.Popen(
        [*torchrun, *ARGS, "--out", str(out)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 120
    while not (out / "checkpoints" / "last.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    workers = children(proc.pid)
    assert len(workers) == 2
    os.kill(workers[-1], signal.SIGTERM)  # one process only: the others must agree to stop with it
    _, err = proc.communicate(timeout=90)  # no hung process group
    assert proc.returncode != 0
    assert err.count("ebmlab: stopped by SIGTERM at step") == 2, err[-2000:]
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    stopped_at = {int(line.split("at step ")[1].split(",")[0]) for line in err.splitlines() if "stopped by" in line}
    assert stopped_at == {state["step"]} and state["step"] > 100 and not list(out.rglob("*.tmp"))

    diverged = subprocess.run(
        [
            *torchrun,
            "sparse",
            "drsae",
            "--data",
            "digits",
            "--units",
            "48",
            "--lr",
            "100",
            "--unsup-epochs",
            "1",
            "--sup-epochs",
            "1",
            "--out",
            str(tmp_path / "div"),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert diverged.returncode != 0 and diverged.stderr.count("ebmlab: the run diverged at step") == 2
    assert json.loads((tmp_path / "div" / "run.json").read_text())["status"] == "diverged"
