import os

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture
def interrupted(monkeypatch):
    """``interrupted(args, step)``: run ``ebmlab *args`` in this process and kill it (KeyboardInterrupt) right
    after it writes its checkpoint at ``step``, as a real run killed mid-way; runs after it are left alone."""
    from click.testing import CliRunner

    from ebmlab.cli import cli
    from ebmlab.runtime.run import Run

    save = Run.save_checkpoint

    def run(args, step):
        def save_then_stop(self, at, *a, **kw):
            save(self, at, *a, **kw)
            if at == step:
                raise KeyboardInterrupt

        monkeypatch.setattr(Run, "save_checkpoint", save_then_stop)
        try:
            return CliRunner().invoke(cli, list(args))
        finally:
            monkeypatch.setattr(Run, "save_checkpoint", save)

    return run
