"""The clip-level steps every mapper shares: the training augmentations, the sampled geometric
transform as an affine map, the colour-jitter draw and the clip tensor.

:class:`~.mapper.AVADatasetMapper` (AVA keyframe clips) and
:class:`~.classification_mapper.ClassificationMapper` (whole-video classification) sample the
same transforms with the same code, so a clip of either task is resized, cropped, flipped and
jittered by one rule.
"""

import sys

import numpy as np
import torch
from detectron2.data import transforms as T
from fvcore.transforms.transform import HFlipTransform, NoOpTransform, VFlipTransform

__all__ = [
    "ShapeOnlyInput",
    "axis_affine",
    "new_clip_tensor",
    "sample_clip_transform",
    "sample_color_jitter",
    "train_augmentations",
]


def train_augmentations(jitter_scales, crop_size, flip_prob):
    """The training augmentations (Detectron2's): the short side resized to a size drawn in
    ``[jitter_scales[0], jitter_scales[1]]``, a random ``crop_size`` square (none when
    ``crop_size`` is 0), a horizontal flip with probability ``flip_prob`` (none when 0)."""
    augs = [T.ResizeShortestEdge(tuple(jitter_scales), max_size=sys.maxsize, sample_style="range")]
    if crop_size > 0:
        augs.append(T.RandomCrop("absolute", (crop_size, crop_size)))
    if flip_prob > 0:
        augs.append(T.RandomFlip(prob=flip_prob, horizontal=True, vertical=False))
    return augs


class ShapeOnlyInput:
    """Stands in for an image in Detectron2 augmentations: only its ``.shape`` is read.

    Supports the geometric transforms of the clip pipeline (resize, crop, flips); the
    frames themselves are transformed later, all with the same sampled transform.
    """

    def __init__(self, height, width):
        self.image = np.broadcast_to(np.zeros((1, 1, 3), dtype=np.uint8), (height, width, 3))

    def transform(self, tfm):
        h, w = self.image.shape[:2]
        if isinstance(tfm, T.ResizeTransform):
            h, w = tfm.new_h, tfm.new_w
        elif isinstance(tfm, T.CropTransform):
            h, w = tfm.h, tfm.w
        elif not isinstance(tfm, (HFlipTransform, VFlipTransform, NoOpTransform)):
            raise NotImplementedError(
                f"the clip mappers support resize, crop and flip augmentations, not {tfm}"
            )
        self.image = np.broadcast_to(np.zeros((1, 1, 3), dtype=np.uint8), (h, w, 3))


def axis_affine(tfms):
    """(ax, bx, ay, by): the transform list maps a source point (x, y) to
    (ax x + bx, ay y + by)."""
    p = tfms.apply_coords(np.array([[0.0, 0.0], [1.0, 1.0]], dtype=np.float64))
    return p[1, 0] - p[0, 0], p[0, 0], p[1, 1] - p[0, 1], p[0, 1]


def sample_clip_transform(augmentations, height, width):
    """Sample one clip transform of frames of ``height`` x ``width`` pixels.

    Args:
        augmentations: a Detectron2 ``AugmentationList`` of resize / crop / flip augmentations.
    Returns:
        (TransformList, (out_h, out_w), affine ``(ax, bx, ay, by)`` from source to output pixels).
    """
    aug_input = ShapeOnlyInput(height, width)
    tfms = augmentations(aug_input)
    return tfms, aug_input.image.shape[:2], axis_affine(tfms)


def sample_color_jitter(strength):
    """The training colour jitter: ``[(name, factor), ...]`` in a random order (numpy's global
    RNG), or None when ``strength`` is 0.

    Brightness, contrast and saturation each get a factor uniform in
    ``[max(0, 1 - strength), 1 + strength]``; the model applies them on its device
    (:func:`slowfast_det.modeling.preprocess.apply_color_jitter`).
    """
    if strength <= 0:
        return None
    names = ("brightness", "contrast", "saturation")
    return [
        (names[op], float(np.random.uniform(max(0.0, 1.0 - strength), 1.0 + strength)))
        for op in np.random.permutation(3)
    ]


def new_clip_tensor(shape):
    """An uninitialised uint8 tensor of ``shape`` for a clip; in a DataLoader worker in shared
    memory, where the sample is sent from (as torch's default_collate allocates), instead of
    copying it when it is sent."""
    t = torch.empty(shape, dtype=torch.uint8)
    if torch.utils.data.get_worker_info() is not None:
        t.share_memory_()
    return t
