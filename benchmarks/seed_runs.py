"""Run one ``ebmlab`` training command for several seeds, each in its own process.

Shared by the benchmarks that report a claim over seeds. Arguments after ``--``
on a benchmark's command line are passed on to every run; ``parallel`` runs go
at once, each with one torch thread when more than one runs.

Given the same ``--out`` again, a benchmark picks up where it stopped: a seed
whose folder holds a finished run (``metrics.json``) is read, not rerun; one
holding an interrupted run is continued with ``--resume`` (or, for a command
that cannot resume, set aside as ``seedS.interrupted-<time>`` and started
again), so a benchmark longer than a session can be split over sessions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def split_extra(argv: list[str]) -> tuple[list[str], list[str]]:
    """(benchmark's own arguments, arguments after ``--`` for every run)."""
    if "--" not in argv:
        return argv, []
    i = argv.index("--")
    return argv[:i], argv[i + 1 :]


def seed_command(command: list[str], seed: int, extra: list[str], folder: Path, resumable: bool) -> list[str] | None:
    """The ``ebmlab`` arguments that bring ``folder`` to a finished run: a new run, ``--resume`` of an interrupted
    one (a command that cannot resume: the folder set aside, a new run), or None when it has finished."""
    if (folder / "metrics.json").exists():
        return None
    if (folder / "config.json").exists():
        if resumable:
            return [*command, "--resume", str(folder)]
        folder.rename(folder.with_name(f"{folder.name}.interrupted-{time.strftime('%Y%m%d-%H%M%S')}"))
    return [*command, "--seed", str(seed), *extra, "--out", str(folder)]


def run_seeds(
    command: list[str],
    seeds: list[int],
    extra: list[str],
    out: str | Path,
    keys: tuple[str, ...],
    parallel: int = 1,
    resumable: bool = True,
    finished: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """Run ``ebmlab <command> --seed S <extra> --out OUT/seedS`` per seed (or continue it: see the module doc);
    return the chosen metrics per seed. ``finished`` is given the rows so far each time a seed ends (to write them
    while the others run).

    A key the run did not write (e.g. a second layer's metric for one layer) is left out of its row.
    """
    env = {
        **os.environ,
        "TQDM_DISABLE": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    if parallel > 1:
        env["OMP_NUM_THREADS"] = "1"
    Path(out).mkdir(parents=True, exist_ok=True)
    rows, pending = [], list(seeds)
    running: dict[int, subprocess.Popen] = {}
    while pending or running:
        while pending and len(running) < parallel:
            seed = pending.pop(0)
            args = seed_command(command, seed, extra, Path(out) / f"seed{seed}", resumable)
            if args is None:  # finished in an earlier call
                running[seed] = None
                continue
            cmd = [sys.executable, "-m", "ebmlab", *args]
            # its messages to a file: a pipe nobody reads until the end fills up and stops a long run
            with open(Path(out) / f"seed{seed}.stderr", "a") as log:
                running[seed] = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
        for seed, proc in list(running.items()):
            if proc is None or proc.poll() is not None:
                del running[seed]
                if proc is not None and proc.returncode in (130, 143):  # Ctrl-C, SIGTERM: a checkpoint was written
                    sys.exit(f"seed {seed} stopped; the same command with the same --out continues it")
                if proc is not None and proc.returncode:
                    message = (Path(out) / f"seed{seed}.stderr").read_text().strip().splitlines()[-1:]
                    sys.exit(f"seed {seed} failed: {' '.join(message)}")
                m = json.loads((Path(out) / f"seed{seed}" / "metrics.json").read_text())
                rows.append({"seed": seed, **{k: m[k] for k in keys if k in m}})
                print(json.dumps(rows[-1]), flush=True)
                if finished is not None:
                    finished(sorted(rows, key=lambda r: r["seed"]))
        time.sleep(1)
    return sorted(rows, key=lambda r: r["seed"])


def write_result(name: str, result: dict) -> Path:
    """benchmarks/results/<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def seed_bench(
    name: str, command: list[str], keys: tuple[str, ...], doc: str, parallel: int = 1, tagged: bool = False
) -> tuple[dict, str]:
    """The common part of a seeds benchmark: parse ``--seeds --parallel --out`` (and ``--tag``),
    run the seeds, and return (result, file name) where result holds the command, settings, rows,
    means over seeds (of the keys every row has) and wall time."""
    argv, extra = split_extra(sys.argv[1:])
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--parallel", type=int, default=parallel, help="runs at once (one torch thread each when > 1)")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    p.add_argument(
        "--out",
        default=str(ROOT / "runs" / f"bench-{name}-{stamp}"),
        help="folder for the run folders (a new one per call by default)",
    )
    if tagged:
        p.add_argument("--tag", default="", help=f"results go to {name}_<tag>.json")
    args = p.parse_args(argv)
    start = time.time()
    rows = run_seeds(command, [int(s) for s in args.seeds.split(",")], extra, args.out, keys, args.parallel)
    result = {
        "benchmark": name,
        "command": f"python benchmarks/bench_{name}.py " + " ".join(sys.argv[1:]),
        "settings": extra or f"defaults of ebmlab {' '.join(command)}",
        "rows": rows,
        "mean": {k: statistics.mean(r[k] for r in rows) for k in keys if all(k in r for r in rows)},
        "wall_s": round(time.time() - start, 1),
    }
    return result, f"{name}_{args.tag}" if tagged and args.tag else name
