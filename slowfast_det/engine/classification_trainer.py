"""The trainer of video classifiers: :class:`AVATrainer` with the classification data and
evaluator, and :func:`trainer_class`, the task switch of ``tools/train_net.py``."""

import os

from slowfast_det.data import (
    build_classification_test_loader,
    build_classification_train_loader,
    check_video_num_classes,
)
from slowfast_det.evaluation.classification import (
    MAP_KEY,
    RESULTS_KEY,
    TOP1_KEY,
    ClassificationEvaluator,
)

from .trainer import AVATrainer

__all__ = ["VideoClassificationTrainer", "trainer_class", "CLASSIFIER_ARCH"]

#: ``MODEL.META_ARCHITECTURE`` of the classification task.
CLASSIFIER_ARCH = "VideoClassifier"


class VideoClassificationTrainer(AVATrainer):
    """:class:`AVATrainer` (DDP on CPUs, atomic checkpoints, resumable, non-finite guard,
    PreciseBN, evaluation hook) for :class:`~slowfast_det.modeling.VideoClassifier`; only the
    builders differ:

    * ``build_train_loader``: ``build_classification_train_loader(cfg)`` (clips ``{"clip",
      "label" | "labels"}``), which first checks ``MODEL.VIDEO_HEAD`` against the datasets'
      classes and labelling (``check_video_num_classes``); DefaultTrainer's PreciseBN hook
      builds its loader through it too, so the BN statistics are those of classification
      clips;
    * ``build_test_loader``: ``build_classification_test_loader(cfg, name)`` (one video per
      batch, its ``TEST.NUM_TEMPORAL_CLIPS x NUM_SPATIAL_CROPS`` views as ``"clips"``, which
      the model combines by ``TEST.ENSEMBLE_METHOD``);
    * ``build_evaluator``: :class:`~slowfast_det.evaluation.ClassificationEvaluator`
      (``results["classification"]``: top1 / top5 / mean_class_accuracy, or mAP).
    """

    RESULTS_KEY = RESULTS_KEY
    HEADLINE_METRICS = (TOP1_KEY, MAP_KEY)

    @classmethod
    def build_train_loader(cls, cfg):
        return build_classification_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        # the head against this dataset (--eval-only builds no train loader, which checks)
        only = cfg.clone()
        only.defrost()
        only.DATASETS.TRAIN, only.DATASETS.TEST = (), (dataset_name,)
        check_video_num_classes(only)
        return build_classification_test_loader(cfg, dataset_name)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        return ClassificationEvaluator(cfg, dataset_name, output_dir=output_folder)


def trainer_class(cfg):
    """The trainer of the config's task: :class:`VideoClassificationTrainer` for
    ``MODEL.META_ARCHITECTURE "VideoClassifier"``, else :class:`AVATrainer` (detection)."""
    if cfg.MODEL.META_ARCHITECTURE == CLASSIFIER_ARCH:
        return VideoClassificationTrainer
    return AVATrainer
