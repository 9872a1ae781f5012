"""Seeding and device choice, done once before anything is built."""

from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch

EVAL_STREAM = 0xE7A1
"""Sub-stream of the evaluation envs (agents and baselines alike): derive_seed(seed, it)."""
GROUP_STREAM = 0xA5C0
"""Sub-stream of the training envs (one batched env per run, both modes)."""


def derive_seed(seed: int, stream: int) -> int:
    """A decorrelated 31-bit seed for sub-stream ``stream`` of run ``seed``."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0] & 0x7FFFFFFF)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch (CPU and CUDA); optionally force deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        _deterministic_kernels()
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def _deterministic_kernels() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)``, without its import.

    The public call also sets ``torch._inductor.config.deterministic``, and importing
    inductor costs seconds of start-up in every train, eval and baseline job. Nothing in
    this package compiles, so only the ATen flag matters; once inductor is loaded anyway
    (a user's ``torch.compile``), the public call is cheap and
    sets both.
    """
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        setter(True, warn_only=True)


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
