"""The CPU threading environment, set before torch loads: every entry point calls
:func:`configure_cpu_threads` first.

libgomp (PyTorch's OpenMP runtime) reads ``OMP_WAIT_POLICY`` once, when torch loads it. Its
default spin-waiting makes every parallel region wait for a descheduled thread whenever there
are more busy threads than cores (a shared machine, or DataLoader workers next to the main
process): we measured a 0.04 ms op taking 5-20 ms with 2 threads on a loaded 2-core machine,
and 0.05 ms with ``PASSIVE``; an ``ActionPredictor`` call on the synthetic model took 0.82 s
instead of 0.128 s. With ``PASSIVE`` the default synthetic config trains 1.3x faster with 2
torch threads next to its loader worker than with 1 (``tools/benchmark.py --task train``).

Library users call it (or export ``OMP_WAIT_POLICY=PASSIVE``) before importing torch::

    from slowfast_det.utils.cpu_env import configure_cpu_threads
    configure_cpu_threads()
    import torch  # and everything that imports it: detectron2, slowfast_det.config, ...

This module imports only the standard library (``slowfast_det`` and ``slowfast_det.utils``
import nothing heavy), so importing it does not load torch.
"""

import os
import sys

__all__ = ["configure_cpu_threads", "cpu_threads_configured"]

#: The value :func:`configure_cpu_threads` sets.
OMP_WAIT_POLICY = "PASSIVE"


def configure_cpu_threads():
    """Set ``OMP_WAIT_POLICY=PASSIVE`` in ``os.environ`` for the torch about to be loaded.

    A value already in the environment wins. Called after torch has loaded it sets nothing
    (it would come too late), so the environment's value is always the one in effect
    (``benchmarks.machine.omp_policy`` reports it).

    Returns:
        the ``OMP_WAIT_POLICY`` now in the environment (None when torch was already loaded
        without one).
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    return os.environ.get("OMP_WAIT_POLICY")


def cpu_threads_configured():
    """True when ``OMP_WAIT_POLICY`` is set in the environment (by :func:`configure_cpu_threads`
    or by the user)."""
    return bool(os.environ.get("OMP_WAIT_POLICY"))
