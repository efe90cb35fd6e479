"""Cost of one DCGAN training step in ``ebmlab gan train`` against a bare PyTorch loop, side by side.

Claim (issue 4): one training step (critic + generator) of ebmlab's loop costs
at most 1.05× a bare PyTorch loop over the same networks and batch.

Both run in this process, on the same device, with the same DCGAN generator and
critic (28×28 Fashion-MNIST, nz 100, ngf = ndf = 64, batch 64, the logistic
loss) and the same algorithm per iteration: ȳ = G(z) without gradient, a critic
step on (y, ȳ), then a generator step on fresh noise z' through the frozen
critic. The bare loop is the textbook one (no logging, no checkpoints, no
progress bar, no diagnostics); ebmlab's is the real ``train_gan`` with its
logging every 10 steps, running means, generator gradient norm and progress
bar (checkpoints and evaluation are outside the timed window). ebmlab's time is
read from the ``time_s`` stamps of its metrics log between step ``--warmup``
and the last step; the bare loop is timed over the same steps. Rounds of the
two alternate, and so does which of the two runs first in a round; medians
over ``--rounds``.

Usage::

    python benchmarks/bench_gan_step.py              # CPU, ~3 min (+ the evaluation classifier, once)
    python benchmarks/bench_gan_step.py --device cuda --steps 300

Writes benchmarks/results/gan_step[_<tag>].json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.data import epoch_batches  # noqa: E402
from ebmlab.data.images import load_images  # noqa: E402
from ebmlab.gan.networks import DCGANCritic, DCGANGenerator  # noqa: E402
from ebmlab.gan.train import GanConfig, train_gan  # noqa: E402
from ebmlab.runtime import Run  # noqa: E402


def bare_loop(X: torch.Tensor, steps: int, warmup: int, device, batch: int = 64, nz: int = 100) -> float:
    """Seconds for steps warmup..steps of the textbook loop."""
    torch.manual_seed(0)
    G, D = DCGANGenerator(nz, 64, 1, 28).to(device), DCGANCritic(64, 1, 28).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    batches = list(epoch_batches(len(X), batch, 0, 0))
    start = 0.0
    for step in range(steps):
        if step == warmup:
            _sync(device)
            start = time.perf_counter()
        real = X[batches[step % len(batches)].to(device)]
        with torch.no_grad():
            fake = G(torch.randn(batch, nz, device=device))
        loss_d = F.softplus(D(real)).mean() + F.softplus(-D(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        D.requires_grad_(False)
        loss_g = F.softplus(D(G(torch.randn(batch, nz, device=device)))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
    _sync(device)
    return time.perf_counter() - start


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


class _Done(Exception):
    """Raised from the metrics log to end the timed run."""


def ebmlab_loop(steps: int, warmup: int, device: str, folder: Path) -> float:
    """Seconds for steps warmup..steps of ``train_gan``, from its metrics log."""
    n_train = 60000
    epochs = -(-steps // (n_train // 64))
    cfg = GanConfig(
        data="fashion-mnist",
        loss="logistic",
        epochs=epochs,
        batch_size=64,
        log_every=10,
        eval_every=10**9,
        sample_every=10**9,
        checkpoint_every=10**9,
        n_eval=200,
        device=device,
    )
    run = Run.create("gan", "train", cfg, out=folder)
    stamps = {}

    log = run.log

    def log_and_stop(step, **values):  # stop the loop after `steps` (the epochs round up)
        log(step, **values)
        stamps[step] = time.perf_counter()
        if step >= steps:
            raise _Done

    run.log = log_and_stop
    try:
        train_gan(cfg, run)
    except _Done:
        pass
    run.close()
    return stamps[steps] - stamps[warmup]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=110)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--tag", default="")
    args = p.parse_args()
    X = load_images("fashion-mnist", "train").images.to(args.device)
    bare, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):  # the order alternates, so neither loop always runs first
            if r % 2 == 0:
                bare.append(bare_loop(X, args.steps, args.warmup, args.device))
            ours.append(ebmlab_loop(args.steps, args.warmup, args.device, Path(tmp) / f"r{r}"))
            if r % 2 == 1:
                bare.append(bare_loop(X, args.steps, args.warmup, args.device))
            print(f"round {r}: bare {bare[-1]:.2f} s, ebmlab {ours[-1]:.2f} s", flush=True)
    n = args.steps - args.warmup
    b, o = statistics.median(bare), statistics.median(ours)
    device_name = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"
    )
    result = {
        "device": device_name,
        "steps_timed": n,
        "rounds": args.rounds,
        "bare_s": bare,
        "ebmlab_s": ours,
        "bare_step_ms": 1000 * b / n,
        "ebmlab_step_ms": 1000 * o / n,
        "ratio": o / b,
        "bare_images_per_s": 64 * n / b,
        "ebmlab_images_per_s": 64 * n / o,
        "command": " ".join(["python", "benchmarks/bench_gan_step.py", *sys.argv[1:]]),
    }
    name = "gan_step" + (f"_{args.tag}" if args.tag else "")
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "results" / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n| loop | ms per step (median of {args.rounds}) | images/s | ratio |\n| --- | ---: | ---: | ---: |")
    print(f"| bare PyTorch | {result['bare_step_ms']:.1f} | {result['bare_images_per_s']:.0f} | 1.00 |")
    print(
        f"| ebmlab gan train | {result['ebmlab_step_ms']:.1f} | {result['ebmlab_images_per_s']:.0f} | {result['ratio']:.3f} |"
    )
    print(f"device: {device_name}; wrote benchmarks/results/{name}.json")


if __name__ == "__main__":
    main()
