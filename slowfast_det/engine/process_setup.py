"""Per-process set-up and end of a training run: torch threads on the CPU, the embedded
synthetic data, and leaving a rank's process (``tools/train_ava.py`` and the benchmarks that
train)."""

import logging
import os
import sys

import torch
from detectron2.utils import comm

from slowfast_det.synthetic import default_root, ensure_synthetic_dataset
from slowfast_det.synthetic.classification import DATASET_NAMES as SYNTHETIC_CLS_NAMES
from slowfast_det.synthetic.classification import (
    ensure_synthetic_classification,
    register_synthetic_classification,
)

__all__ = ["prepare_data", "set_cpu_threads", "exit_distributed_worker"]

logger = logging.getLogger(__name__)


def set_cpu_threads(cfg, local_processes):
    """On the CPU, give each training process its share of the cores. The DataLoader
    workers run next to these threads; with OMP_WAIT_POLICY=PASSIVE (set by
    :func:`slowfast_det.utils.cpu_env.configure_cpu_threads`, which the tools call first)
    that oversubscription costs little, and on 2 cores the default synthetic config trains
    1.3x faster with 2 threads and a loader worker than with 1 thread (README, Benchmarks).
    OMP_NUM_THREADS, when set, wins (the caller checks it)."""
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    threads = max(1, cores // max(1, local_processes))
    torch.set_num_threads(threads)
    logger.info(
        "CPU training: %d torch thread(s) per process (%d cores, %d loader workers, "
        "OMP_WAIT_POLICY=%s)",
        threads,
        cores,
        cfg.DATALOADER.NUM_WORKERS,
        os.environ.get("OMP_WAIT_POLICY"),
    )


def prepare_data(cfg):
    """Generate the synthetic default data the config uses when it is absent (on the main
    process, the others wait; ``AVA.GENERATE_SYNTHETIC_IF_MISSING``), and register the
    synthetic classification set (``synthetic_cls_{train,val}``, lazily; the AVA datasets are
    registered at import). Datasets are used as registered."""
    names = list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST)
    ava = any(n.startswith("synthetic_ava") for n in names)
    cls = any(n in SYNTHETIC_CLS_NAMES.values() for n in names)
    if cfg.AVA.GENERATE_SYNTHETIC_IF_MISSING and (ava or cls):
        if comm.is_main_process():
            if ava:
                ensure_synthetic_dataset(default_root())
            if cls:
                ensure_synthetic_classification()
        comm.synchronize()
    register_synthetic_classification()


def exit_distributed_worker():
    """End this rank's process of a multi-process run (Detectron2's ``launch`` runs one per
    rank) once every rank has written its results, without the interpreter's teardown:
    with torch 2.14 and gloo, tearing down the process group at exit sometimes aborts the
    process (SIGABRT, "terminate called without an active exception") after all work is done,
    and the launcher then reports the run as failed. Flushes the log files and the standard
    streams first. Does nothing in a single-process run."""
    if comm.get_world_size() <= 1:
        return
    comm.synchronize()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
