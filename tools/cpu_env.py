"""CPU threading environment shared by the training and benchmark scripts.

Import this module before anything imports torch (the package ``slowfast_det`` imports it, so
this module lives beside the scripts, which find it as their sibling). libgomp (PyTorch's
OpenMP runtime) reads ``OMP_WAIT_POLICY`` once, when torch loads it. Its default spin-waiting
makes every parallel region wait for a descheduled thread whenever there are more busy threads
than cores (a shared machine, or DataLoader workers next to the main process): we measured a
0.04 ms op taking 5-20 ms with 2 threads on a loaded 2-core machine, and 0.05 ms with
``PASSIVE``. With ``PASSIVE`` the default synthetic config trains 1.3x faster with 2 torch
threads next to its loader worker than with 1 (``tools/benchmark.py --task train``). A value
already set in the environment wins. Imported after torch, it sets nothing (it would come too
late), so the environment's value is always the one in effect
(``benchmarks.machine.omp_policy`` reports it).
"""
import os
import sys

if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
