"""AVA and video-classification data: dataset registration, clip mappers, loaders, data checks.

Importing this package registers the built-in AVA datasets (``datasets``) and classification
datasets (``classification``: ``kinetics400_*``, ``charades_*``) in DatasetCatalog, lazily:
only file names are recorded. The AVA file readers themselves are in :mod:`slowfast_det.ava`
(no torch, no Detectron2).
"""

from .ava_dicts import load_ava_dicts
from .build import build_ava_test_loader, build_ava_train_loader
from .build_classification import (
    build_classification_test_loader,
    build_classification_train_loader,
)
from .checker import check_ava_dataset
from .checker_report import AVACheckReport
from .classification import (
    check_video_num_classes,
    register_video_list,
    registered_video_datasets,
    unregister_video_dataset,
)
from .classification_mapper import ClassificationMapper
from .datasets import (
    AVAMetadata,
    register_ava_dataset,
    registered_ava_datasets,
    unregister_ava_dataset,
)
from .frames import FrameTable, clip_frame_indices, frames_source, keyframe_index
from .issues import DataIssuesHook, DataIssueTracker, IssueTrackingLoader
from .label_names import read_label_names
from .mapper import AVADatasetMapper
from .video_lists import VIDEO_LIST_FORMATS, read_video_list

__all__ = [
    "AVACheckReport",
    "AVADatasetMapper",
    "AVAMetadata",
    "ClassificationMapper",
    "VIDEO_LIST_FORMATS",
    "DataIssueTracker",
    "DataIssuesHook",
    "FrameTable",
    "IssueTrackingLoader",
    "build_ava_test_loader",
    "build_ava_train_loader",
    "build_classification_test_loader",
    "build_classification_train_loader",
    "check_ava_dataset",
    "check_video_num_classes",
    "clip_frame_indices",
    "frames_source",
    "keyframe_index",
    "load_ava_dicts",
    "read_label_names",
    "read_video_list",
    "register_ava_dataset",
    "register_video_list",
    "registered_ava_datasets",
    "registered_video_datasets",
    "unregister_ava_dataset",
    "unregister_video_dataset",
]
