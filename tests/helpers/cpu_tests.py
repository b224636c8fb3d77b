"""The tests' process settings, imported for its effect by tests/conftest.py and
benchmarks/tests/conftest.py: everything runs on the CPU (no CUDA device visible) with at most
2 torch threads, and OpenCV without its thread pool.

OpenCV's pool must not be running when a test forks workers (the synthetic generator's
``generate(workers=2)``, ``datasets/prepare_ava.py``'s pool, DataLoader workers): a forked
child inherits the pool's condition variable with waiters that do not exist in the child, and
its first ``cv2.setNumThreads`` waits on it forever (seen: ``tests/synthetic`` after
``tests/data/test_video_source.py``). The suite used to get this from
``benchmarks/loader.py``'s ``cv2.setNumThreads(1)`` in a test that happened to run first.

:func:`torch_threads_as_before` (an autouse fixture of both conftests) puts torch's thread
count back after each test: the benchmarks' ``--threads 1`` and the trainer's
``set_cpu_threads`` set it for the whole process, and float sums of later tests then come out
in another order (``tests/modeling/test_batch_norm.py`` failed after the benchmark tests).
"""

import os

import cv2
import pytest
import torch

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
torch.set_num_threads(min(2, os.cpu_count() or 1))
cv2.setNumThreads(1)


@pytest.fixture(autouse=True)
def torch_threads_as_before():
    """Restore torch's intra-op thread count after the test."""
    threads = torch.get_num_threads()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
