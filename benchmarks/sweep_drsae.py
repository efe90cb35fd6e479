"""Train several DrSAE settings at once (one process each) and tabulate their test accuracy.

Each setting is a list of ``ebmlab sparse drsae`` options; the runs go to
``--out/<name>`` and the table (name, options, test and train accuracy, seconds)
to ``--out/sweep.json``. Used to choose the defaults of bench_drsae.py; the
numbers in docs/RESULTS.md come from that benchmark, not from this sweep.

Usage::

    python benchmarks/sweep_drsae.py --data fashion-mnist --device cuda --out runs/sweep
    python benchmarks/sweep_drsae.py --quick --out runs/sweep-quick      # seconds, CPU
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETTINGS = {
    "base_s0": [],
    "base_s1": ["--seed", "1"],
    "base_s2": ["--seed", "2"],
    "unsup20": ["--unsup-epochs", "20"],
    "unsup30": ["--unsup-epochs", "30"],
    "lam0.4": ["--lam", "0.4"],
    "lam0.2": ["--lam", "0.2"],
    "cls2": ["--cls-weight", "2"],
    "clr0.5": ["--classifier-lr-scale", "0.5"],
    "clr0.25": ["--classifier-lr-scale", "0.25"],
    "clr0.5_s1": ["--classifier-lr-scale", "0.5", "--seed", "1"],
    "lam0.2_s1": ["--lam", "0.2", "--seed", "1"],
    "lr5e-4_unsup20_sup24": ["--lr", "5e-4", "--unsup-epochs", "20", "--sup-epochs", "24"],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--data-dir", default="")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True)
    p.add_argument("--only", default="", help="comma-separated subset of the settings")
    p.add_argument("--threads", type=int, default=2, help="torch threads per process")
    p.add_argument("--quick", action="store_true", help="1 + 1 epochs on mnist5k, two settings")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [n for n in (args.only.split(",") if args.only else SETTINGS) if n]
    common = ["--data", args.data, "--device", args.device, "--log-every", "100", "--checkpoint-every", "1000000"]
    if args.data_dir:
        common += ["--data-dir", args.data_dir]
    if args.quick:
        names = names[:2]
        common = ["--data", "mnist5k", "--device", args.device, "--unsup-epochs", "1", "--sup-epochs", "1"]
    env = {
        **os.environ,
        "TQDM_DISABLE": "1",
        "OMP_NUM_THREADS": str(args.threads),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    procs, start = {}, time.time()
    for name in names:
        cmd = [sys.executable, "-m", "ebmlab", "sparse", "drsae", *common, *SETTINGS[name], "--out", str(out / name)]
        log = open(out / f"{name}.log", "w")
        procs[name] = (subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), cmd)
    rows = []
    for name, (proc, cmd) in procs.items():
        rc = proc.wait()
        metrics_path = out / name / "metrics.json"
        m = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
        rows.append(
            {
                "name": name,
                "options": SETTINGS[name],
                "rc": rc,
                "test_accuracy": m.get("test_accuracy"),
                "train_accuracy": m.get("train_accuracy"),
                "done_s": round(time.time() - start, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    (out / "sweep.json").write_text(
        json.dumps({"common": common, "device": args.device, "rows": rows}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
