"""The layering DESIGN.md states, checked on the source: arrows point down only."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ebmlab"
FAMILIES = ("sparse", "structured", "gan", "vae", "world")


def imported(path: Path) -> set[str]:
    """Every ebmlab module a file imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.startswith("ebmlab.")}


def offenders(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.relative_to(SRC)} imports {name}"
        for path in (SRC / layer).rglob("*.py")
        for name in imported(path)
        if name.split(".")[1] in forbidden
    )


@pytest.mark.parametrize("layer", ["runtime", "data", "metrics", "viz"])
def test_shared_layers_import_no_family(layer):
    assert offenders(layer, FAMILIES) == []


def test_runtime_knows_nothing_of_figures():
    assert offenders("runtime", ("viz", "commands", "cli", "demo")) == []


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from ebmlab.viz.report import write_report\n")
    assert imported(source) == {"ebmlab.viz.report"}


def test_sparse_solvers_build_on_the_lasso_module_not_on_each_other():
    low = {
        path.stem: imported(path)
        for path in [*(SRC / "sparse").glob("*.py"), SRC / "structured" / "lateral.py"]
        if path.stem in ("lasso", "active_set", "lars", "lateral")
    }
    assert len(low) == 4
    assert all("ebmlab.sparse.solvers" not in names for names in low.values()), low
    assert not any(name.startswith("ebmlab.sparse.") for name in low["lasso"]), low["lasso"]


def test_families_import_each_other_only_where_a_part_of_the_course_builds_on_an_earlier_one():
    """Structured sparsity builds on sparse coding (its solvers, dictionaries and pools); nothing else crosses."""
    allowed = {("structured", "sparse")}
    crossing = sorted(
        f"{path.relative_to(SRC)} imports {name}"
        for family in FAMILIES
        for path in (SRC / family).rglob("*.py")
        for name in imported(path)
        if name.split(".")[1] in FAMILIES
        and name.split(".")[1] != family
        and (family, name.split(".")[1]) not in allowed
    )
    assert crossing == []
