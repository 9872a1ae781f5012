"""Agent tests use tiny tensors: one torch thread is as fast and avoids oversubscribing the
shared CPU (two threads on a busy machine made this directory ten times slower)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
