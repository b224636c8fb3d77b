"""Soak benchmark: the training data loader over the synthetic set for several epochs.

    .venv/bin/python tools/benchmark.py --task soak [--epochs 3] [--workers 2]
        [--config-file configs/synthetic/SLOWFAST_synthetic.yaml] [--max-growth-mb 64]
        [KEY VALUE ...]

Builds the real training loader (``build_ava_train_loader``: registration, the resumable
sampler, AVADatasetMapper, ``--workers`` DataLoader workers, ``SOLVER.IMS_PER_BATCH``
clips per batch) of the config (the synthetic set is generated first if absent), consumes
``--epochs`` full epochs and reads the resident memory (``VmRSS`` in ``/proc``; Linux) of
the main process and of each worker:

- ``first batch``: right after the first batch (workers started, caches cold);
- ``start``: after the first epoch (warm: decoder buffers, allocator pools in place);
- ``end``: after the last epoch.

Memory is flat when ``end - start`` stays within ``--max-growth-mb`` for the main process
and for the workers together (a leak of one sample's tensors per batch would add ~100 MB per
epoch on this set). Also reported: clips/s over the timed epochs and the data-issue counts.
"""

import os
import time

import torch

from slowfast_det.config import load_slowfast_cfg
from slowfast_det.data.build import build_ava_train_loader
from slowfast_det.engine.process_setup import prepare_data

TARGET_MAX_GROWTH_MB = 64.0


def add_arguments(parser):
    parser.add_argument(
        "--config-file", default=os.path.join("configs", "synthetic", "SLOWFAST_synthetic.yaml")
    )
    parser.add_argument(
        "--epochs", type=int, default=3, help="epochs to consume (>= 2: the first one warms up)"
    )
    parser.add_argument("--workers", type=int, default=2, help="DATALOADER.NUM_WORKERS")
    parser.add_argument(
        "--max-growth-mb",
        type=float,
        default=TARGET_MAX_GROWTH_MB,
        help="allowed RSS growth from the end of epoch 1 to the end (main process; workers summed)",
    )
    parser.add_argument("opts", nargs="*", default=[], help="config overrides: KEY VALUE ...")


def rss_mb(pid):
    """Resident set size of a process in MiB (VmRSS), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _children(pid):
    """PIDs of the live child processes of ``pid`` (the DataLoader workers)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # field 4 (ppid) follows the command name in parentheses, which may contain spaces
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return sorted(out)


def _measure(exclude=()):
    """(main RSS, {worker pid: RSS}); children in ``exclude`` (started before the loader:
    e.g. multiprocessing's resource tracker) are not workers."""
    main = os.getpid()
    workers = {pid: rss_mb(pid) for pid in _children(main) if pid not in exclude}
    return rss_mb(main), {p: r for p, r in workers.items() if r is not None}


def main(args):
    if args.epochs < 2:
        raise SystemExit("--epochs must be >= 2 (the first epoch is the warm-up)")
    if not os.path.isdir("/proc/self"):
        raise SystemExit("the soak benchmark reads /proc (Linux only)")
    torch.set_num_threads(1)
    cfg = load_slowfast_cfg(
        args.config_file, args.opts, values={"DATALOADER.NUM_WORKERS": args.workers}
    )
    prepare_data(cfg)

    loader = build_ava_train_loader(cfg)
    per_epoch = loader.iters_per_epoch
    batch = cfg.SOLVER.IMS_PER_BATCH
    print(
        f"soak: {per_epoch} batches of {batch} clips per epoch, {args.epochs} epochs, "
        f"{args.workers} workers"
    )
    others = set(_children(os.getpid()))
    it = iter(loader)
    next(it)
    first = _measure(others)
    for _ in range(per_epoch - 1):
        next(it)
    start = _measure(others)
    print(f"  epoch 1: main {start[0]:.1f} MiB, workers {sum(start[1].values()):.1f} MiB")
    t0 = time.perf_counter()
    peak_main, peak_workers = start[0], sum(start[1].values())
    for epoch in range(2, args.epochs + 1):
        for _ in range(per_epoch):
            next(it)
        main_rss, workers = _measure(others)
        peak_main, peak_workers = max(peak_main, main_rss), max(peak_workers, sum(workers.values()))
        print(
            f"  epoch {epoch}: main {main_rss:.1f} MiB, workers {sum(workers.values()):.1f} MiB "
            f"({', '.join(f'{r:.1f}' for r in workers.values())})"
        )
    seconds = time.perf_counter() - t0
    end = _measure(others)
    issues = dict(loader.issue_tracker.total)
    del it  # stops the workers

    if args.workers and (len(start[1]) != args.workers or sorted(start[1]) != sorted(end[1])):
        raise RuntimeError(
            f"expected the same {args.workers} worker processes throughout, "
            f"saw {sorted(start[1])} then {sorted(end[1])}"
        )
    growth_main = end[0] - start[0]
    growth_workers = sum(end[1].values()) - sum(start[1].values())
    flat = growth_main <= args.max_growth_mb and growth_workers <= args.max_growth_mb
    rows = [
        ("epochs (1 warm-up + timed)", args.epochs, "epochs"),
        ("batches per epoch", per_epoch, f"x {batch} clips"),
        ("DataLoader workers", args.workers, "processes"),
        ("main RSS at first batch", first[0], "MiB"),
        ("main RSS start (after epoch 1)", start[0], "MiB"),
        ("main RSS end", end[0], "MiB"),
        ("main RSS peak (epoch ends)", peak_main, "MiB"),
        ("main RSS growth start->end", growth_main, "MiB"),
        ("workers RSS at first batch (sum)", sum(first[1].values()), "MiB"),
        ("workers RSS start (sum)", sum(start[1].values()), "MiB"),
        ("workers RSS end (sum)", sum(end[1].values()), "MiB"),
        ("workers RSS peak (sum, epoch ends)", peak_workers, "MiB"),
        ("workers RSS growth start->end (sum)", growth_workers, "MiB"),
    ]
    for pid in sorted(end[1]):
        rows.append(
            (f"worker {pid} RSS start -> end", f"{start[1][pid]:.1f} -> {end[1][pid]:.1f}", "MiB")
        )
    rows += [
        (
            "loader throughput (timed epochs)",
            (args.epochs - 1) * per_epoch * batch / seconds,
            "clips/s",
        ),
        (
            "data issues (all epochs)",
            ", ".join(f"{k}={v}" for k, v in sorted(issues.items()) if v) or "none",
            "",
        ),
        (f"memory flat (growth <= {args.max_growth_mb:g} MiB)", "yes" if flat else "NO", ""),
    ]
    return rows
