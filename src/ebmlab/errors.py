"""Errors a user can cause.

Every error that a user can fix (a bad path, a corrupt file, a wrong shape, an
unknown name, missing data without a network, a bad option value) is raised as
a :class:`UserError`. The command line prints its message on one line and
exits with status 2, without a traceback.
"""


class UserError(Exception):
    """An error the user can fix; its message says what went wrong and how to fix it."""

    exit_code = 2


class ConfigError(UserError):
    """A bad option value, an unknown configuration key or an unreadable config file."""


class DataError(UserError):
    """Data that is missing, corrupt, truncated or of the wrong shape."""


class RunFolderError(UserError):
    """A run folder that cannot be created, resumed or read."""
