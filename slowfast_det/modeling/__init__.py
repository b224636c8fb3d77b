"""Model components; importing this package registers them in Detectron2's registries:
``build_slowfast_backbone`` (BACKBONE_REGISTRY), ``ROIAlign3DHead`` (ROI_HEADS_REGISTRY),
``VideoActionDetector`` and ``VideoClassifier`` (META_ARCH_REGISTRY)."""

from .backbone import SlowFast, build_slowfast_backbone
from .classifier import VideoClassifier
from .layers import Conv3d, FrozenBatchNorm3d, NonLocalBlock3d, get_norm3d
from .meta_arch import VideoActionDetector
from .roi_head import ROIAlign3DHead, action_loss
from .video_head import VideoClassificationHead, classification_loss

__all__ = [
    "SlowFast",
    "build_slowfast_backbone",
    "ROIAlign3DHead",
    "action_loss",
    "VideoActionDetector",
    "VideoClassifier",
    "VideoClassificationHead",
    "classification_loss",
    "Conv3d",
    "FrozenBatchNorm3d",
    "NonLocalBlock3d",
    "get_norm3d",
]
