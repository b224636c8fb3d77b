"""Real encoded test movies whose frames tell which source frame they are (shared by the
prepare_ava and video-source tests).

Source frame ``i`` shows ``i`` in binary: 8 vertical bands of ``W / 8`` pixels, band ``b``
white when bit ``b`` of ``i`` is set (so 256 distinct frames), optionally over a texture.
"""

import sys

import av
import cv2
import numpy as np
from script_modules import load_script

W, H = 64, 48


def index_image(i, width=W, height=H):
    """RGB uint8 (height, width, 3) showing ``i`` in binary (see the module doc)."""
    img = np.zeros((height, width, 3), np.uint8)
    band = width // 8
    for b in range(8):
        if i >> b & 1:
            img[:, b * band : (b + 1) * band] = 255
    return img


def write_movie(
    path,
    rate,
    num_frames,
    width=W,
    height=H,
    codec="mpeg4",
    frame_fn=None,
    options=None,
    pix_fmt="yuv420p",
    pts_fn=None,
):
    """Encode a movie of ``num_frames`` frames at ``rate`` with PyAV; frame ``i`` is
    ``frame_fn(i)`` (RGB uint8), by default :func:`index_image`, at ``pts_fn(i)`` (in units of
    ``1 / rate``; default ``i``: constant frame rate)."""
    frame_fn = frame_fn or (lambda i: index_image(i, width, height))
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = dict({"qscale": "2"} if options is None else options)
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(frame_fn(i), format="rgb24")
            frame.pts = i if pts_fn is None else pts_fn(i)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def image_index(bgr_or_gray):
    """The source frame index an image (BGR or grayscale, any size) shows."""
    img = np.asarray(bgr_or_gray)
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    bands = gray[:, : w - w % 8].reshape(h, 8, w // 8).mean(axis=(0, 2))
    return sum(1 << b for b in range(8) if bands[b] > 128)


def source_index(image_path):
    """The source frame index an image file shows."""
    return image_index(cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE))


def load_prepare_ava():
    """``datasets/prepare_ava.py`` as a module (it is a script, not a package module)."""
    mod = load_script("datasets/prepare_ava.py")
    sys.modules.setdefault("prepare_ava", mod)  # its worker pool pickles functions by module name
    return mod
