"""AVA data: file readers, dataset registration, clip mapper, loaders, data checks.

Importing this package registers the built-in AVA datasets (lazily, see ``datasets``).
"""
from slowfast_det import LIGHT_IMPORT

from slowfast_det.ava import io as ava_io  # noqa: F401

if not LIGHT_IMPORT:  # SLOWFAST_DET_LIGHT_IMPORT=1: only ava_io (see slowfast_det/__init__.py)
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
    from .issues import DataIssueTracker, DataIssuesHook, IssueTrackingLoader
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
