"""AVA data: file readers, dataset registration, clip mapper, loaders, data checks.

Importing this package registers the built-in AVA datasets in DatasetCatalog (``datasets``
does, lazily: only file names are recorded). The file readers themselves are in
:mod:`slowfast_det.ava` (no torch, no Detectron2).
"""

from .build import build_ava_test_loader, build_ava_train_loader
from .checker import AVACheckReport, check_ava_dataset
from .datasets import (
    AVAMetadata,
    load_ava_dicts,
    register_ava_dataset,
    registered_ava_datasets,
    unregister_ava_dataset,
)
from .frames import FrameTable, clip_frame_indices, frames_source, keyframe_index
from .issues import DataIssuesHook, DataIssueTracker, IssueTrackingLoader
from .mapper import AVADatasetMapper

__all__ = [
    "AVACheckReport",
    "AVADatasetMapper",
    "AVAMetadata",
    "DataIssueTracker",
    "DataIssuesHook",
    "FrameTable",
    "IssueTrackingLoader",
    "build_ava_test_loader",
    "build_ava_train_loader",
    "check_ava_dataset",
    "clip_frame_indices",
    "frames_source",
    "keyframe_index",
    "load_ava_dicts",
    "register_ava_dataset",
    "registered_ava_datasets",
    "unregister_ava_dataset",
]
