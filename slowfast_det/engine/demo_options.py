"""The demo's own settings (:class:`DemoOptions`, ``tools/demo.py``'s flags, not config
keys) and the action names it draws (:func:`class_names_from_cfg`); used by
:class:`~slowfast_det.engine.demo_runner.VideoActionDemo`."""

import logging
import os
from dataclasses import dataclass, fields

from detectron2.data import MetadataCatalog

from slowfast_det.ava.io import read_label_map

from .tracking import TRACKERS

__all__ = ["DemoOptions", "NO_TRACKER", "class_names_from_cfg"]

logger = logging.getLogger(__name__)

#: ``DemoOptions.tracker`` value that turns tracking off.
NO_TRACKER = "none"


@dataclass
class DemoOptions:
    """The demo's own settings; ``tools/demo.py`` has a flag for each (``--top-k`` sets
    ``top_k``), documented in its ``--help``, with these defaults.

    Attributes:
        detector_config: Detectron2 person detector, a config file or model-zoo name
            ("" = the boxes come from a CSV).
        detector_weights: its weights (path or URL); "" = the zoo's weights for a zoo name.
        detector_person_class: index of "person" in the detector's classes (0 for COCO).
        action_score_thresh: draw actions with score >= this (the CSV has every score).
        top_k: at most this many actions drawn per person, best first.
        label_map: label map (.pbtxt) naming the actions; "" = the one of
            ``DATASETS.TEST[0]`` if on disk, else ids (all classes).
        min_output_size: output short side; smaller videos are upscaled (0 = input size).
        tracker: person ids across keyframes: "hungarian" (IoU-weighted Hungarian
            assignment; fewer id switches on the synthetic demo video), "iou" (greedy) or
            "none" (no tracking, no ids).
        track_iou_thresh: a box continues a track when its IoU with the track's last box
            is at least this.
        track_max_lost: keyframes a track may go unseen and still be continued.
        smooth_scores_over: mean of a track's scores over its last k keyframes (0 or 1 = off).
    """

    detector_config: str = ""
    detector_weights: str = ""
    detector_person_class: int = 0
    action_score_thresh: float = 0.5
    top_k: int = 3
    label_map: str = ""
    min_output_size: int = 480
    tracker: str = "hungarian"
    track_iou_thresh: float = 0.3
    track_max_lost: int = 1
    smooth_scores_over: int = 0

    def __post_init__(self):
        if self.tracker != NO_TRACKER and self.tracker not in TRACKERS:
            raise ValueError(
                f"unknown tracker {self.tracker!r}; choose one of {sorted(TRACKERS) + [NO_TRACKER]}"
            )

    @property
    def tracking(self):
        """True unless ``tracker`` is "none"."""
        return self.tracker != NO_TRACKER

    @classmethod
    def from_namespace(cls, args):
        """The options of an ``argparse`` namespace that has an attribute per field."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def class_names_from_cfg(cfg, label_map=""):
    """Action names (dict id -> name): ``label_map`` if given, else the label map of the
    first test dataset (``DATASETS.TEST[0]``) if it is on disk, else none (ids are shown)."""
    if label_map:
        return read_label_map(label_map)[0]
    if len(cfg.DATASETS.TEST):
        path = MetadataCatalog.get(cfg.DATASETS.TEST[0]).get("label_map_file")
        if path and os.path.exists(path):
            logger.info("action names from the label map of %s: %s", cfg.DATASETS.TEST[0], path)
            return read_label_map(path)[0]
    return {}
