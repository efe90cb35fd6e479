"""`ebmlab compare`: one table and one figure over runs of different families."""

import json

from click.testing import CliRunner

from ebmlab.cli import cli


def _fake_run(folder, family, name, config, metrics):
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"family": family, "name": name}))
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return str(folder)


def test_compare_marks_the_best_value_of_each_metric(tmp_path):
    a = _fake_run(
        tmp_path / "a", "gan", "train", {"loss": "logistic", "seed": 0}, {"fd": 3.0, "precision": 0.7, "eval_s": 1}
    )
    b = _fake_run(tmp_path / "b", "gan", "train", {"loss": "wasserstein", "seed": 0}, {"fd": 2.0, "precision": 0.5})
    c = _fake_run(tmp_path / "c", "vae", "train", {"arch": "conv", "seed": 0}, {"fd": 9.0, "precision": 0.9, "kl": 4.0})
    result = CliRunner().invoke(cli, ["compare", a, b, c, "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("| run | fd | precision |") and "eval_s" not in lines[0] and "kl" in lines[0]
    assert "| gan train · logistic | 3 | 0.7 |" in result.output
    assert "| gan train · wasserstein | **2** | 0.5 |" in result.output
    assert "| vae train · conv | 9 | **0.9** |" in result.output
    for name in ("compare.md", "compare.png", "compare.html"):
        assert (tmp_path / "cmp" / name).exists()


def test_compare_refuses_an_unfinished_run(tmp_path):
    a = _fake_run(tmp_path / "a", "gan", "train", {}, {})
    (tmp_path / "a" / "metrics.json").unlink()
    result = CliRunner().invoke(cli, ["compare", a, "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 2 and "has not finished" in result.output


def test_world_and_model_free_runs_share_one_sample_efficiency_plot(tmp_path):
    def with_curve(folder, family, name, config, curve):
        path = _fake_run(
            tmp_path / folder, family, name, config, {"env_steps": curve[-1][0], "eval_return": curve[-1][1]}
        )
        (tmp_path / folder / "metrics.jsonl").write_text(
            "".join(json.dumps({"step": s, "eval_return": r}) + "\n" for s, r in curve)
            + json.dumps({"step": curve[-1][0], "model_prediction": 0.1})
            + "\n"
        )
        return path

    world = with_curve("w", "world", "train", {"actor": "mpc", "seed": 0}, [(0, -1200), (600, -300), (1000, -150)])
    sac = with_curve("s", "world", "baseline", {"algo": "sac", "seed": 0}, [(0, -1300), (5000, -160)])
    gan = _fake_run(tmp_path / "g", "gan", "train", {"loss": "logistic"}, {"fd": 3.0})
    result = CliRunner().invoke(cli, ["compare", world, sac, "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert "| world train · mpc | **-150** | **1000** |" in result.output  # eval_return ↑, env_steps ↓
    assert (tmp_path / "cmp" / "sample_efficiency.png").exists()
    assert (tmp_path / "cmp" / "compare.html").read_text().count("<img") == 2
    without = CliRunner().invoke(cli, ["compare", gan, "--out", str(tmp_path / "cmp2")])
    assert without.exit_code == 0 and not (tmp_path / "cmp2" / "sample_efficiency.png").exists()


def test_compare_keeps_the_order_the_runs_write_their_metrics_in(tmp_path):
    # a LISTA run writes its headline code_error_T* first, then many solver curves: those are cut, not it
    metrics = {"code_error_T1": 0.1, "code_error_T3": 0.07}
    metrics |= {f"{s}_code_error_k{k}": 0.5 for s in ("ista", "fista", "cod") for k in (1, 2, 5, 10, 100)}
    a = _fake_run(tmp_path / "a", "sparse", "lista", {"seed": 0}, metrics)
    result = CliRunner().invoke(cli, ["compare", a, "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split(" | ")
    assert header[1:4] == ["code_error_T1", "code_error_T3", "ista_code_error_k1"]
    assert len(header) == 13 and "cod_code_error_k1" not in header
