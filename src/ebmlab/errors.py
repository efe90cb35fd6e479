"""Errors a user can cause, and the ways a run stops before its end.

Every error that a user can fix (a bad path, a corrupt file, a wrong shape, an
unknown name, missing data without a network, a bad option value) is raised as
a :class:`UserError`. The command line prints its message on one line and
exits with status 2, without a traceback.

A run that cannot go on raises a :class:`RunStopped`, also printed on one line,
with its own exit status: :class:`WriteFailed` (74, a file of the run could not be
written: no space left, permission lost), :class:`Diverged` (3, a non-finite loss
or non-finite weights) and :class:`Interrupted` (128 + the signal: 143 for SIGTERM,
130 for SIGINT). In each case the last checkpoint is intact and ``--resume``
continues from it.
"""

import signal


class UserError(Exception):
    """An error the user can fix; its message says what went wrong and how to fix it."""

    exit_code = 2


class ConfigError(UserError):
    """A bad option value, an unknown configuration key or an unreadable config file."""


class DataError(UserError):
    """Data that is missing, corrupt, truncated or of the wrong shape."""


class RunFolderError(UserError):
    """A run folder that cannot be created, resumed or read."""


class MissingExtra(UserError):
    """A module of one of ebmlab's optional extras is not installed (``pip install 'ebmlab[world]'``)."""


# the modules each optional extra brings (pyproject.toml's [project.optional-dependencies])
EXTRAS = {"gymnasium": "world", "stable_baselines3": "world", "mujoco": "world", "pygame": "world"}


def missing_extra(exc: ModuleNotFoundError) -> MissingExtra | None:
    """The one-line error for ``exc`` when the missing module belongs to an optional extra; None otherwise."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(top)
    if extra is None:
        return None
    return MissingExtra(
        f"{top} is not installed: this command needs ebmlab's {extra} extra (pip install 'ebmlab[{extra}]')"
    )


class RunStopped(Exception):
    """A run that stops before its end, its last checkpoint kept; the message says what to do next."""

    exit_code = 1


class WriteFailed(RunStopped):
    """A file could not be written (no space left, permission lost); the previous version of it is intact."""

    exit_code = 74  # EX_IOERR


class Diverged(RunStopped):
    """A loss or a weight became NaN or infinite; nothing non-finite was written."""

    exit_code = 3

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Interrupted(RunStopped):
    """SIGTERM or SIGINT: the run stopped at the end of a step, after writing a checkpoint when it was in its loop."""

    def __init__(self, signum: int, message: str = "") -> None:
        super().__init__(message or f"stopped by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum
