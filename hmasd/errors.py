"""Errors that reach the user as one readable line (the CLI prints ``str(exc)`` and exits 2)."""


class HMASDError(Exception):
    """Base of every error the CLI reports without a traceback."""


class ConfigError(HMASDError):
    """Invalid config: unknown key, wrong type or out-of-range value."""


class CheckpointError(HMASDError):
    """Missing, corrupt, truncated or mismatched checkpoint."""


class TrainingError(HMASDError):
    """Training cannot go on (e.g. a loss turned NaN)."""


class ExportError(HMASDError):
    """A malformed or truncated export file."""
