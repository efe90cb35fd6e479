"""The "Faults" table of docs/RESULTS.md: every family that trains, against what real runs meet.

For each family a small real run (the `ebmlab` command in a subprocess, one thread) is

- run to its end uninterrupted: the reference weights (every ``*.safetensors`` of the run folder);
- ``kill -9``-ed at a random moment after its first checkpoint, then ``--resume``-d: bit-identical weights?
- sent SIGTERM at a random moment after its first checkpoint: exit 143, a checkpoint at the signal's step,
  then ``--resume``-d: bit-identical weights?
- started with a learning rate of 1e6 and a checkpoint at every step: stopped (exit 3), run.json says
  diverged, the checkpoint on disk (the last one written, if any) holds only finite numbers, no weights
  exported;
- stopped by SIGTERM, then resumed under a file-size limit of half its checkpoint (RLIMIT_FSIZE: the
  kernel refuses the next checkpoint's write): exit 74, the previous checkpoint byte-identical, no temporary
  file left; then resumed without the limit: bit-identical weights?

Each cell is written to ``benchmarks/results/faults.json`` as soon as it is measured; a rerun measures only the
cells that are missing (``--redo`` measures them all again).

    python benchmarks/bench_faults.py [--families sparse,structured,gan,vae,world] [--redo]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.errors import Diverged  # noqa: E402
from ebmlab.runtime.stops import require_finite, state_tensors  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "faults.json"
ENV = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}

FAMILIES = {
    "sparse": [
        "sparse",
        "drsae",
        "--data",
        "digits",
        "--units",
        "48",
        "--batch-size",
        "32",
        "--unsup-epochs",
        "2",
        "--sup-epochs",
        "60",
        "--checkpoint-every",
        "100",
        "--seed",
        "7",
        "--device",
        "cpu",
    ],
    "structured": [
        "sparse",
        "topo",
        "--steps",
        "600",
        "--n-patches",
        "2000",
        "--batch-size",
        "256",
        "--map-side",
        "6",
        "--checkpoint-every",
        "50",
        "--seed",
        "3",
        "--device",
        "cpu",
    ],
    "gan": [
        "gan",
        "train",
        "--data",
        "ring8",
        "--epochs",
        "2",
        *("--batch-size", "64", "--r1", "0", "--refine", "none", "--lr-decay", "none"),  # the plain GAN, as measured
        "--checkpoint-every",
        "50",
        "--eval-every",
        "1000",
        "--n-eval",
        "500",
        "--seed",
        "5",
        "--device",
        "cpu",
    ],
    "vae": [
        "vae",
        "train",
        "--data",
        "digits",
        "--epochs",
        "15",
        "--checkpoint-every",
        "50",
        "--eval-every",
        "400",
        "--n-eval",
        "500",
        "--seed",
        "5",
        "--device",
        "cpu",
    ],
    "world": [
        "world",
        "train",
        "--env",
        "Pendulum-v1",
        "--env-steps",
        "600",
        "--seed-steps",
        "30",
        "--max-episode-steps",
        "30",
        "--fit-steps",
        "20",
        "--hidden",
        "32",
        "--layers",
        "2",
        "--horizon",
        "5",
        "--mpc-first-iterations",
        "5",
        "--mpc-iterations",
        "2",
        "--restarts",
        "2",
        "--eval-every",
        "150",
        "--eval-episodes",
        "1",
        "--ensemble",
        "2",
        "--seed",
        "2",
        "--device",
        "cpu",
    ],
}
FAULTS = ("kill9", "sigterm", "diverge", "write")


def ebmlab(args, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-m", "ebmlab", *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=1800,
        preexec_fn=limit if limit_bytes else None,
    )


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return {f"{p.stem}.{k}": v for p in sorted(folder.glob("*.safetensors")) for k, v in load_file(p).items()}


def identical(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return bool(wa) and wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def interrupted(args, out: Path, sig: int, rng: random.Random) -> tuple[subprocess.Popen, str, float]:
    """Start a run, wait for its first checkpoint, wait a random moment, send ``sig``; return the process, its
    stderr and the seconds it had run."""
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ebmlab", *args, "--out", str(out)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoint = out / "checkpoints" / "last.pt"
    while not checkpoint.exists() and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 1.0))
    if proc.poll() is not None:
        raise SystemExit(f"{args[:2]} finished before the fault; give it more steps")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=600)
    return proc, err, time.time() - started


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def measure(family: str, fault: str, reference: Path, work: Path, rng: random.Random) -> dict:
    """One cell; a fault that struck after the step loop's end (the final checkpoint written) does not count."""
    args = FAMILIES[family]
    total = torch.load(reference / "checkpoints" / "last.pt", weights_only=False)["step"] if fault != "diverge" else 0
    out = work / f"{family}-{fault}"
    shutil.rmtree(out, ignore_errors=True)
    name = args[:2]
    if fault == "kill9":
        proc, _, ran = interrupted(args, out, signal.SIGKILL, rng)
        step = torch.load(out / "checkpoints" / "last.pt", weights_only=False)["step"]
        resumed = ebmlab([*name, "--resume", str(out)])
        ok = (
            proc.returncode == -signal.SIGKILL
            and resumed.returncode == 0
            and identical(out, reference)
            and step < total
        )
        return {
            "ok": ok,
            "killed_after_s": round(ran, 2),
            "checkpoint_step": step,
            "total_steps": total,
            "resumed_exit": resumed.returncode,
            "bit_identical": identical(out, reference),
        }
    if fault == "sigterm":
        proc, err, ran = interrupted(args, out, signal.SIGTERM, rng)
        step = torch.load(out / "checkpoints" / "last.pt", weights_only=False)["step"]
        status = json.loads((out / "run.json").read_text()).get("status")
        resumed = ebmlab([*name, "--resume", str(out)])
        ok = (
            proc.returncode == 143
            and status == "interrupted"
            and resumed.returncode == 0
            and identical(out, reference)
            and step < total
        )
        return {
            "ok": ok,
            "exit": proc.returncode,
            "message": last_line(err),
            "checkpoint_step": step,
            "total_steps": total,
            "status": status,
            "resumed_exit": resumed.returncode,
            "bit_identical": identical(out, reference),
        }
    if fault == "diverge":
        # a checkpoint at every step, so that the last good one (before the first non-finite step) is on disk
        result = ebmlab([*args, "--lr", "1e6", "--checkpoint-every", "1", "--out", str(out)])
        info = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
        checkpoint = out / "checkpoints" / "last.pt"
        finite, kept = None, None
        if checkpoint.exists():
            state = torch.load(checkpoint, weights_only=False)
            kept = state["step"]
            try:
                require_finite(state_tensors("", state["states"]))
                finite = True
            except Diverged:
                finite = False
        ok = (
            result.returncode == 3
            and info.get("status") == "diverged"
            and finite is not False
            and not list(out.glob("*.safetensors"))
            and not (out / "metrics.json").exists()
        )
        return {
            "ok": ok,
            "exit": result.returncode,
            "message": last_line(result.stderr),
            "status": info.get("status"),
            "diverged_at_step": info.get("step"),
            "checkpoint_step": kept,
            "checkpoint_finite": finite,
        }
    if fault == "write":
        interrupted(args, out, signal.SIGTERM, rng)
        checkpoint = out / "checkpoints" / "last.pt"
        before = checkpoint.read_bytes()
        step = torch.load(checkpoint, weights_only=False)["step"]
        failed = ebmlab([*name, "--resume", str(out)], limit_bytes=len(before) // 2)
        intact = checkpoint.read_bytes() == before
        leftovers = [str(p.relative_to(out)) for p in out.rglob("*.tmp")]
        status = json.loads((out / "run.json").read_text()).get("status")
        resumed = ebmlab([*name, "--resume", str(out)])
        ok = (
            failed.returncode == 74
            and intact
            and not leftovers
            and resumed.returncode == 0
            and identical(out, reference)
            and step < total
        )
        return {
            "ok": ok,
            "exit": failed.returncode,
            "checkpoint_step": step,
            "total_steps": total,
            "message": last_line(failed.stderr),
            "previous_intact": intact,
            "temporary_files": leftovers,
            "status": status,
            "resumed_exit": resumed.returncode,
            "bit_identical": identical(out, reference),
        }
    raise ValueError(fault)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--faults", default=",".join(FAULTS))
    p.add_argument("--redo", action="store_true", help="Measure every cell again.")
    p.add_argument("--seed", type=int, default=0, help="Seeds the moments at which faults strike.")
    args = p.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="ebmlab-faults-") as tmp:
        work = Path(tmp)
        for family in args.families.split(","):
            todo = [f for f in args.faults.split(",") if args.redo or f not in results.get(family, {})]
            if not todo:
                continue
            reference = work / f"{family}-reference"
            if todo != ["diverge"]:  # the weights every resumed run must end with
                started = time.time()
                full = ebmlab([*FAMILIES[family], "--out", str(reference)])
                if full.returncode != 0:
                    raise SystemExit(f"{family}: the reference run failed: {last_line(full.stderr)}")
                print(f"{family}: reference run {time.time() - started:.1f} s", flush=True)
            for fault in todo:
                started = time.time()
                cell = measure(family, fault, reference, work, rng)
                cell |= {
                    "wall_s": round(time.time() - started, 1),
                    "date": time.strftime("%Y-%m-%d %H:%M"),
                    "command": "ebmlab " + " ".join(FAMILIES[family]),
                }
                results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
                results.setdefault(family, {})[fault] = cell
                RESULTS.write_text(json.dumps(results, indent=1) + "\n")
                print(family, fault, cell, flush=True)


if __name__ == "__main__":
    main()
