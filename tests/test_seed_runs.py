"""benchmarks/seed_runs.py: a benchmark given the same --out continues where it stopped."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("seed_runs", ROOT / "benchmarks" / "seed_runs.py")
seed_runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seed_runs)

COMMAND, EXTRA = ["world", "train"], ["--env", "Pendulum-v1"]


def test_a_new_seed_starts_a_run(tmp_path):
    folder = tmp_path / "seed3"
    args = seed_runs.seed_command(COMMAND, 3, EXTRA, folder, resumable=True)
    assert args == [*COMMAND, "--seed", "3", *EXTRA, "--out", str(folder)]


def test_a_finished_seed_is_read_not_rerun(tmp_path):
    folder = tmp_path / "seed0"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "metrics.json").write_text("{}")
    assert seed_runs.seed_command(COMMAND, 0, EXTRA, folder, resumable=True) is None


def test_an_interrupted_seed_is_resumed_or_set_aside(tmp_path):
    folder = tmp_path / "seed1"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert seed_runs.seed_command(COMMAND, 1, EXTRA, folder, resumable=True) == [*COMMAND, "--resume", str(folder)]
    assert folder.exists()
    args = seed_runs.seed_command(["world", "baseline"], 1, EXTRA, folder, resumable=False)
    assert args[-2:] == ["--out", str(folder)] and not folder.exists()
    (aside,) = tmp_path.glob("seed1.interrupted-*")
    assert (aside / "config.json").exists()
