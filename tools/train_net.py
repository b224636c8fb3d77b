#!/usr/bin/env python
"""Train and evaluate SlowFast models: video classifiers (Kinetics, Charades, the synthetic
classification set) and AVA action detectors; the task comes from the config
(``MODEL.META_ARCHITECTURE "VideoClassifier"``: classification, else AVA detection).

    # the classifier's embedded default: the synthetic classification set, generated on first use
    python tools/train_net.py --config-file configs/synthetic/SLOWFAST_cls_synthetic.yaml
    # Kinetics-400 (PySlowFast's layout under $DETECTRON2_DATASETS/kinetics400), 8 GPUs
    python tools/train_net.py --num-gpus 8 --config-file configs/Kinetics/SLOWFAST_8x8_R50.yaml
    # evaluate a checkpoint (TEST.NUM_TEMPORAL_CLIPS x NUM_SPATIAL_CROPS views per video)
    python tools/train_net.py --config-file ... --eval-only MODEL.WEIGHTS model_final.pth
    # AVA detection, exactly as tools/train_ava.py
    python tools/train_net.py --config-file configs/synthetic/SLOWFAST_synthetic.yaml

Detectron2 conventions: ``--resume``, ``--num-gpus`` (CPU processes with gloo when there is no
GPU), ``--num-machines``, ``--machine-rank``, ``--dist-url`` and trailing ``KEY VALUE``
config overrides; ``--register-ava NAME=ROOT`` as in tools/train_ava.py (the same command line:
``slowfast_det/engine/train_cli.py``). The last line printed is the headline metric:
``top1: <value>`` (single-label; ``mAP: <value>`` multi-label) or ``frame-mAP@0.5IOU:
<value>``, a fraction in [0, 1], also written to ``<OUTPUT_DIR>/final_metrics.json``; the
classification evaluator's per-video predictions CSV and results JSON are in
``<OUTPUT_DIR>/inference/<dataset>/``.
"""

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from slowfast_det.engine import train_cli
from slowfast_det.engine.train_cli import get_parser, main, run, setup  # noqa: F401


def check_before_building(args):
    """:func:`~slowfast_det.engine.train_cli.check_before_building` as ``train_net``."""
    train_cli.check_before_building(args, prog="train_net")


if __name__ == "__main__":
    run(get_parser().parse_args(), prog="train_net")
