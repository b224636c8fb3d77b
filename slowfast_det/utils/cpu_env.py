"""The CPU runtime environment, set before torch loads: every entry point calls
:func:`configure_cpu_threads` first.

libgomp (PyTorch's OpenMP runtime) reads ``OMP_WAIT_POLICY`` once, when torch loads it. Its
default spin-waiting makes every parallel region wait for a descheduled thread whenever there
are more busy threads than cores (a shared machine, or DataLoader workers next to the main
process): we measured a 0.04 ms op taking 5-20 ms with 2 threads on a loaded 2-core machine,
and 0.05 ms with ``PASSIVE``; an ``ActionPredictor`` call on the synthetic model took 0.82 s
instead of 0.128 s. With ``PASSIVE`` the default synthetic config trains 1.3x faster with 2
torch threads next to its loader worker than with 1 (``tools/benchmark.py --task train``).

oneDNN (PyTorch's CPU convolutions) keeps the primitives it builds for each input shape in an
LRU cache of 1024 by default. The first training step of the synthetic detector at a new batch
shape builds about 110 of them, so training over more than about nine batch shapes
(``INPUT.TRAIN_JITTER_PER_BATCH``: 25 short sides; multigrid's shapes) evicts and rebuilds them
all the time. With room for them README line 1 trains 1.09x faster and peaks 0.5 GiB lower
(docs/BENCHMARKS.md, "oneDNN's primitive cache"): :func:`configure_cpu_threads` sets
``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` to :data:`ONEDNN_PRIMITIVE_CACHE_CAPACITY` unless it (or its
older name ``DNNL_PRIMITIVE_CACHE_CAPACITY``) is set.

Library users call it (or export ``OMP_WAIT_POLICY=PASSIVE``) before importing torch::

    from slowfast_det.utils.cpu_env import configure_cpu_threads
    configure_cpu_threads()
    import torch  # and everything that imports it: detectron2, slowfast_det.config, ...

This module imports only the standard library (``slowfast_det`` and ``slowfast_det.utils``
import nothing heavy), so importing it does not load torch.
"""

import os
import sys

__all__ = ["configure_cpu_threads", "cpu_threads_configured", "onednn_cache_capacity"]

#: The value :func:`configure_cpu_threads` sets.
OMP_WAIT_POLICY = "PASSIVE"
#: The oneDNN primitive cache capacity :func:`configure_cpu_threads` sets (oneDNN's: 1024).
ONEDNN_PRIMITIVE_CACHE_CAPACITY = "8192"
#: The variables oneDNN reads its primitive cache capacity from, in the order it reads them.
CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "DNNL_PRIMITIVE_CACHE_CAPACITY")


def configure_cpu_threads():
    """Set ``OMP_WAIT_POLICY=PASSIVE`` and oneDNN's primitive cache capacity
    (:data:`ONEDNN_PRIMITIVE_CACHE_CAPACITY`) in ``os.environ`` for the torch about to be loaded.

    A value already in the environment wins. Called after torch has loaded it sets nothing
    (it would come too late), so the environment's value is always the one in effect
    (``benchmarks.machine.omp_policy`` reports it).

    Returns:
        the ``OMP_WAIT_POLICY`` now in the environment (None when torch was already loaded
        without one).
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
        if onednn_cache_capacity() is None:
            os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = ONEDNN_PRIMITIVE_CACHE_CAPACITY
    return os.environ.get("OMP_WAIT_POLICY")


def cpu_threads_configured():
    """True when ``OMP_WAIT_POLICY`` is set in the environment (by :func:`configure_cpu_threads`
    or by the user)."""
    return bool(os.environ.get("OMP_WAIT_POLICY"))


def onednn_cache_capacity():
    """The oneDNN primitive cache capacity set in the environment (the first of
    :data:`CACHE_VARIABLES` that is set), or None (oneDNN's default, 1024)."""
    return next((os.environ[n] for n in CACHE_VARIABLES if os.environ.get(n)), None)
