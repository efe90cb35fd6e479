"""A training function as a command: options generated from its config dataclass, one mechanism for every family.

``@train_command(group, "name", MyConfig, family="sparse")`` turns a function
``fn(config, run) -> metrics`` into the sub-command ``ebmlab <family> <name>``
with one ``--field-name`` option per config field, plus ``--config file.toml``,
``--out DIR`` and ``--resume DIR``. The command resolves the config
(defaults < TOML < options), creates or resumes the run folder, runs ``fn``,
writes metrics.json (:meth:`Run.finish`) and then report.html (:func:`~ebmlab.viz.report.write_report`), and
prints where the report is. It sits above both ``runtime/`` and ``viz/``: the runtime knows nothing of figures.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Callable

import click

from ebmlab.errors import ConfigError, Interrupted, RunStopped, UserError
from ebmlab.runtime.config import field_types, resolve_config
from ebmlab.runtime.run import Run
from ebmlab.viz.report import write_report

_CLICK_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING}


def _option_for(field: dataclasses.Field, kind: Any, recipes: tuple = ()) -> click.Option:
    flag = "--" + field.name.replace("_", "-")
    help_text = field.metadata.get("help", "")
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()  # type: ignore[misc]
    by_recipe = [
        f"{' '.join(str(v) for v in when.values())}: {recipe[field.name]}"
        for when, recipe in recipes
        if field.name in recipe
    ]
    if typing.get_origin(kind) is tuple:
        shown = ",".join(str(v) for v in default)
        return click.Option(
            [flag, field.name], type=click.STRING, default=None, help=f"{help_text} Comma-separated. [default: {shown}]"
        )
    if kind is bool:
        no_flag = "--no-" + field.name.replace("_", "-")
        return click.Option(
            [f"{flag}/{no_flag}", field.name], default=None, help=f"{help_text} [default: {'on' if default else 'off'}]"
        )
    if by_recipe:  # shown beside the plain default: [default: 0.0; ring8 logistic: 0.5, grid25 logistic: 1.0]
        default = f"{default}; {', '.join(by_recipe)}"
    choices = field.metadata.get("choices")
    ctype = click.Choice(list(choices)) if choices else _CLICK_TYPES.get(kind, click.STRING)
    return click.Option([flag, field.name], type=ctype, default=None, help=f"{help_text} [default: {default}]")


def config_options(config_cls: type) -> list[click.Option]:
    """One click option per field of ``config_cls``."""
    types = field_types(config_cls)
    recipes = getattr(config_cls, "RECIPES", ())
    return [_option_for(f, types[f.name], recipes) for f in dataclasses.fields(config_cls)]


def train_command(group: click.Group, name: str, config_cls: type, family: str) -> Callable:
    """Register ``fn(config, run) -> dict`` as ``ebmlab <family> <name>`` (see module doc)."""

    def decorate(fn: Callable[[Any, Run], dict]) -> Callable[[Any, Run], dict]:
        def callback(config: str | None, out: str | None, resume: str | None, **values: Any) -> None:
            given = sorted(k for k, v in values.items() if v is not None)
            if resume is not None:
                if given or config or out:
                    names = ", ".join("--" + k.replace("_", "-") for k in given) or "--config/--out"
                    raise ConfigError(f"--resume continues a run with its saved configuration; drop {names}")
                run = Run.resume(resume, config_cls, family, name)
            else:
                cfg = resolve_config(config_cls, config, values)
                run = Run.create(family, name, cfg, out)
            try:
                with run.signals:  # SIGTERM/SIGINT: a checkpoint at the end of the step, then exit 143/130
                    metrics = fn(run.config, run)
                    run.finish(metrics)
                    report = write_report(run.dir) if run.is_main else None
            except RunStopped as exc:
                exc.args = (run.stopped(exc),)  # the line the command prints
                if isinstance(exc, Interrupted) and not run.checkpoint_path.exists():
                    run.discard_if_empty()
                raise
            except (UserError, KeyboardInterrupt):
                run.discard_if_empty()
                raise
            if run.is_main:
                click.echo(f"run folder: {run.dir}")
                click.echo(f"report: {report}")

        params = [
            click.Option(
                ["--config", "config"],
                type=click.Path(dir_okay=False),
                default=None,
                help="TOML file of config values; options given on the command line win.",
            ),
            click.Option(
                ["--out", "out"],
                type=click.Path(file_okay=False),
                default=None,
                help=f"Run folder to create [default: runs/{family}-{name}-<time>].",
            ),
            click.Option(
                ["--resume", "resume"],
                type=click.Path(file_okay=False),
                default=None,
                help="Continue the run in this folder from its last checkpoint.",
            ),
            *config_options(config_cls),
        ]
        doc = (fn.__doc__ or "").strip()
        command = click.Command(
            name, callback=callback, params=params, help=doc, short_help=doc.splitlines()[0] if doc else None
        )
        group.add_command(command)
        return fn

    return decorate
