"""The Python examples in README.md run as written (they are the API a newcomer meets first)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["exact"].z.shape == (10_000, 256)
    assert namespace["terms"].total.item() > 0
    assert (tmp_path / "runs" / "my-drsae" / "report.html").exists()
    assert namespace["codes"].shape == (1000, 64) and (namespace["codes"] != 0).any()


def test_gan_guide_python_example_runs(tmp_path, monkeypatch):
    guide = Path(__file__).resolve().parents[1] / "docs" / "gan.md"
    (block,) = re.findall(r"```python\n(.*?)```", guide.read_text(), re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, str(guide), "exec"), namespace)
    assert namespace["L_d"].item() > 0 and namespace["y_bar"].shape == (8, 1, 28, 28)
