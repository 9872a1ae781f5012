"""Stopping a training run on a scheduler's signal, with nothing lost but time.

A cluster stops a job with SIGTERM (preemption, ``scancel``, a time limit; SIGKILL follows
after a grace period), warns it before its time limit with the signal ``sbatch --signal``
names (SIGTERM in ``profiles/slurm``, SIGUSR1 at many sites), and a person stops it with
Ctrl-C (SIGINT). Inside
:func:`hmasd.training.trainer.train`, :class:`StopRequest` turns the first of these into a
request: the update in progress finishes, the run writes a resumable checkpoint (the
periodic checkpoint of that env step, which ``hmasd train --resume-latest`` picks up) and
stops with :class:`~hmasd.errors.StoppedError`, which the CLI reports in one line with
exit code :data:`~hmasd.errors.EXIT_STOPPED`. Resuming gives the weights and exports of
the uninterrupted run, bit for bit (tested for every signal, at several updates, in both
modes). A second signal stops at once (the default action: SIGINT raises
``KeyboardInterrupt``). ``hmasd train`` enters the request before it imports torch, so a
signal during start-up stops the run after its first update, and one during the final
evaluation and checkpoints lets the run finish (nothing is left to save); called directly,
:func:`~hmasd.training.trainer.train` enters its own around the training loop.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
"""Signals that stop a run gracefully."""

class StopRequest:
    """Context manager: while active, the first :data:`STOP_SIGNALS` signal sets
    :attr:`signum` instead of ending the process; on exit the previous handlers return.

    Handlers can only be installed from the main thread; elsewhere (a run started from a
    worker thread) it installs nothing and signals keep their usual effect.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            return
        # A second signal: the user or the scheduler insists. Stop now, as by default.
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
        signal.raise_signal(signum)

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
