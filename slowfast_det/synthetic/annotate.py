"""One video of the synthetic AVA-format dataset (the work of one generator process): its
JPEG frames written and its keyframes annotated, with the ground-truth boxes and actions and
detector-like predicted boxes (a person-detector noise model: misses, jitter, false positives).
"""

import os

import cv2
import numpy as np

from slowfast_det.ava.layout import FRAMES_DIR, frame_file

from .render import render_frame, visible_boxes
from .scene import MIN_VISIBLE_FRACTION, keyframe_index, labels_at, slot_of_frame
from .spec import STREAM_DETECTOR, build_video, keyframe_seconds, video_rng


# ------------------------------------------------------------------ detector noise model
def _clip_box(b, w, h):
    x1, y1, x2, y2 = (
        min(max(b[0], 0.0), w),
        min(max(b[1], 0.0), h),
        min(max(b[2], 0.0), w),
        min(max(b[3], 0.0), h),
    )
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return (x1, y1, x2, y2)


def _detections(rng, gt_people, other_people, w, h):
    """Person-detector output at one keyframe: ``[(box_px, score)]``.

    - each ground-truth person is missed with probability 0.01, else found with its box
      jittered (each side by N(0, 3 %) of the box size, capped at 10 %); score in
      [0.82, 1) for 98 % of them, else in [0.4, 0.8);
    - people left out of the ground truth (mostly hidden or outside the frame) but partly
      visible are found half of the time with a score in [0.3, 0.8);
    - false positives: Poisson(0.35) per keyframe; 70 % are person-shaped boxes on the
      background (score < 0.75 for 85 % of them, else in [0.8, 0.92)), 30 % are partial
      boxes on a real person (half of it; score in [0.1, 0.7)).
    """
    out = []
    for box in gt_people:
        miss, u, s1, s2 = (
            rng.random(),
            rng.random(),
            rng.uniform(0.82, 0.999),
            rng.uniform(0.4, 0.8),
        )
        j = np.clip(rng.normal(0.0, 0.03, 4), -0.1, 0.1)
        if miss < 0.01:
            continue
        bw, bh = box[2] - box[0], box[3] - box[1]
        jb = _clip_box(
            (box[0] + j[0] * bw, box[1] + j[1] * bh, box[2] + j[2] * bw, box[3] + j[3] * bh), w, h
        )
        if jb is not None:
            out.append((jb, s1 if u < 0.98 else s2))
    for box in other_people:
        found, score = rng.random(), rng.uniform(0.3, 0.8)
        if found < 0.5:
            out.append((box, score))
    for _ in range(int(rng.poisson(0.35))):
        kind, u = rng.random(), rng.random()
        if kind < 0.7 or not gt_people:
            bh = rng.uniform(0.3, 0.75) * h
            bw = bh * rng.uniform(0.3, 0.6)
            x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            score = rng.uniform(0.02, 0.75) if u < 0.85 else rng.uniform(0.8, 0.92)
            box = _clip_box((x1, y1, x1 + bw, y1 + bh), w, h)
        else:
            g = gt_people[int(rng.integers(len(gt_people)))]
            half = int(rng.integers(3))
            mx, my = (g[0] + g[2]) / 2, (g[1] + g[3]) / 2
            box = _clip_box(
                [(g[0], g[1], g[2], my), (g[0], g[1], mx, g[3]), (mx, g[1], g[2], g[3])][half], w, h
            )
            score = rng.uniform(0.1, 0.7)
        if box is not None:
            out.append((box, score))
    return out


# ------------------------------------------------------------------ one video (worker)
def _norm_box(b, w, h):
    """The box normalised to the frame and rounded to 3 decimals (as AVA's files give them)."""
    return tuple(float(f"{v:.3f}") for v in (b[0] / w, b[1] / h, b[2] / w, b[3] / h))


def render_video(job):
    """Render and annotate one video into ``out_root``. Returns its annotations and counts:
    ``gt``: keyframe -> ``[(box, action_id, person_id)]`` by (person, action); ``pred``:
    keyframe -> ``[(box, score)]`` by descending score (boxes :func:`_norm_box`)."""
    out_root, spec, split, index = job
    cv2.setNumThreads(1)
    video, background, camera, rng = build_video(spec, split, index)
    vid = video.video_id
    frames_root = os.path.join(out_root, FRAMES_DIR)
    os.makedirs(os.path.join(frames_root, vid), exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality]
    for f in range(video.num_frames):
        img = render_frame(video, background, f, rng, camera)
        path = os.path.join(frames_root, frame_file(vid, f + 1))
        if not cv2.imwrite(path, img, params):
            raise OSError(f"synthetic AVA: could not write frame {path}")

    det_rng = video_rng(spec, split, index, STREAM_DETECTOR)
    w, h = spec.width, spec.height
    gt, pred = {}, {}
    for t in keyframe_seconds(spec):
        c = keyframe_index(t)
        s = slot_of_frame(c)
        rows, gt_boxes, others = [], [], []
        for person, (box, frac) in zip(video.people, visible_boxes(video, c)):
            if box is None:
                continue
            if frac < MIN_VISIBLE_FRACTION:
                if frac >= 0.15:
                    others.append(box)
                continue
            gt_boxes.append(box)
            for a in labels_at(person, s):
                rows.append((person.pid, a, _norm_box(box, w, h)))
        gt[t] = [(box, a, pid) for pid, a, box in sorted(rows)]
        dets = sorted(_detections(det_rng, gt_boxes, others, w, h), key=lambda d: -d[1])
        pred[t] = [(_norm_box(b, w, h), float(f"{score:.6f}")) for b, score in dets]
    return {
        "split": split,
        "index": index,
        "video_id": vid,
        "num_frames": video.num_frames,
        "gt": gt,
        "pred": pred,
    }
