"""The clip's geometric transform applied to decoded frames, written into uint8 RGB planes.

A clip transform (short-side resize, crop, flips) maps a source pixel (x, y) to
``(ax x + bx, ay y + by)`` in the output. :class:`FrameWarp` plans, once per clip, how to
apply it to every frame, and then per frame:

- ``"copy"``: output = the decoded frame;
- ``"resize"``: the whole frame resized to the output size (``cv2.resize``);
- ``"roi"``: a crop (possibly flipped) of the resized frame. Only the source rectangle
  the crop needs is resized, at the transform's exact scale (``cv2.resize`` with ``fx`` /
  ``fy``), and the crop is taken from that; then ``cv2.flip`` for the flips. The rectangle
  starts at a source pixel where the resize grid of the rectangle coincides with the one
  of the whole frame (within :data:`PHASE_TOLERANCE` source pixels, the precision of
  ``cv2.warpAffine``'s own coordinates is 1/32), so the pixels are those of "resize the
  whole frame, then crop", as the step-by-step Detectron2 transforms define them;
- ``"warp"``: any other transform (e.g. the output reaching outside the frame), one
  ``cv2.warpAffine`` with replicated borders.

Each warped frame goes straight into the clip's three (H, W) planes, in RGB order, with
one ``cv2.split``.
"""

import math

import cv2
import numpy as np

__all__ = ["FrameWarp", "PHASE_TOLERANCE", "axis_plan", "write_rgb_planes"]

#: largest offset (source pixels) between the grid of a resized sub-rectangle and that of
#: the whole resized frame ("roi" plans).
PHASE_TOLERANCE = 1.0 / 64


def axis_plan(scale, offset, n_out, n_src, tol=None):
    """Resize-then-crop along one axis as a resize of a source interval.

    Output pixel centre ``u + 0.5 = scale (v + 0.5) + offset`` (``v``: source pixel).

    Returns:
        ``(start, stop, fx, first, flip)``: resize source pixels ``[start, stop)`` with
        factor ``fx`` (``cv2.resize`` semantics: pixel ``j`` of the result samples
        ``start + (j + 0.5) / fx - 0.5``), keep result pixels ``[first, first + n_out)``,
        reversed if ``flip``; or None when no such interval exists (the output reaches
        outside the frame, or the result would be too short).
    """
    tol = PHASE_TOLERANCE if tol is None else tol
    flip = scale < 0
    if flip:  # output u is pixel n_out - 1 - u of the unflipped crop
        scale, offset = -scale, n_out - offset
    if scale <= 0:
        return None
    if offset > 1e-9:
        return None  # the output starts outside the frame (a border to fill)
    v_first = (0.5 - offset) / scale - 0.5  # source position of output pixel 0
    # result pixel j of an interval starting at c samples c + (j + 0.5) / s - 0.5: the crop's
    # first pixel is j = -offset - c s, which must be (close to) an integer
    start = max(0, min(math.floor(v_first), math.floor(-offset / scale + 1e-9)))
    while start > 0:
        k = -offset - start * scale
        if abs(k - round(k)) <= tol * scale:
            break
        start -= 1
    first = int(round(-offset - start * scale))
    if first < 0:
        return None
    stop = min(n_src, math.ceil((n_out - offset) / scale) + 2)  # 2 pixels past the last sample
    if int(round((stop - start) * scale)) < first + n_out:
        return None
    return start, stop, scale, first, flip


def write_rgb_planes(bgr, dst):
    """A BGR uint8 image (H, W, 3) (a view such as a crop is fine) into ``dst``, a uint8
    (3, H, W) array, as RGB planes."""
    # HWC BGR -> CHW RGB, written straight into the clip's planes (contiguous (H, W) views)
    b, g, r = planes = [dst[2], dst[1], dst[0]]
    got = cv2.split(bgr, planes)
    if got[0] is not b or got[1] is not g or got[2] is not r:  # OpenCV allocated its own planes
        np.copyto(dst, bgr.transpose(2, 0, 1)[::-1])


class FrameWarp:
    """Apply one clip transform to frames of one decoded size, into uint8 RGB planes.

    Args:
        affine: (ax, bx, ay, by), the transform from source-pixel to output coordinates.
        src_hw: the source frame size the affine is defined on.
        factor: the decode reduction the frames were read at (1, 2, 4, 8).
        dec_hw: the decoded frames' size.
        out_hw: the output size (H, W).
    """

    def __init__(self, affine, src_hw, factor, dec_hw, out_hw):
        self._args = (affine, src_hw, factor)
        ax, bx, ay, by = affine
        (src_h, src_w), (h, w), (out_h, out_w) = src_hw, dec_hw, out_hw
        if factor > 1 and (h, w) == (-(-src_h // factor), -(-src_w // factor)):
            rx = ry = (
                1.0 / factor
            )  # libjpeg DCT scaling: reduced pixel i covers source [i f, (i+1) f)
        else:
            rx, ry = w / src_w, h / src_h
        sx, sy = ax / rx, ay / ry  # output pixels per decoded pixel
        self.dec_hw, self.out_hw = (h, w), (out_h, out_w)
        self._buf = self._flipped = None
        full = abs(bx) < 1e-6 and abs(by) < 1e-6 and sx > 0 and sy > 0
        if full and abs(sx * w - out_w) <= 1 and abs(sy * h - out_h) <= 1:
            self.kind = "copy" if (h, w) == (out_h, out_w) else "resize"
            return
        px, py = axis_plan(sx, bx, out_w, w), axis_plan(sy, by, out_h, h)
        if px is not None and py is not None:
            self.kind = "roi"
            self._rows, self._cols = slice(py[0], py[1]), slice(px[0], px[1])
            self._fx, self._fy = px[2], py[2]
            self._crop = (slice(py[3], py[3] + out_h), slice(px[3], px[3] + out_w))
            self._flip = {(True, False): 1, (False, True): 0, (True, True): -1}.get((px[4], py[4]))
            return
        self.kind = "warp"
        # output pixel centre u + 0.5 = s (v + 0.5) + b  =>  v = (u + 0.5 - b) / s - 0.5
        self._m = np.array(
            [[1.0 / sx, 0.0, (0.5 - bx) / sx - 0.5], [0.0, 1.0 / sy, (0.5 - by) / sy - 0.5]]
        )

    def __call__(self, img):
        """One decoded BGR frame (H, W, 3) -> the warped BGR frame (out_h, out_w, 3).

        The result may be a view of ``img`` or of a buffer reused by the next call.
        """
        out_h, out_w = self.out_hw
        if img.shape[:2] != self.dec_hw:  # a frame of another size (e.g. not a JPEG): its own plan
            return FrameWarp(*self._args, img.shape[:2], self.out_hw)(img)
        if self.kind == "copy":
            return img
        if self.kind == "resize":
            self._buf = cv2.resize(
                img, (out_w, out_h), dst=self._buf, interpolation=cv2.INTER_LINEAR
            )
            return self._buf
        if self.kind == "warp":
            self._buf = cv2.warpAffine(
                img,
                self._m,
                (out_w, out_h),
                dst=self._buf,
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
            return self._buf
        self._buf = cv2.resize(
            img[self._rows, self._cols],
            None,
            dst=self._buf,
            fx=self._fx,
            fy=self._fy,
            interpolation=cv2.INTER_LINEAR,
        )
        crop = self._buf[self._crop]
        if self._flip is None:
            return crop
        self._flipped = cv2.flip(crop, self._flip, dst=self._flipped)
        return self._flipped

    def write(self, img, dst):
        """Warp one BGR frame into ``dst``, a uint8 (3, H, W) array, as RGB planes."""
        write_rgb_planes(self(img), dst)

    def write_clip(self, frames, dst):
        """Warp ``frames`` (T BGR uint8 arrays) into ``dst``, a uint8 (3, T, H, W) array, as RGB.

        A frame object that repeats (clamped clip ends) is warped once and its planes copied.
        """
        done = {}  # id(frame) -> clip index it was written to; ``frames`` keeps every frame alive
        for i, frame in enumerate(frames):
            j = done.get(id(frame))
            if j is not None:
                dst[:, i] = dst[:, j]
                continue
            done[id(frame)] = i
            self.write(frame, dst[:, i])
