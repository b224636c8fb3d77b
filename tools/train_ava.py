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
AVA-format folder (``slowfast_det.data.custom.register_ava_folder``). The last line printed
is ``frame-mAP@0.5IOU: <value>``; the same value is written to ``<OUTPUT_DIR>/final_metrics.json``.
"""

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

# The command line is tools/train_net.py's (slowfast_det/engine/train_cli.py): the task comes
# from the config, so this script also trains classifiers; it stays for AVA's commands.
from slowfast_det.engine import train_cli
from slowfast_det.engine.train_cli import get_parser, main, run, setup  # noqa: F401


def check_before_building(args):
    """:func:`~slowfast_det.engine.train_cli.check_before_building` as ``train_ava``."""
    train_cli.check_before_building(args, prog="train_ava")


if __name__ == "__main__":
    run(get_parser().parse_args(), prog="train_ava")
