"""The error types the CLI turns into one line on stderr and an exit code."""


class DistillguardError(Exception):
    """A step could not do its work (bad data, a failed gate, a missing input): exit code 1."""


class UsageError(DistillguardError):
    """The command line itself is wrong (options that contradict each other): exit code 2."""
