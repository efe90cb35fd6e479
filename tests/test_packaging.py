"""The package as a user installs it: a wheel and an sdist build, and the wheel works in a fresh environment."""

import os
import subprocess
import sys
import venv
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _run(args, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900, **kw)
    assert out.returncode == 0, f"{args}: {out.stderr[-2000:]}"
    return out


def test_wheel_installs_into_a_fresh_environment_and_runs(tmp_path):
    _run([sys.executable, "-m", "build", "--outdir", tmp_path / "dist", ROOT])
    wheels = list((tmp_path / "dist").glob("ebmlab-*.whl"))
    assert len(wheels) == 1 and list((tmp_path / "dist").glob("ebmlab-*.tar.gz"))
    venv.create(tmp_path / "env", with_pip=True)
    bin_ = tmp_path / "env" / "bin"
    pip = [bin_ / "python", "-m", "pip", "--disable-pip-version-check", "-q", "install"]
    _run([*pip, f"torch=={torch.__version__.split('+')[0]}"])  # first, so pip never pulls another build
    _run([*pip, wheels[0]])
    env = {**os.environ, "TQDM_DISABLE": "1"}
    assert "sparse" in _run([bin_ / "ebmlab", "--help"], env=env).stdout
    _run(
        [
            bin_ / "ebmlab",
            "sparse",
            "dict",
            "--data",
            "digits",
            "--n-atoms",
            "16",
            "--steps",
            "20",
            "--out",
            tmp_path / "run",
        ],
        env=env,
        cwd=tmp_path,
    )
    assert (tmp_path / "run" / "dictionary.safetensors").exists() and (tmp_path / "run" / "report.html").exists()
    # the base install has no world extra: its commands say which extra to install, in one line, exit 2
    out = subprocess.run([bin_ / "ebmlab", "world", "train"], capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "pip install 'ebmlab[world]'" in out.stderr
