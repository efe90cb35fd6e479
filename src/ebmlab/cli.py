"""The ``ebmlab`` command. It only mounts the families' groups."""

from __future__ import annotations

import click

from ebmlab import __version__
from ebmlab.errors import RunStopped, UserError, missing_extra


class _UserErrorExit(click.ClickException):
    exit_code = 2

    def __init__(self, message: str, exit_code: int = 2, prefix: str = "error: ") -> None:
        super().__init__(message)
        self.exit_code, self.prefix = exit_code, prefix

    def show(self, file=None) -> None:  # one line, no traceback
        click.echo(f"ebmlab: {self.prefix}{self.message}", err=True)


class EbmlabGroup(click.Group):
    """A click group that turns :class:`ebmlab.errors.UserError` and bad options of its sub-commands
    into one line and exit status 2, and a run that stopped early (:class:`ebmlab.errors.RunStopped`:
    diverged, interrupted, a failed write) into one line and its own status."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise _UserErrorExit(str(exc)) from None
        except ModuleNotFoundError as exc:  # an optional extra not installed: say which
            error = missing_extra(exc)
            if error is None:
                raise
            raise _UserErrorExit(str(error)) from None
        except RunStopped as exc:
            raise _UserErrorExit(str(exc), exc.exit_code, prefix="") from None
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "ebmlab"
            raise _UserErrorExit(f"{exc.format_message()} (see '{where} --help')") from None


@click.group(cls=EbmlabGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ebmlab")
def cli() -> None:
    """Energy-based self-supervised learning in PyTorch.

    Every model is an energy F(x, z) over an observation x and a latent z.
    Inference minimises it over z; learning minimises a loss over parameters.

    \b
    Start here:
      ebmlab data list              datasets and whether they are available here
      ebmlab sparse dict --help     learn a sparse-coding dictionary
      ebmlab demo                   a short tour on data that needs no download
      ebmlab report RUN             (re)build a run's report.html
    """


def _mount() -> None:
    from ebmlab.data.cli import data
    from ebmlab.demo import demo
    from ebmlab.gan.cli import gan
    from ebmlab.sparse.cli import sparse
    from ebmlab.structured.cli import commands as structured
    from ebmlab.vae.cli import vae
    from ebmlab.viz.cli import compare, report

    try:
        from ebmlab.world.cli import world
    except ModuleNotFoundError as exc:  # without the world extra the other families still work
        error = missing_extra(exc)
        if error is None:
            raise
        world = _needs_extra("world", error)
    for command in structured.commands.values():  # structured sparsity's commands keep their `sparse` names
        sparse.add_command(command)
    for command in (data, sparse, gan, vae, world, report, compare, demo):
        cli.add_command(command)


def _needs_extra(name: str, error: UserError) -> click.Command:
    """A stand-in for a group whose optional extra is not installed: any use of it prints ``error`` (exit 2)."""

    def fail(args) -> None:
        raise error

    return click.Command(
        name,
        callback=fail,
        help=f"(not installed) {error}",
        short_help=f"(needs an extra) {error}",
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={"ignore_unknown_options": True, "help_option_names": []},
    )


_mount()


def main() -> None:
    """Entry point of the ``ebmlab`` console script."""
    cli.main(prog_name="ebmlab")


if __name__ == "__main__":
    main()
