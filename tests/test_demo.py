"""`ebmlab demo --quick`: every step writes its run folder, and the index links the reports."""

import json

from click.testing import CliRunner

from ebmlab.cli import cli


def test_quick_demo_writes_its_reports_and_an_index(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = CliRunner().invoke(cli, ["demo", "--quick", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    index = (tmp_path / "demo" / "index.html").read_text()
    for name in ("dict", "lista", "drsae", "topo", "gan-ring8", "gan-digits", "vae-digits"):
        assert (tmp_path / "demo" / name / "report.html").exists()
        assert f"{name}/report.html" in index
    metrics = json.loads((tmp_path / "demo" / "drsae" / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    lista = json.loads((tmp_path / "demo" / "lista" / "metrics.json").read_text())
    assert "code_error_T1" in lista
    topo = json.loads((tmp_path / "demo" / "topo" / "metrics.json").read_text())
    assert "neighbour_orientation_ratio" in topo and (tmp_path / "demo" / "topo" / "orientation_map.png").exists()
    for name in ("gan-ring8", "gan-digits"):
        assert (tmp_path / "demo" / name / "diagnostics.png").exists() and (
            tmp_path / "demo" / name / "samples.png"
        ).exists()
    assert "fd" in json.loads((tmp_path / "demo" / "vae-digits" / "metrics.json").read_text())
    assert "gan-vs-vae/compare.html" in index and (tmp_path / "demo" / "gan-vs-vae" / "compare.png").exists()
    for name in ("world-pendulum", "sac-pendulum"):
        assert json.loads((tmp_path / "demo" / name / "metrics.json").read_text())["env_steps"] >= 120
    assert "world-vs-sac/compare.html" in index
    assert (tmp_path / "demo" / "world-vs-sac" / "sample_efficiency.png").exists()
    assert "traffic/report.html" in index
    assert (tmp_path / "demo" / "traffic" / "episode_recorded.gif").exists()
    assert json.loads((tmp_path / "demo" / "traffic" / "metrics.json").read_text())["density_veh_per_km_lane"] > 0
