"""The tests' process settings, imported for its effect by tests/conftest.py and
benchmarks/tests/conftest.py: everything runs on the CPU (no CUDA device visible) with at most
2 torch threads."""

import os

import torch

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
torch.set_num_threads(min(2, os.cpu_count() or 1))
