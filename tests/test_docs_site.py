"""The documentation site builds in strict mode (what `make docs` runs), with an API page for every module; a
broken link or a docstring naming an object that does not exist fails the build."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir"]
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "EBMLAB_DOCS_EXECUTE": "false"}


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        MKDOCS + [str(site), "--config-file", str(config)], capture_output=True, text=True, env=ENV, timeout=600
    )


def test_site_builds_strictly_with_every_module_documented(tmp_path):
    done = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr[-3000:]
    site = tmp_path / "site"
    solvers = (site / "api/ebmlab.sparse.solvers/index.html").read_text()
    assert 'id="ebmlab.sparse.solvers.fista"' in solvers and "Beck &amp; Teboulle" in solvers
    # a :func: role in a docstring became a link to the object's own page
    assert 'href="../ebmlab.sparse.lars/#ebmlab.sparse.lars.lars"' in solvers
    modules = [p.relative_to(ROOT / "src").with_suffix("").parts for p in (ROOT / "src/ebmlab").rglob("*.py")]
    names = {".".join(p[:-1] if p[-1] == "__init__" else p) for p in modules if p[-1] != "__main__"}
    missing = [name for name in names if not (site / "api" / name / "index.html").exists()]
    assert not missing, missing
    for page in ("index.html", "RESULTS/index.html", "traffic/index.html", "notebooks/01_sparse_coding/index.html"):
        assert (site / page).exists(), page


def test_a_broken_link_or_a_stale_name_fails_the_build(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/index.md").write_text("# Home\n\nSee [the guide](guide.md).\n")
    package = tmp_path / "src/ebmlab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""A package whose docstring names :func:`vanished`."""\n')
    config = (ROOT / "mkdocs.yml").read_text().split("\nnav:")[0]  # the same settings, no nav
    config = config.replace("docs/hooks/api_pages.py", str(ROOT / "docs/hooks/api_pages.py"))
    config = config.replace('include: ["notebooks/*.ipynb"]', 'include: ["*.ipynb"]')
    (tmp_path / "mkdocs.yml").write_text(config)
    done = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "guide.md" in done.stderr and "vanished" in done.stderr
    shutil.rmtree(tmp_path / "site", ignore_errors=True)
