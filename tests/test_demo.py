"""`ebmlab demo --quick`: every step writes its run folder, and the index links the reports."""

import json

from click.testing import CliRunner

from ebmlab.cli import cli


def test_quick_demo_writes_its_reports_and_an_index(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--quick", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    index = (tmp_path / "demo" / "index.html").read_text()
    for name in ("dict", "lista", "drsae", "topo"):
        assert (tmp_path / "demo" / name / "report.html").exists()
        assert f"{name}/report.html" in index
    metrics = json.loads((tmp_path / "demo" / "drsae" / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    lista = json.loads((tmp_path / "demo" / "lista" / "metrics.json").read_text())
    assert "code_error_T1" in lista
    topo = json.loads((tmp_path / "demo" / "topo" / "metrics.json").read_text())
    assert "neighbour_orientation_ratio" in topo and (tmp_path / "demo" / "topo" / "orientation_map.png").exists()
