#!/usr/bin/env python
"""Train and evaluate SlowFast action detectors on AVA-format data.

    # the embedded default: synthetic AVA-format data, generated on first use
    python tools/train_ava.py --config-file configs/synthetic/SLOWFAST_synthetic.yaml
    # real AVA (frames and annotations under $DETECTRON2_DATASETS/ava), 8 GPUs
    python tools/train_ava.py --num-gpus 8 --config-file configs/AVA/SLOWFAST_32x2_R50.yaml
    # evaluate a checkpoint
    python tools/train_ava.py --config-file ... --eval-only MODEL.WEIGHTS model_final.pth

Detectron2 conventions: ``--resume``, ``--num-gpus`` (CPU processes with gloo when there is no
GPU), ``--num-machines``, ``--machine-rank``, ``--dist-url`` and trailing ``KEY VALUE``
config overrides. The last line printed is ``frame-mAP@0.5IOU: <value>``; the same value is
written to ``<OUTPUT_DIR>/final_metrics.json``.
"""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu_env  # noqa: E402,F401  (before torch: OMP_WAIT_POLICY=PASSIVE, see tools/cpu_env.py)

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import slowfast_det  # noqa: E402,F401  (registers the model and the datasets)
from detectron2.engine import default_argument_parser, default_setup, launch  # noqa: E402
from detectron2.utils import comm  # noqa: E402
from detectron2.utils.logger import setup_logger  # noqa: E402

from slowfast_det.config import load_slowfast_cfg  # noqa: E402
from slowfast_det.engine.trainer import METRIC_NAME, AVATrainer, write_final_metrics  # noqa: E402

logger = logging.getLogger("slowfast_det")


def setup(args):
    cfg = load_slowfast_cfg(args.config_file, args.opts)
    default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="slowfast_det")
    if cfg.MODEL.DEVICE == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        set_cpu_threads(cfg, comm.get_local_size())
    return cfg


def set_cpu_threads(cfg, local_processes):
    """On the CPU, give each training process its share of the cores. The DataLoader
    workers run next to these threads; with OMP_WAIT_POLICY=PASSIVE (tools/cpu_env.py)
    that oversubscription costs little, and on 2 cores the default synthetic config trains
    1.3x faster with 2 threads and a loader worker than with 1 thread (README, Benchmarks).
    OMP_NUM_THREADS, when set, wins."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // max(1, local_processes))
    torch.set_num_threads(threads)
    logger.info("CPU training: %d torch thread(s) per process (%d cores, %d loader workers, OMP_WAIT_POLICY=%s)",
                threads, cores, cfg.DATALOADER.NUM_WORKERS, os.environ.get("OMP_WAIT_POLICY"))


def prepare_data(cfg):
    """Generate the synthetic default data if the config uses it and it is absent (the
    datasets themselves are registered at import and used as registered)."""
    names = list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST)
    if cfg.AVA.GENERATE_SYNTHETIC_IF_MISSING and any(n.startswith("synthetic_ava") for n in names):
        from slowfast_det.synthetic import default_root, ensure_synthetic_dataset

        if comm.is_main_process():
            ensure_synthetic_dataset(default_root())
        comm.synchronize()


def main(args):
    cfg = setup(args)
    prepare_data(cfg)
    if args.eval_only:
        model = AVATrainer.build_model(cfg)
        AVATrainer.build_checkpointer(cfg, model).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = AVATrainer.test(cfg, model)
    else:
        trainer = AVATrainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        trainer.train()
        # AVATrainer's EvalHook evaluates after the last iteration and keeps the results.
        results = trainer.eval_results
    if comm.is_main_process():
        value = write_final_metrics(cfg, results)
        if value is not None:
            print(f"{METRIC_NAME}: {value:.4f}", flush=True)
    return results


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
