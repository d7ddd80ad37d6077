"""The one error type the CLI turns into a clear one-line message and exit code 2."""


class DistillguardError(Exception):
    """A problem with the user's input or environment, explained in one line."""
