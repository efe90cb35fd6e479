"""Ruff's lint and format checks, as configured in pyproject.toml, over the code we write."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "src", "tests", "benchmarks", "notebooks", "docs/hooks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ruff_lint_is_clean():
    out = _ruff("check", "--no-cache")
    assert out.returncode == 0, out.stdout[-4000:]


def test_ruff_format_is_clean():
    out = _ruff("format", "--check", "--no-cache")
    assert out.returncode == 0, out.stdout[-4000:]
