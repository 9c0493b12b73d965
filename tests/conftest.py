"""Shared test settings: the grader's own torch work runs on one thread, as in the child processes.

Small tensors gain nothing from intra-op threads and slow down badly on a busy 2-core machine.
"""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
