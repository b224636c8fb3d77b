"""OpenCV renderer of the synthetic scenes: cluttered backgrounds, articulated figures,
camera noise, and per-person masks for ground-truth boxes and visibility.

Images are BGR ``uint8`` arrays ``(H, W, 3)`` (OpenCV order; written as JPEG).
"""

import cv2
import numpy as np

from .pose import pose_at

__all__ = [
    "make_background",
    "draw_person",
    "render_frame",
    "person_masks",
    "visible_boxes",
    "CameraNoise",
]

_SHIFT = 4  # sub-pixel drawing precision: coordinates are multiplied by 2**_SHIFT
_ONE = 1 << _SHIFT


def _pt(p, off=(0.0, 0.0)):
    return (int(round((p[0] + off[0]) * _ONE)), int(round((p[1] + off[1]) * _ONE)))


def _muted(rng, lo=60, hi=200, spread=40):
    base = rng.uniform(lo, hi)
    return tuple(int(np.clip(base + rng.uniform(-spread, spread), 0, 255)) for _ in range(3))


def make_background(rng, width, height):
    """A static cluttered room: wall and floor gradients, furniture-like rectangles,
    posters, lamps, poles, floor lines, and low-frequency texture. Returns ``(H, W, 3)``."""
    img = np.empty((height, width, 3), np.float32)
    horizon = int(height * rng.uniform(0.3, 0.5))
    wall, floor = np.array(_muted(rng), np.float32), np.array(_muted(rng, 40, 160), np.float32)
    ys = np.arange(height, dtype=np.float32)[:, None, None]
    img[:horizon] = wall * (0.85 + 0.3 * ys[:horizon] / max(horizon, 1))
    img[horizon:] = floor * (0.8 + 0.4 * (ys[horizon:] - horizon) / max(height - horizon, 1))
    img = np.clip(img, 0, 255).astype(np.uint8)
    # floor boards / tiles in perspective
    vx = rng.uniform(0.2, 0.8) * width
    for i in range(int(rng.integers(4, 9))):
        xb = (i + rng.uniform(0, 1)) * width * 1.6 / 8 - 0.3 * width
        col = tuple(int(c * 0.8) for c in floor)
        cv2.line(img, _pt((vx, horizon)), _pt((xb, height)), col, 1, cv2.LINE_AA, _SHIFT)
    cv2.line(img, (0, horizon), (width, horizon), tuple(int(c * 0.6) for c in wall), 1, cv2.LINE_AA)
    # furniture, windows, posters
    for _ in range(int(rng.integers(5, 12))):
        w, hh = rng.uniform(0.06, 0.3) * width, rng.uniform(0.06, 0.35) * height
        x0, y0 = rng.uniform(-0.05, 1.0) * width, rng.uniform(0.0, 0.75) * height
        col = _muted(rng, 20, 235, 70)
        cv2.rectangle(img, _pt((x0, y0)), _pt((x0 + w, y0 + hh)), col, -1, cv2.LINE_AA, _SHIFT)
        if rng.random() < 0.5:
            cv2.rectangle(
                img,
                _pt((x0, y0)),
                _pt((x0 + w, y0 + hh)),
                _muted(rng, 0, 120),
                1,
                cv2.LINE_AA,
                _SHIFT,
            )
        if rng.random() < 0.3:  # window panes / shelves
            cv2.line(
                img,
                _pt((x0, y0 + hh / 2)),
                _pt((x0 + w, y0 + hh / 2)),
                _muted(rng, 0, 120),
                1,
                cv2.LINE_AA,
                _SHIFT,
            )
    for _ in range(int(rng.integers(1, 5))):  # lamps, clocks, plants
        c = (rng.uniform(0, width), rng.uniform(0, height * 0.8))
        r = rng.uniform(0.02, 0.08) * height
        cv2.circle(img, _pt(c), int(r * _ONE), _muted(rng, 20, 235, 80), -1, cv2.LINE_AA, _SHIFT)
    for _ in range(int(rng.integers(0, 4))):  # poles and door frames (person-like verticals)
        x0 = rng.uniform(0, width)
        y0, y1 = rng.uniform(0, 0.4) * height, rng.uniform(0.6, 1.0) * height
        t = max(1, int(rng.uniform(0.01, 0.04) * width))
        cv2.line(
            img,
            _pt((x0, y0)),
            _pt((x0 + rng.uniform(-3, 3), y1)),
            _muted(rng, 20, 200, 50),
            t,
            cv2.LINE_AA,
            _SHIFT,
        )
    # low-frequency texture and lens softness
    tex = rng.standard_normal((max(height // 12, 2), max(width // 12, 2), 3)).astype(np.float32)
    tex = cv2.resize(tex, (width, height), interpolation=cv2.INTER_CUBIC) * rng.uniform(4, 10)
    img = np.clip(img.astype(np.float32) + tex, 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (3, 3), 0.6)


def _thick(px):
    return max(1, int(round(px)))


def draw_person(img, pose, person, mask_value=None, offset=(0.0, 0.0)):
    """Draw ``person`` in ``pose`` onto ``img`` in place.

    With ``mask_value`` every part is drawn in that single value (for masks on a
    one-channel canvas) and no shadow; ``offset`` shifts all points (padded canvases).
    """
    h = person.height
    mono = mask_value is not None

    def col(c):
        return mask_value if mono else c

    arm_t, leg_t = _thick(0.075 * h), _thick(0.08 * h)
    pants, shirt, skin = col(person.pants), col(person.shirt), col(person.skin)
    # legs (behind the torso)
    for hp, kn, ft, scale in zip(pose.hips, pose.knees, pose.feet, pose.shoe_scale):
        cv2.line(img, _pt(hp, offset), _pt(kn, offset), pants, leg_t, cv2.LINE_AA, _SHIFT)
        cv2.line(img, _pt(kn, offset), _pt(ft, offset), pants, leg_t, cv2.LINE_AA, _SHIFT)
        shoe = (ft[0] + (ft[0] - pose.hip[0]) * 0.15, ft[1])
        cv2.line(
            img,
            _pt(ft, offset),
            _pt(shoe, offset),
            col(person.shoe_color),
            _thick(leg_t * scale),
            cv2.LINE_AA,
            _SHIFT,
        )
        if scale > 1.0:
            cv2.circle(
                img,
                _pt(ft, offset),
                int(0.05 * h * scale * _ONE),
                col(person.shoe_color),
                -1,
                cv2.LINE_AA,
                _SHIFT,
            )
    # torso: a trapezoid from the shoulders to the hips
    (ls, rs), (lh, rh) = pose.shoulders, pose.hips
    w_hip = 0.03 * h
    torso = np.array(
        [
            _pt(ls, offset),
            _pt(rs, offset),
            _pt((rh[0] + w_hip, rh[1]), offset),
            _pt((lh[0] - w_hip, lh[1]), offset),
        ],
        np.int32,
    )
    cv2.fillConvexPoly(img, torso, shirt, cv2.LINE_AA, _SHIFT)
    cv2.line(
        img,
        _pt(pose.neck, offset),
        _pt(pose.head, offset),
        skin,
        _thick(0.05 * h),
        cv2.LINE_AA,
        _SHIFT,
    )
    # arms
    for sh, el, ha in zip(pose.shoulders, pose.elbows, pose.hands):
        cv2.line(img, _pt(sh, offset), _pt(el, offset), shirt, arm_t, cv2.LINE_AA, _SHIFT)
        cv2.line(img, _pt(el, offset), _pt(ha, offset), skin, arm_t, cv2.LINE_AA, _SHIFT)
        cv2.circle(img, _pt(ha, offset), int(0.045 * h * _ONE), skin, -1, cv2.LINE_AA, _SHIFT)
    if pose.bag is not None:
        x1, y1, x2, y2 = pose.bag
        cv2.rectangle(
            img,
            _pt((x1, y1), offset),
            _pt((x2, y2), offset),
            col(person.bag_color),
            -1,
            cv2.LINE_AA,
            _SHIFT,
        )
    # head with hair
    cv2.circle(img, _pt(pose.head, offset), int(pose.head_r * _ONE), skin, -1, cv2.LINE_AA, _SHIFT)
    if not mono:
        hair = tuple(int(c * 0.35) for c in person.pants)
        cv2.ellipse(
            img,
            _pt(pose.head, offset),
            (int(pose.head_r * _ONE), int(pose.head_r * _ONE)),
            0,
            180,
            360,
            hair,
            -1,
            cv2.LINE_AA,
            _SHIFT,
        )


def _draw_shadow(img, pose, person):
    h = person.height
    gx, gy = pose.ground
    ax, ay = 0.2 * h, 0.035 * h
    x0, x1 = int(max(gx - ax - 2, 0)), int(min(gx + ax + 3, img.shape[1]))
    y0, y1 = int(max(gy - ay - 2, 0)), int(min(gy + ay + 3, img.shape[0]))
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    dark = roi.copy()
    cv2.ellipse(
        dark,
        _pt((gx - x0, gy - y0)),
        (int(ax * _ONE), int(ay * _ONE)),
        0,
        0,
        360,
        (0, 0, 0),
        -1,
        cv2.LINE_AA,
        _SHIFT,
    )
    cv2.addWeighted(roi, 0.55, dark, 0.45, 0, dst=roi)


def _on_screen(person, pose, width):
    m = person.height
    return -m < pose.ground[0] < width + m


class CameraNoise:
    """Per-video camera model: sensor noise sigma and a slow gain drift with flicker."""

    def __init__(self, rng, num_frames):
        self.sigma = float(rng.uniform(2.0, 4.5))
        drift = np.cumsum(rng.normal(0, 0.004, num_frames))
        self.gain = (
            1.0 + np.clip(drift - drift.mean(), -0.08, 0.08) + rng.normal(0, 0.01, num_frames)
        ).astype(np.float32)

    def apply(self, img, f, rng):
        noise = rng.standard_normal(img.shape, dtype=np.float32)
        out = img.astype(np.float32)
        out *= self.gain[f]
        out += noise * self.sigma
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)


def render_frame(video, background, f, rng=None, camera=None):
    """Render frame ``f`` of ``video`` over ``background``. With ``camera`` and ``rng`` the
    camera noise is applied; without, the clean frame is returned (for tests)."""
    img = background.copy()
    for person in video.people:  # far to near
        pose = pose_at(person, f)
        if not _on_screen(person, pose, video.width):
            continue
        _draw_shadow(img, pose, person)
        draw_person(img, pose, person)
    if camera is not None:
        img = camera.apply(img, f, rng)
    return img


def person_masks(video, f):
    """Per-person masks at frame ``f`` on a canvas padded by the frame height on each side.

    Returns ``(masks, pad)``: a list of boolean arrays ``(H + 2 pad, W + 2 pad)`` in the
    order of ``video.people``, and the padding ``pad`` in pixels.
    """
    pad = video.height
    shape = (video.height + 2 * pad, video.width + 2 * pad)
    masks = []
    for person in video.people:
        canvas = np.zeros(shape, np.uint8)
        draw_person(canvas, pose_at(person, f), person, mask_value=255, offset=(pad, pad))
        masks.append(canvas > 127)
    return masks, pad


def visible_boxes(video, f):
    """Amodal boxes and visible fractions of all people at frame ``f``.

    Returns a list (order of ``video.people``) of ``(box, visible_fraction)`` where ``box``
    is ``(x1, y1, x2, y2)`` in frame pixels clipped to the frame (``None`` when nothing of
    the person is inside the frame), and ``visible_fraction`` = drawn pixels inside the frame
    and not covered by people drawn later (nearer) / all drawn pixels.
    """
    masks, pad = person_masks(video, f)
    inside = np.zeros_like(masks[0]) if masks else None
    if masks:
        inside[pad : pad + video.height, pad : pad + video.width] = True
    covered = np.zeros_like(inside) if masks else None
    out = [None] * len(masks)
    for i in range(len(masks) - 1, -1, -1):  # near to far
        m = masks[i]
        total = int(m.sum())
        vis = m & inside & ~covered
        covered |= m
        frac = float(vis.sum()) / total if total else 0.0
        mi = m & inside
        if not mi.any():
            out[i] = (None, frac)
            continue
        ys, xs = np.nonzero(m)
        x1, x2 = xs.min() - pad, xs.max() + 1 - pad
        y1, y2 = ys.min() - pad, ys.max() + 1 - pad
        box = (
            float(np.clip(x1, 0, video.width)),
            float(np.clip(y1, 0, video.height)),
            float(np.clip(x2, 0, video.width)),
            float(np.clip(y2, 0, video.height)),
        )
        out[i] = (box, frac)
    return out
