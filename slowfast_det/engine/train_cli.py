"""The training command line shared by ``tools/train_net.py`` and ``tools/train_ava.py``:
Detectron2's flags (``--config-file``, ``--resume``, ``--eval-only``, ``--num-gpus``,
``--num-machines``, ``--machine-rank``, ``--dist-url``, trailing ``KEY VALUE`` overrides) plus
``--register-ava``; the task comes from the config (:func:`trainer_class`: a
``VideoClassifier`` trains and evaluates as a classifier, anything else as an AVA detector).
The last line printed is the headline metric (``frame-mAP@0.5IOU: <value>``, ``top1:
<value>`` or ``mAP: <value>``), also written to ``<OUTPUT_DIR>/final_metrics.json``.

The tools call :func:`slowfast_det.utils.cpu_env.configure_cpu_threads` before importing this.
"""

import os
import sys

from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

import slowfast_det.data  # noqa: F401  (registers the built-in datasets)
from slowfast_det.ava.errors import AVAFormatError
from slowfast_det.config import load_slowfast_cfg
from slowfast_det.data.custom import (
    CustomDatasetError,
    check_num_classes,
    parse_folder_spec,
    register_ava_folder,
)

from .classification_trainer import trainer_class
from .process_setup import exit_distributed_worker, prepare_data, set_cpu_threads
from .trainer import final_metric, write_final_metrics

__all__ = ["get_parser", "setup", "main", "run", "check_before_building"]


def setup(args):
    """The frozen config of ``args`` (file, overrides), Detectron2's ``default_setup``
    (output folder, logs, seed), ``--register-ava`` folders, CPU threads."""
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


def check_before_building(args, prog="train"):
    """What can be checked before a model is built, in the launching process: the folders
    register and, for a detector, ``MODEL.ROI_HEADS.NUM_CLASSES`` covers the label maps of the
    datasets of ``DATASETS.TRAIN`` / ``TEST``. Exits with status 2 and the message alone (no
    traceback), prefixed with ``prog``."""
    try:
        register_folders(args)
        cfg = load_slowfast_cfg(args.config_file, args.opts)
        if cfg.MODEL.META_ARCHITECTURE != "VideoClassifier":
            datasets = list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST)
            check_num_classes(cfg.MODEL.ROI_HEADS.NUM_CLASSES, datasets)
    except (CustomDatasetError, AVAFormatError, FileNotFoundError) as e:
        print(f"{prog}: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


def main(args):
    """Train (or with ``--eval-only`` evaluate ``MODEL.WEIGHTS``) in this process; returns
    the evaluation results. Rank 0 writes ``final_metrics.json`` and prints the headline."""
    cfg = setup(args)
    prepare_data(cfg)
    trainer_cls = trainer_class(cfg)
    if args.eval_only:
        model = trainer_cls.build_model(cfg)
        trainer_cls.build_checkpointer(cfg, model).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        results = trainer_cls.test(cfg, model)
    else:
        trainer = trainer_cls(cfg)
        trainer.resume_or_load(resume=args.resume)
        trainer.train()
        # The trainer's EvalHook evaluates after the last iteration and keeps the results.
        results = trainer.eval_results
    if comm.is_main_process():
        keys = dict(results_key=trainer_cls.RESULTS_KEY, metric_names=trainer_cls.HEADLINE_METRICS)
        value = write_final_metrics(cfg, results, **keys)
        if value is not None:
            name = final_metric(cfg, results, **keys)[0]
            print(f"{name}: {value:.4f}", flush=True)
    exit_distributed_worker()  # a rank's process ends here (multi-process runs only)
    return results


def get_parser():
    """Detectron2's ``default_argument_parser`` plus ``--register-ava``."""
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


def run(args, prog="train"):
    """:func:`check_before_building`, then :func:`main` in ``--num-gpus`` processes per
    machine (Detectron2's ``launch``)."""
    check_before_building(args, prog)
    return launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
