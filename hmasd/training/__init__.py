"""Training schedules (sync, async), checkpoints and evaluation.

``train`` / ``make_train`` (trainer.py), ``latest_checkpoint`` (checkpoint.py); eval-only
runs are ``hmasd.training.evaluate.evaluate``.
"""

from hmasd.training.checkpoint import latest_checkpoint
from hmasd.training.trainer import make_train, train

__all__ = ["latest_checkpoint", "make_train", "train"]
