"""Training schedules (sync, async), checkpoints and evaluation.

``train`` (trainer.py), ``latest_checkpoint`` (checkpoint.py); eval-only
runs are ``hmasd.training.evaluate.evaluate``. Import from the submodules: this file
imports nothing, so evaluation does not pull in the trainer and its tracker.
"""
