"""The two user-facing errors (re-exported by jaft.common): printed as one line, exit code 2."""


class UsageError(Exception):
    """A bad name or value typed by the user: printed as one line, exit code 2."""


class DataError(Exception):
    """A bad data file: the message names the file and line."""
