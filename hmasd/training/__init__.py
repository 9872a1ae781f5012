"""Training schedules (sync, async), checkpoints and evaluation.

``train`` / ``make_train`` (trainer.py), ``latest_checkpoint`` (checkpoint.py); eval-only
runs are ``hmasd.training.evaluate.evaluate``.

``train`` and ``make_train`` are exported lazily (``_LAZY``, PEP 562): importing
``hmasd.training.evaluate`` runs this file, and an eager import of the trainer here would
put the trainer and the tracker in the code fingerprint of the evaluate rule (see
``hmasd.codehash``).
"""

import importlib
from typing import Any

from hmasd.training.checkpoint import latest_checkpoint

# Lazy exports: name -> submodule (read by hmasd.codehash, keep it a literal dict).
_LAZY = {"make_train": "trainer", "train": "trainer"}

__all__ = ["latest_checkpoint", "make_train", "train"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
