"""Weights: conversion from pytorchvideo / PySlowFast / PySlowFast-Caffe2 checkpoints, safe
loading, and the checkpointer that ``MODEL.WEIGHTS`` goes through."""

from .checkpointer import CheckpointMismatchError, SlowFastCheckpointer
from .convert import (
    SOURCE_FORMATS,
    CheckpointConversionError,
    convert_checkpoint_file,
    convert_pyslowfast,
    convert_pyslowfast_caffe2,
    convert_pytorchvideo,
    load_source_weights,
)
from .remote import WeightsDownloadError, local_weights
from .serialization import (
    RestrictedUnpickler,
    UnsafePickleError,
    atomic_torch_save,
    load_caffe2_pickle,
    safe_torch_load,
)

__all__ = [
    "SlowFastCheckpointer",
    "CheckpointMismatchError",
    "CheckpointConversionError",
    "SOURCE_FORMATS",
    "convert_checkpoint_file",
    "convert_pytorchvideo",
    "convert_pyslowfast",
    "convert_pyslowfast_caffe2",
    "load_source_weights",
    "WeightsDownloadError",
    "local_weights",
    "RestrictedUnpickler",
    "UnsafePickleError",
    "atomic_torch_save",
    "load_caffe2_pickle",
    "safe_torch_load",
]
