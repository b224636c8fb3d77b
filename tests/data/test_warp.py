"""FrameWarp: the clip transform applied to frames, against the step-by-step reference."""

import cv2
import numpy as np
import pytest

from slowfast_det.data.warp import PHASE_TOLERANCE, FrameWarp, axis_plan


def _textured(rng, h, w):
    """A frame with fine detail everywhere (a misplaced sampling grid shows in every pixel)."""
    img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (3, 3), 0.8)
    return np.ascontiguousarray(img)


def _reference(img, new_hw, x0, y0, out_hw, flip):
    """Resize the whole frame, crop, flip: the transforms one after the other."""
    r = cv2.resize(img, new_hw[::-1], interpolation=cv2.INTER_LINEAR)[
        y0 : y0 + out_hw[0], x0 : x0 + out_hw[1]
    ]
    return r[:, ::-1] if flip else r


def _inverse(sx, bx, sy, by):
    return np.array(
        [[1.0 / sx, 0.0, (0.5 - bx) / sx - 0.5], [0.0, 1.0 / sy, (0.5 - by) / sy - 0.5]]
    )


@pytest.mark.parametrize(
    "src_hw,new_short", [((64, 112), 80), ((64, 112), 71), ((90, 160), 56), ((90, 160), 37)]
)
def test_crop_equals_resize_then_crop(src_hw, new_short):
    """Up- and down-scaling crops (and flips) give the pixels of resize-then-crop."""
    rng = np.random.default_rng(new_short)
    h, w = src_hw
    new_hw = (new_short, int(w * new_short / h + 0.5))
    out_hw = (32, 40)
    for trial in range(6):
        img = _textured(rng, h, w)
        x0, y0 = (
            int(rng.integers(0, new_hw[1] - out_hw[1] + 1)),
            int(rng.integers(0, new_hw[0] - out_hw[0] + 1)),
        )
        flip = trial % 2 == 1
        ax, bx = new_hw[1] / w, -x0
        if flip:
            ax, bx = -ax, out_hw[1] - bx
        fw = FrameWarp((ax, bx, new_hw[0] / h, -y0), src_hw, 1, src_hw, out_hw)
        assert fw.kind == "roi"
        ref = _reference(img, new_hw, x0, y0, out_hw, flip).astype(int)
        diff = np.abs(fw(img).astype(int) - ref)
        exact = (
            fw._rows.start == 0 and fw._cols.start == 0
        )  # the sub-rectangle's grid is the frame's
        # otherwise off by at most the phase tolerance (1/64 pixel): on this noise (the worst
        # case) about as close as one cv2.warpAffine, the former mapper (its grid is 1/32 pixel)
        warp = cv2.warpAffine(
            img,
            _inverse(ax, bx, new_hw[0] / h, -y0),
            out_hw[::-1],
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        if exact:
            assert diff.max() == 0
        assert diff.max() <= 1 and diff.mean() <= 1.2 * np.abs(warp.astype(int) - ref).mean(), (
            diff.max(),
            diff.mean(),
        )


def test_crop_from_a_reduced_decode_uses_the_reduced_pixels():
    """Factor-2 decode: the affine is in source pixels, the frame at half size."""
    rng = np.random.default_rng(1)
    half = _textured(rng, 45, 80)
    # source 90x160 -> 60x107 (scale 2/3), crop 40x48 at (30, 7)
    new_hw, x0, y0, out_hw = (60, 107), 30, 7, (40, 48)
    fw = FrameWarp((107 / 160, -x0, 60 / 90, -y0), (90, 160), 2, (45, 80), out_hw)
    assert fw.kind == "roi"
    diff = np.abs(fw(half).astype(int) - _reference(half, new_hw, x0, y0, out_hw, False))
    assert diff.max() <= 3 and diff.mean() < 0.25


def test_axis_plan_grid_offset_within_tolerance():
    for scale in (1.171875, 0.8328125, 0.41640625, 1.0, 2.0):
        for crop_at in range(0, 300, 7):
            plan = axis_plan(scale, -crop_at, 224, 400)
            if plan is None:
                continue
            start, stop, fx, first, flip = plan
            assert fx == scale and not flip and 0 <= start < stop <= 400
            # result pixel `first` of [start, stop) samples where output pixel 0 does
            assert (
                abs(start + (first + 0.5) / fx - (crop_at + 0.5) / scale) <= PHASE_TOLERANCE + 1e-9
            )
            assert int(round((stop - start) * fx)) >= first + 224


def test_output_outside_the_frame_falls_back_to_a_warp_with_replicated_borders():
    rng = np.random.default_rng(2)
    img = _textured(rng, 20, 30)
    fw = FrameWarp(
        (1.5, 4.0, 1.5, -3.0), (20, 30), 1, (20, 30), (24, 36)
    )  # output starts 4 px left of the frame
    assert fw.kind == "warp"
    want = cv2.warpAffine(
        img,
        _inverse(1.5, 4.0, 1.5, -3.0),
        (36, 24),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    np.testing.assert_array_equal(fw(img), want)


def test_write_clip_rgb_planes_repeats_and_odd_sized_frames():
    rng = np.random.default_rng(3)
    a, b = _textured(rng, 24, 32), _textured(rng, 24, 32)
    odd = _textured(rng, 12, 16)  # e.g. a replacement frame stored at another size
    affine, out_hw = (0.5, 0.0, 0.5, 0.0), (12, 16)  # 24x32 -> 12x16
    fw = FrameWarp(affine, (24, 32), 1, (24, 32), out_hw)
    assert fw.kind == "resize"
    dst = np.zeros((3, 4, 12, 16), np.uint8)
    fw.write_clip([a, a, odd, b], dst)
    for i, f in enumerate([a, a, None, b]):
        if f is not None:
            np.testing.assert_array_equal(
                dst[:, i],
                cv2.resize(f, (16, 12), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)[::-1],
            )
    np.testing.assert_array_equal(
        dst[:, 2], odd.transpose(2, 0, 1)[::-1]
    )  # already the output size: copied
