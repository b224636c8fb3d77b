"""Training benchmark (``tools/benchmark.py --task train``): iterations per second of a
training config and the split of each iteration into waiting for data and computing,
from the metrics Detectron2's trainer records itself.

    .venv/bin/python tools/benchmark.py --task train
    .venv/bin/python tools/benchmark.py --task train --threads 1 --iters 40
    .venv/bin/python tools/benchmark.py --task train \\
        --config-file configs/AVA/SLOWFAST_32x2_R50.yaml \\
        --device cuda --opts SOLVER.IMS_PER_BATCH 8      # GPU: clips/s and peak memory

It trains ``--config-file`` (default: the embedded synthetic SlowFast,
``configs/synthetic/SLOWFAST_synthetic.yaml``, generating its data if missing) with
:class:`slowfast_det.engine.trainer.AVATrainer` (a classifier config: with
:class:`~slowfast_det.engine.classification_trainer.VideoClassificationTrainer`, as
``tools/train_net.py``; e.g. ``--config-file configs/synthetic/SLOWFAST_cls_synthetic.yaml``)
for ``--warmup + --iters`` iterations into a temporary OUTPUT_DIR, with evaluation off, and
reads back the trainer's EventStorage:

- ``data_time``: seconds ``SimpleTrainer.run_step`` waited for the next batch;
- ``time``: seconds of the whole iteration (``IterationTimer`` hook: data, forward, backward,
  optimizer step and hooks).

``--parts step peer`` time the bare training step instead: with and without channels-last
(:mod:`benchmarks.train_step`), and against pytorchvideo's detector on the same batch
(:mod:`benchmarks.train_peer`);
``--parts shapes`` the step over batches of every per-batch short side (oneDNN's primitive
cache); ``--parts bf16`` the step in float32 and with ``SOLVER.AMP.ENABLED`` (bfloat16 autocast
on a CPU: :mod:`benchmarks.train_bf16`).

    .venv/bin/python tools/benchmark.py --task train --parts step peer --threads 2

compute = time - data_time. Figures are medians over the last ``--iters`` iterations; the
data-wait share is sum(data_time) / sum(time) over them. Data loading is the bottleneck
when that share exceeds ``--bottleneck-share`` (default 0.1). On CUDA the peak memory
(``torch.cuda.max_memory_allocated``) is reported too.

Torch threads: as ``tools/train_ava.py`` sets them on the CPU (the cores left after the
loader workers) unless ``--threads`` or ``OMP_NUM_THREADS`` says otherwise. ``tools/benchmark.py``
sets ``OMP_WAIT_POLICY=PASSIVE`` before torch loads unless the environment sets it
(``slowfast_det.utils.cpu_env.configure_cpu_threads``; the value in effect is reported).
"""

import os
import shutil
import statistics
import tempfile

import torch
from detectron2.utils.logger import setup_logger

from benchmarks import REPO
from benchmarks.machine import load_avg, omp_row
from benchmarks.train_bf16 import part_bf16
from benchmarks.train_peer import part_peer
from benchmarks.train_step import (
    add_step_arguments,
    part_levers,
    part_shapes,
    part_step,
)
from slowfast_det.config import load_slowfast_cfg
from slowfast_det.engine.classification_trainer import trainer_class
from slowfast_det.engine.process_setup import prepare_data, set_cpu_threads

DEFAULT_CONFIG = os.path.join(REPO, "configs", "synthetic", "SLOWFAST_synthetic.yaml")


PARTS = ("loop", "step", "levers", "peer", "shapes", "bf16")


def add_arguments(parser):
    parser.add_argument("--config-file", default=DEFAULT_CONFIG)
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=["loop"],
        help="loop: the trainer's iterations; step / levers / shapes: benchmarks.train_step; "
        "peer: benchmarks.train_peer; bf16: benchmarks.train_bf16",
    )
    parser.add_argument("--iters", type=int, default=30, help="measured iterations")
    parser.add_argument("--warmup", type=int, default=5, help="iterations before the measured ones")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of the training process (default: as tools/train_ava.py sets them)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="DATALOADER.NUM_WORKERS (default: the config's)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--bottleneck-share",
        type=float,
        default=0.1,
        help="data-wait share of the iteration above which loading is called the bottleneck",
    )
    parser.add_argument(
        "--output-dir",
        default=None,
        help="keep the run's OUTPUT_DIR here (default: a temp dir, removed)",
    )
    parser.add_argument(
        "--opts", nargs="*", default=[], help="extra config overrides KEY VALUE ..."
    )
    add_step_arguments(parser)


def setup_cfg(args, output_dir):
    values = {
        "MODEL.DEVICE": args.device,
        "SOLVER.MAX_ITER": args.warmup + args.iters,
        "SOLVER.CHECKPOINT_PERIOD": 10**9,  # only the final checkpoint (written after timing)
        "TEST.EVAL_PERIOD": 0,
        "DATASETS.TEST": (),  # no evaluation after the last iteration
        "OUTPUT_DIR": output_dir,
    }
    if args.workers is not None:
        values["DATALOADER.NUM_WORKERS"] = args.workers
    return load_slowfast_cfg(args.config_file, args.opts, values=values)


def iteration_metrics(storage, first_iter: int):
    """(time, data_time) per iteration >= ``first_iter`` from a Detectron2 EventStorage."""
    names = storage.histories()
    for key in ("time", "data_time"):
        if key not in names:
            raise RuntimeError(
                f"the trainer recorded no '{key}' metric (recorded: {sorted(names)}); "
                "is detectron2's IterationTimer hook / SimpleTrainer in use?"
            )
    data_time = {it: v for v, it in storage.history("data_time").values()}
    pairs = [
        (v, data_time[it])
        for v, it in storage.history("time").values()
        if it >= first_iter and it in data_time
    ]
    if not pairs:
        raise RuntimeError(f"no iteration >= {first_iter} has both 'time' and 'data_time'")
    return [p[0] for p in pairs], [p[1] for p in pairs]


def main(args):
    rows = []
    if args.threads:
        torch.set_num_threads(args.threads)
    for part in args.parts:
        print(f"[benchmark_train] {part} ...", flush=True)
        if part == "loop":
            rows += part_loop(args)
        elif part == "step":
            part_step(args, rows)
        elif part == "levers":
            part_levers(args, rows)
        elif part == "peer":
            part_peer(args, rows)
        elif part == "shapes":
            part_shapes(args, rows)
        elif part == "bf16":
            part_bf16(args, rows)
    if args.parts != ["loop"]:
        rows += [
            ["torch threads", torch.get_num_threads(), ""],
            omp_row(),
            ["load average (1, 5, 15 min) at end", load_avg(), ""],
        ]
    return rows


def part_loop(args):
    setup_logger(name="detectron2")
    setup_logger(name="slowfast_det")
    output_dir = args.output_dir or tempfile.mkdtemp(prefix="benchmark_train_")
    load_start = load_avg()
    try:
        cfg = setup_cfg(args, output_dir)
        if not args.threads and cfg.MODEL.DEVICE == "cpu" and "OMP_NUM_THREADS" not in os.environ:
            set_cpu_threads(cfg, 1)  # what tools/train_ava.py does (one process)
        prepare_data(cfg)
        trainer = trainer_class(cfg)(cfg)  # the task from the config, as tools/train_net.py
        trainer.resume_or_load(resume=False)
        if cfg.MODEL.DEVICE.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
        times, data_times = iteration_metrics(trainer.storage, args.warmup)
    finally:
        if args.output_dir is None:
            shutil.rmtree(output_dir, ignore_errors=True)
    compute = [t - d for t, d in zip(times, data_times)]
    share = sum(data_times) / sum(times)
    batch = cfg.SOLVER.IMS_PER_BATCH
    med = statistics.median(times)
    rows = [
        ["config", os.path.relpath(args.config_file, REPO), ""],
        [
            "device",
            cfg.MODEL.DEVICE
            if not cfg.MODEL.DEVICE.startswith("cuda")
            else torch.cuda.get_device_name(),
            "",
        ],
        ["torch threads (training process)", torch.get_num_threads(), ""],
        omp_row(),
        ["DATALOADER.NUM_WORKERS", cfg.DATALOADER.NUM_WORKERS, ""],
        ["clips per iteration (SOLVER.IMS_PER_BATCH)", batch, ""],
        ["load average (1, 5, 15 min) at start / end", f"{load_start} / {load_avg()}", ""],
        [f"iterations measured (after {args.warmup} warm-up)", len(times), ""],
        ["iterations per second (1 / median iteration time)", 1.0 / med, "it/s"],
        ["clips per second", batch / med, "clips/s"],
        ["median iteration time", med, "s"],
        ["median data wait (detectron2 data_time)", statistics.median(data_times), "s"],
        ["median compute (time - data_time)", statistics.median(compute), "s"],
        ["data-wait share of the iteration time", share, "ratio"],
        [
            f"data loading is the bottleneck (share > {args.bottleneck_share})",
            "yes" if share > args.bottleneck_share else "no",
            "",
        ],
    ]
    if cfg.MODEL.DEVICE.startswith("cuda"):
        rows.append(
            [
                "peak memory (torch.cuda.max_memory_allocated)",
                torch.cuda.max_memory_allocated() / 1024**3,
                "GiB",
            ]
        )
    return rows
