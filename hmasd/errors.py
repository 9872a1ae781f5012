"""Errors that reach the user as one readable line (the CLI prints ``str(exc)`` and exits 2)."""


class HMASDError(Exception):
    """Base of every error the CLI reports without a traceback."""


class ConfigError(HMASDError):
    """Invalid config: unknown key, wrong type or out-of-range value."""


class CheckpointError(HMASDError):
    """Missing, corrupt, truncated or mismatched checkpoint."""


class TrainingError(HMASDError):
    """Training cannot go on (e.g. a loss turned NaN)."""


EXIT_STOPPED = 75
"""Exit code of ``hmasd train`` stopped by a signal after writing a resumable checkpoint
(``EX_TEMPFAIL`` of sysexits.h: try again later). Snakemake retries a failed job
(``retries``), and the retry resumes from that checkpoint."""


class StoppedError(HMASDError):
    """A signal stopped training after a resumable checkpoint was written
    (:mod:`hmasd.training.signals`); the CLI exits with :data:`EXIT_STOPPED`."""


class StorageError(HMASDError):
    """A write failed for lack of space (a full disk or quota); the file it would have
    replaced is intact (:mod:`hmasd.io`)."""


class ExportError(HMASDError):
    """A malformed or truncated export file."""


class UsageError(HMASDError):
    """A path or flag a command cannot use (e.g. ``--out`` naming an existing file)."""


class CodeHashError(HMASDError):
    """A rule's code cannot be fingerprinted (missing module, syntax error): see codehash."""


def one_line(text: object, limit: int | None = 200) -> str:
    """``text`` (a message or an exception) as one line: whitespace runs become one space,
    an exception without a message becomes its type name, and anything longer than
    ``limit`` characters is cut with "..." (foreign exceptions, e.g. from unpickling, can
    carry pages of text; our own messages pass ``limit=None``)."""
    line = " ".join(str(text).split())
    if not line and isinstance(text, BaseException):
        line = type(text).__name__
    if limit is not None and len(line) > limit:
        line = line[: limit - 3] + "..."
    return line
