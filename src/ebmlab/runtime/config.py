"""Configuration: one frozen dataclass per trainable thing.

A configuration is resolved in three layers, later ones winning:
the dataclass defaults (the paper's), a TOML file (``--config file.toml``),
then options given on the command line. Every run saves the resolved
configuration as ``config.json`` in its run folder.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebmlab.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """Fields every training run has. Family configs inherit from it."""

    seed: int = field(default=0, metadata={"help": "Seed of every random number generator."})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:N or mps."})
    checkpoint_every: int = field(
        default=500, metadata={"help": "Write a checkpoint every this many steps (and at the end)."}
    )
    log_every: int = field(default=10, metadata={"help": "Log metrics every this many steps."})

    #: Defaults that depend on other values (the best recipe measured for a dataset): ``((when, defaults), …)``,
    #: ``when`` a dict of field values that picks the recipe. The command line and a TOML file start from them
    #: (options given still win); the dataclass's own defaults are what ``Config()`` gives in Python. See
    #: :func:`recipe_defaults`.
    RECIPES: typing.ClassVar[tuple[tuple[dict[str, Any], dict[str, Any]], ...]] = ()

    def __post_init__(self) -> None:
        check(self.checkpoint_every >= 1, "--checkpoint-every must be >= 1")
        check(self.log_every >= 1, "--log-every must be >= 1")
        if not (self.device in ("auto", "cpu", "cuda", "mps") or self.device.startswith("cuda:")):
            raise ConfigError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")


def check(condition: bool, message: str) -> None:
    """Raise ConfigError(message) unless condition holds; for __post_init__ validation."""
    if not condition:
        raise ConfigError(message)


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type of every field of a config dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(cls: type, name: str, kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin is tuple:
        (item, *_rest) = typing.get_args(kind)
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"--{name.replace('_', '-')} must be a list, got {value!r}")
        return tuple(_coerce(cls, name, item, v) for v in value)
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes"):
                    return True
                if value.lower() in ("false", "0", "no"):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError):
        flag = "--" + name.replace("_", "-")
        raise ConfigError(f"{flag} must be of type {getattr(kind, '__name__', kind)}, got {value!r}") from None


def config_from_dict(cls: type, values: dict[str, Any], source: str = "configuration") -> Any:
    """Build a config from a mapping, rejecting unknown keys and coercing types."""
    types = field_types(cls)
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {source}; known keys: {', '.join(types)}")
    kwargs = {k: _coerce(cls, k, types[k], v) for k, v in values.items()}
    return cls(**kwargs)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into a flat dict (a single table is also accepted)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return data


def recipe_defaults(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """The defaults ``cls.RECIPES`` gives for ``values`` (the recipes whose ``when`` the values given, or the
    fields' defaults, match), less those ``values`` already set."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    chosen: dict[str, Any] = {}
    for when, recipe in getattr(cls, "RECIPES", ()):
        if all(values.get(k, defaults.get(k)) == v for k, v in when.items()):
            chosen.update(recipe)
    return {k: v for k, v in chosen.items() if k not in values}


def resolve_config(cls: type, config_file: str | Path | None, overrides: dict[str, Any]) -> Any:
    """Defaults (the dataclass's, then its recipe for the values given), then the TOML file, then the
    command-line overrides (None means not given)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(load_toml(config_file))
    values.update({k: v for k, v in overrides.items() if v is not None})
    values = {**recipe_defaults(cls, values), **values}
    return config_from_dict(cls, values, source=str(config_file or "options"))


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
