"""Synthetic AVA-format dataset: articulated people acting in cluttered rooms, written in
the real AVA v2.2 layout so that the normal AVA registration and mapper read it.

    from slowfast_det.synthetic import ensure_synthetic_dataset
    ensure_synthetic_dataset("datasets/synthetic_ava", seed=0)   # no-op when complete

See :mod:`slowfast_det.synthetic.scene` for the classes and the exact rules, and
``datasets/prepare_synthetic_ava.py`` for the command line.
"""

from .scene import CLASSES, MOTION_CLASS_IDS
from .spec import SyntheticSpec, build_video, default_root, keyframe_seconds, video_ids
from .writer import (
    GENERATOR_VERSION,
    MANIFEST_NAME,
    ensure_synthetic_dataset,
    generate,
    read_manifest,
)

__all__ = [
    "CLASSES",
    "MOTION_CLASS_IDS",
    "GENERATOR_VERSION",
    "MANIFEST_NAME",
    "SyntheticSpec",
    "build_video",
    "default_root",
    "ensure_synthetic_dataset",
    "generate",
    "keyframe_seconds",
    "read_manifest",
    "video_ids",
]
