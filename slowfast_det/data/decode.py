"""JPEG frame decoding: the hot path of the data loader.

Only the frames a clip uses are decoded, and JPEGs are decoded directly at 1/2, 1/4 or
1/8 of their size (libjpeg DCT scaling through OpenCV's ``IMREAD_REDUCED_COLOR_*``) when
the clip's target resolution is at least that much smaller than the source.
"""

import cv2
import numpy as np
from PIL import Image

__all__ = ["DECODE_FLAGS", "reduced_decode_factor", "read_frame", "read_frame_size"]

#: OpenCV imread/imdecode flag for each reduction factor.
DECODE_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def reduced_decode_factor(scale_y, scale_x):
    """The largest decode reduction (8, 4, 2 or 1) that keeps at least the target resolution.

    Args:
        scale_y, scale_x: output pixels per source pixel along each axis (e.g. 0.4 when a
            640-pixel-high frame is resized to 256). Negative values (flips) are allowed.

    Returns:
        int f such that the frame decoded at 1/f of its size is still at least as large as
        the target, so the remaining resize never upsamples a reduced decode.
    """
    s = max(abs(scale_y), abs(scale_x))
    for f in (8, 4, 2):
        if s * f <= 1.0:
            return f
    return 1


def read_frame(path, factor=1):
    """Decode one frame.

    Args:
        path: image file.
        factor: 1, 2, 4 or 8: decode at 1/factor of the stored size (JPEG DCT scaling;
            other formats are decoded and then reduced by OpenCV).

    Returns:
        BGR uint8 array (H, W, 3), or None when the file is missing, empty or not a
        decodable image. (A truncated JPEG that libjpeg can still decode is returned.)
    """
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if buf.size == 0:
        return None
    return cv2.imdecode(buf, DECODE_FLAGS[factor])


def read_frame_size(path):
    """(height, width) of an image from its header only, or None if it cannot be opened."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return h, w
