"""`ebmlab demo --quick`: every step writes its run folder, and the index, a gallery of the runs, links the
reports; a real headless browser draws the gallery with every figure."""

import json
import os
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from ebmlab.cli import cli

RUNS = (
    "dict",
    "lista",
    "drsae",
    "topo",
    "gan-ring8-saturating",
    "gan-ring8",
    "gan-digits",
    "vae-digits",
    "world-pendulum",
    "sac-pendulum",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        result = CliRunner().invoke(cli, ["demo", "--quick", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_quick_demo_writes_its_reports_and_an_index(demo):
    tmp_path = demo
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
    for name in ("gan-ring8-saturating", "gan-ring8", "gan-digits"):
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


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):  # .ci/run installs it: a missing browser in CI is a failure, not a skip
        pytest.fail("no headless browser (chromium) to check the demo's gallery; .ci/run installs it")
    pytest.skip("no chromium here (apt-get install chromium)")


def test_gallery_draws_every_card_and_figure_in_a_headless_browser(demo):
    from matplotlib.image import imread

    browser, index = _browser(), demo / "demo" / "index.html"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2600"]
    flags += ["--virtual-time-budget=10000", "--allow-file-access-from-files"]
    dom = subprocess.run(flags + ["--dump-dom", index.as_uri()], capture_output=True, text=True, timeout=120).stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    drawn, images = (int(re.search(rf'data-{k}="(\d+)"', body).group(1)) for k in ("images-drawn", "images"))
    cards = re.findall(r'<div class="card"', dom)
    assert len(cards) == len(RUNS) - 2 + 3  # the runs but the pair's, the traffic tour, two comparisons
    assert images >= len(cards) and drawn == images, (drawn, images)  # every figure found and decoded
    headlines = re.findall(r'<p class="headline">([^<]+)</p>', dom)
    assert len(headlines) == len(RUNS) + 1 and all(len(h) > 10 for h in headlines)
    # the GAN pitfall and its cure: one wide card, both runs' figures side by side, explained with their numbers
    assert dom.count('<div class="card pair"') == 1
    pair = dom[dom.index('<div class="card pair"') :].split('<div class="card"')[0]
    assert pair.count("<img") == 2 and "gan-ring8-saturating/report.html" in pair and "gan-ring8/report.html" in pair
    saturating = json.loads((demo / "demo" / "gan-ring8-saturating" / "metrics.json").read_text())
    assert "non-saturating" in pair and f"{saturating['high_quality']:.1%}" in pair
    # a run whose diagnostics warned says so on its card, with the cure
    for run in ("gan-ring8-saturating", "gan-ring8", "gan-digits"):
        card = dom[dom.index(f'data-run="{run}"') + 1 :].split('<div class="card"')[0].split("data-run=")[0]
        warned = json.loads((demo / "demo" / run / "metrics.json").read_text())["warn_mode_collapse"]
        assert ("mode collapse" in card) == bool(warned) and ("Cure" in card) == bool(warned)
    shot = demo / "gallery.png"
    subprocess.run(flags + [f"--screenshot={shot}", index.as_uri()], capture_output=True, timeout=120, check=True)
    pixels = imread(shot)
    assert pixels.shape[:2] == (2600, 1280) and pixels[..., :3].std() > 0.05  # a page, not a blank one
