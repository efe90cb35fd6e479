from click.testing import CliRunner
from matplotlib.image import imread

from ebmlab.data.cli import data
from ebmlab.errors import DataError


def test_help_lists_commands_and_search_order():
    result = CliRunner().invoke(data, ["--help"])
    assert result.exit_code == 0
    assert "list" in result.output and "show" in result.output and "EBMLAB_DATA" in result.output


def test_list_shows_every_dataset_and_availability(isolated, monkeypatch):
    monkeypatch.setenv("EBMLAB_OFFLINE", "1")
    result = CliRunner().invoke(data, ["list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert set(lines) == {"digits", "mnist5k", "mnist", "fashion-mnist", "patches"}
    assert "1×8×8" in lines["digits"] and "1,437" in lines["digits"] and " yes " in lines["digits"]
    assert " no " in lines["mnist"] and "EBMLAB_OFFLINE is set" in lines["mnist"]


def test_list_with_data_dir_finds_files(isolated, idx_set):
    idx_set(isolated / "idx" / "mnist")
    result = CliRunner().invoke(data, ["list", "--data-dir", str(isolated / "idx")])
    assert result.exit_code == 0, result.output
    mnist = next(line for line in result.output.splitlines() if line.startswith("mnist "))
    assert " yes " in mnist and str(isolated / "idx" / "mnist") in mnist


def test_show_writes_a_grid_png(tmp_path):
    out = tmp_path / "digits.png"
    result = CliRunner().invoke(
        data, ["show", "digits", "--split", "test", "--count", "10", "--nrow", "5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "first row: 2 3 4 5 6" in result.output
    image = imread(out)
    assert image.shape[:2] == (2 * (8 + 2) + 2, 5 * (8 + 2) + 2)


def test_show_patches(tmp_path):
    out = tmp_path / "p.png"
    result = CliRunner().invoke(data, ["show", "patches", "--count", "16", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert imread(out).shape[:2] == (3 * 10 + 2 - 10, 8 * 10 + 2)


def test_show_missing_dataset_raises_data_error(isolated, monkeypatch, tmp_path):
    monkeypatch.setenv("EBMLAB_OFFLINE", "1")
    result = CliRunner().invoke(data, ["show", "mnist", "--out", str(tmp_path / "m.png")])
    assert isinstance(result.exception, DataError)
    assert not (tmp_path / "m.png").exists()


def test_show_unknown_name_is_a_usage_error():
    result = CliRunner().invoke(data, ["show", "cifar"])
    assert result.exit_code == 2 and "digits" in result.output
