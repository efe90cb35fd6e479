import json
import stat
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from ebmlab.errors import RunFolderError
from ebmlab.runtime import Run, TrainConfig
from ebmlab.runtime.atomic import atomic_write_text
from ebmlab.runtime.seeding import rng_state, seed_everything, set_rng_state
from ebmlab.viz.report import write_report


@dataclass(frozen=True)
class Cfg(TrainConfig):
    steps: int = 6


def _train(run, steps, stop_after=None):
    """A real (tiny) SGD loop using the runtime services as a family loop does."""
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    start = run.restore(model=model, optimizer=opt)
    for step in range(start, steps):
        x = torch.randn(8, 3)  # global RNG: restored from the checkpoint on resume
        loss = (model(x) - x[:, :2]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.log(step + 1, loss=loss.item())
        run.save_checkpoint(step + 1, model=model, optimizer=opt)
        if stop_after is not None and step + 1 == stop_after:
            return model
    return model


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    full = _train(Run.create("test", "loop", Cfg(seed=3), out=tmp_path / "a"), 6)
    _train(Run.create("test", "loop", Cfg(seed=3), out=tmp_path / "b"), 6, stop_after=2)
    resumed_run = Run.resume(tmp_path / "b", Cfg, "test", "loop")
    resumed = _train(resumed_run, 6)
    for p, q in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_run_folder_contents_and_report(tmp_path):
    run = Run.create("test", "loop", Cfg(), out=tmp_path / "r")
    _train(run, 3)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2])
    run.save_figure("curve", fig)
    run.export_weights("w", {"a": torch.ones(2)})
    assert run.finish({"final_loss": torch.tensor(0.5), "n": 3}) == tmp_path / "r" / "metrics.json"
    report = write_report(run.dir)
    folder = tmp_path / "r"
    assert json.loads((folder / "metrics.json").read_text()) == {"final_loss": 0.5, "n": 3}
    assert json.loads((folder / "config.json").read_text())["steps"] == 6
    assert (folder / "checkpoints" / "last.pt").exists() and (folder / "curve.png").exists()
    assert any((folder / "tb").iterdir())
    text = report.read_text()
    assert "final_loss" in text and "data:image/png;base64" in text
    from safetensors.torch import load_file

    assert torch.equal(load_file(folder / "w.safetensors")["a"], torch.ones(2))
    assert not list(folder.rglob("*.tmp"))


def test_refuses_non_empty_out_and_bad_resume(tmp_path):
    Run.create("test", "loop", Cfg(), out=tmp_path / "r")
    with pytest.raises(RunFolderError, match="--resume"):
        Run.create("test", "loop", Cfg(), out=tmp_path / "r")
    with pytest.raises(RunFolderError, match="does not exist"):
        Run.resume(tmp_path / "nope", Cfg, "test", "loop")
    with pytest.raises(RunFolderError, match="not 'test other'"):
        Run.resume(tmp_path / "r", Cfg, "test", "other")
    (tmp_path / "plain").mkdir()
    with pytest.raises(RunFolderError, match="not an ebmlab run folder"):
        Run.resume(tmp_path / "plain", Cfg, "test", "loop")


def test_damaged_checkpoint_is_reported(tmp_path):
    run = Run.create("test", "loop", Cfg(), out=tmp_path / "r")
    _train(run, 2)
    path = tmp_path / "r" / "checkpoints" / "last.pt"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(RunFolderError, match="damaged"):
        _train(Run.resume(tmp_path / "r", Cfg, "test", "loop"), 3)


def test_checkpoint_of_another_model_is_reported(tmp_path):
    run = Run.create("test", "loop", Cfg(), out=tmp_path / "r")
    _train(run, 2)
    resumed = Run.resume(tmp_path / "r", Cfg, "test", "loop")
    other = torch.nn.Linear(3, 4)  # the saved model is 3 → 2
    with pytest.raises(RunFolderError, match="does not fit this run's model .*size mismatch"):
        resumed.restore(model=other)


def test_atomic_write_leaves_old_content_on_failure(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")

    class Boom(Exception):
        pass

    from ebmlab.runtime.atomic import atomic_write

    def write(f):
        f.write("partial")
        raise Boom

    with pytest.raises(Boom):
        atomic_write(path, write, mode="w")
    assert path.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_atomic_write_gives_the_permissions_of_a_plain_open(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    path = atomic_write_text(tmp_path / "f.txt", "x")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert path.stat().st_mode & stat.S_IRUSR and path.stat().st_mode & stat.S_IWUSR


def test_rng_state_round_trip():
    seed_everything(5)
    state = rng_state()
    a = (torch.rand(3), np.random.rand(3))
    set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
