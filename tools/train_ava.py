#!/usr/bin/env python
"""Train and evaluate SlowFast action detectors on AVA-format data.

    # the embedded default: synthetic AVA-format data, generated on first use
    python tools/train_ava.py --config-file configs/synthetic/SLOWFAST_synthetic.yaml
    # real AVA (frames and annotations under $DETECTRON2_DATASETS/ava), 8 GPUs
    python tools/train_ava.py --num-gpus 8 --config-file configs/AVA/SLOWFAST_32x2_R50.yaml
    # evaluate a checkpoint
    python tools/train_ava.py --config-file ... --eval-only MODEL.WEIGHTS model_final.pth
    # from the movies instead of extracted frames: the built-ins' _video datasets
    python tools/train_ava.py --config-file configs/AVA/SLOWFAST_32x2_R50.yaml \
        DATASETS.TRAIN "('ava_v2.2_train_video',)" DATASETS.TEST "('ava_v2.2_val_video',)"
    # your own AVA-format folder (tools/make_ava_folder.py): registers my_train, my_val (frames)
    # and my_train_video, my_val_video (movies)
    python tools/train_ava.py --config-file configs/AVA/SLOWFAST_32x2_R50.yaml \
        --register-ava my=path/to/my_ava \
        DATASETS.TRAIN "('my_train_video',)" DATASETS.TEST "('my_val_video',)" \
        MODEL.ROI_HEADS.NUM_CLASSES <largest label id> MODEL.WEIGHTS converted_kinetics.pth

Detectron2 conventions: ``--resume``, ``--num-gpus`` (CPU processes with gloo when there is no
GPU), ``--num-machines``, ``--machine-rank``, ``--dist-url`` and trailing ``KEY VALUE``
config overrides; ``--register-ava NAME=ROOT`` (repeatable) registers the splits of an
AVA-format folder (``slowfast_det.data.custom.register_ava_folder``; ``NAME=ROOT:START`` gives the
movie second of the extracted frames' first frame, else ``frame_lists/frames.json`` says it). Before
any model is built, a ``MODEL.ROI_HEADS.NUM_CLASSES`` below a dataset's largest label id stops
with the value to set (exit status 2). The last line printed
is ``frame-mAP@0.5IOU: <value>``; the same value is written to ``<OUTPUT_DIR>/final_metrics.json``.
"""

import logging
import os
import sys

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

import slowfast_det.data  # noqa: F401  (registers the built-in AVA datasets)
from slowfast_det.ava.errors import AVAFormatError
from slowfast_det.config import load_slowfast_cfg
from slowfast_det.data.custom import (
    CustomDatasetError,
    check_num_classes,
    parse_folder_spec,
    register_ava_folder,
)
from slowfast_det.engine.process_setup import exit_distributed_worker, prepare_data, set_cpu_threads
from slowfast_det.engine.trainer import METRIC_NAME, AVATrainer, write_final_metrics

logger = logging.getLogger("slowfast_det")


def setup(args):
    cfg = load_slowfast_cfg(args.config_file, args.opts)
    default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="slowfast_det")
    register_folders(args)  # in every process: launch() runs main() in each
    if cfg.MODEL.DEVICE == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        set_cpu_threads(cfg, comm.get_local_size())
    return cfg


def register_folders(args):
    """``--register-ava NAME=ROOT[:START]``: register each folder's splits."""
    for spec in args.register_ava:
        name, root, start = parse_folder_spec(spec)
        register_ava_folder(name, root, start_second=start)


def check_before_building(args):
    """What can be checked before a model is built, in the launching process: the folders
    register and ``MODEL.ROI_HEADS.NUM_CLASSES`` covers the label maps of the datasets of
    ``DATASETS.TRAIN`` / ``TEST``. Exits with status 2 and the message alone (no traceback)."""
    try:
        register_folders(args)
        cfg = load_slowfast_cfg(args.config_file, args.opts)
        check_num_classes(
            cfg.MODEL.ROI_HEADS.NUM_CLASSES, list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST)
        )
    except (CustomDatasetError, AVAFormatError, FileNotFoundError) as e:
        print(f"train_ava: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


def main(args):
    cfg = setup(args)
    prepare_data(cfg)
    if args.eval_only:
        model = AVATrainer.build_model(cfg)
        AVATrainer.build_checkpointer(cfg, model).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
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
    exit_distributed_worker()  # a rank's process ends here (multi-process runs only)
    return results


def get_parser():
    parser = default_argument_parser()
    parser.add_argument(
        "--register-ava",
        action="append",
        default=[],
        metavar="NAME=ROOT[:START]",
        help="register the splits of the AVA-format folder ROOT as NAME_<split> "
        "(extracted frames) and NAME_<split>_video (the movies); name them in "
        "DATASETS.TRAIN / TEST; repeatable. START: the movie second of the frames' first "
        "frame (default: frame_lists/frames.json, written by datasets/prepare_ava.py, else 900)",
    )
    return parser


if __name__ == "__main__":
    args = get_parser().parse_args()
    check_before_building(args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
