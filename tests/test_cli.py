"""The command line as a user meets it: help texts, one-line errors with exit status 2."""

import subprocess
import sys

from click.testing import CliRunner

from ebmlab.cli import cli


def test_help_lists_the_families():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("data", "sparse", "report"):
        assert name in result.output


def test_user_error_is_one_line_and_exit_2(tmp_path):
    # the real console entry point, in a subprocess: no traceback, one line, status 2
    proc = subprocess.run(
        [sys.executable, "-m", "ebmlab", "report", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0] and "Traceback" not in proc.stderr


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["nonsense"])
    assert result.exit_code == 2
