"""Writer of the synthetic AVA-format dataset: frames, frame lists, ground truth,
detector-like predicted boxes, excluded timestamps and the label map.

The output folder has exactly the AVA v2.2 layout of PySlowFast's AVA folder::

    <root>/frames/<video_id>/<video_id>_000001.jpg ...   30 fps, frame 1 = second 900.0
    <root>/frame_lists/{train,val}.csv
    <root>/annotations/ava_{train,val}_v2.2.csv
    <root>/annotations/ava_{train,val}_predicted_boxes.csv
    <root>/annotations/ava_val_excluded_timestamps_v2.2.csv
    <root>/annotations/ava_action_list_v2.2_for_activitynet_2019.pbtxt
    <root>/synthetic_ava.json                             manifest (parameters, counts)

Everything is generated in ``<root>.incomplete-<pid>`` and renamed to ``<root>`` at the
end, so ``<root>`` is either complete or absent; a leftover ``.incomplete-*`` folder of a
dead process is removed by the next run. Output is a pure function of the parameters:
each video draws from its own ``numpy`` stream seeded by ``(seed, split, index)``.
"""

import functools
import json
import logging
import os
import time
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from slowfast_det.ava.files import write_box_csv

from . import folder
from .render import CameraNoise, make_background, render_frame, visible_boxes
from .sampling import sample_video
from .scene import (
    CLASSES,
    FIRST_SECOND,
    MIN_VISIBLE_FRACTION,
    keyframe_index,
    labels_at,
    slot_of_frame,
)

__all__ = [
    "GENERATOR_VERSION",
    "MANIFEST_NAME",
    "SPLITS",
    "SyntheticSpec",
    "default_root",
    "video_ids",
    "keyframe_seconds",
    "build_video",
    "generate",
    "ensure_synthetic_dataset",
    "read_manifest",
]

logger = logging.getLogger(__name__)

GENERATOR_VERSION = (
    4  # bump whenever the output for given parameters changes (4: ava.files' CSV text)
)
MANIFEST_NAME = "synthetic_ava.json"
WHAT = "synthetic AVA"  # the dataset's name in messages
SPLITS = ("train", "val")
_SPLIT_CODE = {"train": 0, "val": 1}
# independent random streams of one video
_STREAM_SCENE, _STREAM_DETECTOR, _STREAM_EXCLUDE = 0, 1, 2
LABEL_MAP_NAME = "ava_action_list_v2.2_for_activitynet_2019.pbtxt"


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of a synthetic dataset (all of them are recorded in the manifest)."""

    seed: int = 0
    num_train_videos: int = 32
    num_val_videos: int = 8
    duration_s: int = 34  # keyframes 902 .. 900 + duration_s - 2
    width: int = 160
    height: int = 120
    min_persons: int = 2
    max_persons: int = 4
    jpeg_quality: int = 90

    def validate(self):
        if self.num_train_videos < 1 or self.num_val_videos < 1:
            raise ValueError("synthetic AVA: num_train_videos and num_val_videos must be >= 1")
        if self.duration_s < 4:
            raise ValueError(
                "synthetic AVA: duration_s must be >= 4 (keyframes 902..duration-2), "
                f"got {self.duration_s}"
            )
        if self.width < 32 or self.height < 32:
            raise ValueError(
                f"synthetic AVA: frames must be at least 32x32, got {self.width}x{self.height}"
            )
        if not 1 <= self.min_persons <= self.max_persons:
            raise ValueError(
                "synthetic AVA: need 1 <= min_persons <= max_persons, "
                f"got {self.min_persons}, {self.max_persons}"
            )
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(
                f"synthetic AVA: jpeg_quality must be in 1..100, got {self.jpeg_quality}"
            )
        return self


def default_root():
    """``$DETECTRON2_DATASETS/synthetic_ava`` (``./datasets/synthetic_ava`` by default)."""
    return os.path.join(os.environ.get("DETECTRON2_DATASETS", "datasets"), "synthetic_ava")


def video_ids(spec, split):
    """Video ids of a split, e.g. ``syntrain0000``; safe for paths and CSVs."""
    n = spec.num_train_videos if split == "train" else spec.num_val_videos
    return [f"syn{split}{i:04d}" for i in range(n)]


def keyframe_seconds(spec):
    """Keyframe timestamps of every video: 902 .. 900 + duration_s - 2."""
    return list(range(FIRST_SECOND + 2, FIRST_SECOND + spec.duration_s - 1))


def _rng(spec, split, index, stream):
    return np.random.default_rng(
        np.random.SeedSequence([spec.seed, _SPLIT_CODE[split], index, stream])
    )


def build_video(spec, split, index):
    """The scene of video ``index`` of ``split``: ``(video, background, camera, rng)``.

    ``rng`` is the stream that continues into the per-frame camera noise, so rendering
    frames ``0..F-1`` in order with it reproduces the written JPEGs exactly.
    """
    rng = _rng(spec, split, index, _STREAM_SCENE)
    vid = video_ids(spec, split)[index]
    video = sample_video(
        rng, vid, spec.duration_s, spec.width, spec.height, spec.min_persons, spec.max_persons
    )
    background = make_background(rng, spec.width, spec.height)
    camera = CameraNoise(rng, video.num_frames)
    return video, background, camera, rng


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


def _render_video(job):
    """Render and annotate one video into ``out_root``. Returns its annotations and counts:
    ``gt``: keyframe -> ``[(box, action_id, person_id)]`` by (person, action); ``pred``:
    keyframe -> ``[(box, score)]`` by descending score (boxes :func:`_norm_box`)."""
    out_root, spec, split, index = job
    cv2.setNumThreads(1)
    video, background, camera, rng = build_video(spec, split, index)
    vid = video.video_id
    frame_dir = os.path.join(out_root, "frames", vid)
    os.makedirs(frame_dir, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality]
    for f in range(video.num_frames):
        img = render_frame(video, background, f, rng, camera)
        path = os.path.join(frame_dir, f"{vid}_{f + 1:06d}.jpg")
        if not cv2.imwrite(path, img, params):
            raise OSError(f"synthetic AVA: could not write frame {path}")

    det_rng = _rng(spec, split, index, _STREAM_DETECTOR)
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


# ------------------------------------------------------------------ files
def _box_table(rows, last_dtype):
    """Box table (:func:`~slowfast_det.ava.files.write_box_csv`) of ``[(video_id, timestamp,
    box or None, action_id (-1: none), last)]``; a row without a box is a key row. ``last``:
    person ids (int64) or scores (float64)."""
    nan = (np.nan,) * 4
    boxes = np.array([box or nan for _, _, box, _, _ in rows], dtype=np.float64).reshape(-1, 4)
    return {
        "video_id": [r[0] for r in rows],
        "timestamp": np.array([r[1] for r in rows], dtype=np.int64),
        **{c: boxes[:, i] for i, c in enumerate(("x1", "y1", "x2", "y2"))},
        "action_id": np.array([r[3] for r in rows], dtype=np.int64),
        "last": np.array([r[4] for r in rows], dtype=last_dtype),
    }


def _write_text(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def _label_map_lines():
    for cid, name in CLASSES:
        yield from ("item {", f'  name: "{name}"', f"  id: {cid}", "}")


def _write_split(out_root, spec, split, results):
    """Write one split's frame list, ground truth and predicted boxes; return its counts."""
    ids = video_ids(spec, split)
    frame_lines = ["original_vido_id video_id frame_id path labels"]
    gt_rows, pred_rows, excluded = [], [], []
    counts = {name: 0 for _, name in CLASSES}
    names = dict(CLASSES)
    num_boxes = num_keys = 0
    for index, vid in enumerate(ids):
        res = results[(split, index)]
        for f in range(res["num_frames"]):
            frame_lines.append(f'{vid} {index} {f} {vid}/{vid}_{f + 1:06d}.jpg ""')
        skip = None
        if split == "val" and index % 2 == 0:  # a few keys "excluded from annotation"
            ts = sorted(res["gt"])
            skip = ts[int(_rng(spec, split, index, _STREAM_EXCLUDE).integers(len(ts)))]
            excluded.append((vid, skip))
        for t in sorted(res["gt"]):
            pred_rows.extend((vid, t, box, -1, score) for box, score in res["pred"][t])
            if t == skip:
                continue
            num_keys += 1
            rows = res["gt"][t]
            if not rows:
                gt_rows.append((vid, t, None, -1, -1))  # a keyframe without people: a key row
                continue
            gt_rows.extend((vid, t, box, a, pid) for box, a, pid in rows)
            num_boxes += len({pid for _, _, pid in rows})  # distinct person ids
            for _, a, _ in rows:
                counts[names[a]] += 1
    ann = os.path.join(out_root, "annotations")
    _write_text(os.path.join(out_root, "frame_lists", f"{split}.csv"), frame_lines)
    write_box_csv(_box_table(gt_rows, np.int64), os.path.join(ann, f"ava_{split}_v2.2.csv"))
    write_box_csv(
        _box_table(pred_rows, np.float64), os.path.join(ann, f"ava_{split}_predicted_boxes.csv")
    )
    if split == "val":
        write_box_csv(
            {"video_id": [v for v, _ in excluded], "timestamp": [t for _, t in excluded]},
            os.path.join(ann, "ava_val_excluded_timestamps_v2.2.csv"),
        )
    return {
        "videos": len(ids),
        "frames": len(frame_lines) - 1,
        "keyframes": num_keys,
        "person_boxes": num_boxes,
        "predicted_boxes": len(pred_rows),
        "excluded_keyframes": len(excluded),
        "labels_per_class": counts,
    }


# ------------------------------------------------------------------ manifest and atomicity
def read_manifest(root):
    """The manifest of a complete synthetic dataset at ``root``, or ``None``."""
    return folder.read_manifest(root, MANIFEST_NAME, WHAT)


def _manifest_matches(manifest, spec):
    return (
        bool(manifest)
        and manifest.get("generator_version") == GENERATOR_VERSION
        and manifest.get("spec") == asdict(spec)
    )


def generate(root, *, seed=0, workers=2, progress=True, **sizes):
    """Generate a synthetic AVA-format dataset at ``root`` (replacing an older one).

    Args:
        root: output folder (AVA layout). It is written as ``<root>.incomplete-<pid>`` and
            renamed at the end; an existing folder is replaced only if it is a synthetic
            dataset (has a manifest), otherwise ``FileExistsError``.
        seed: everything (scenes, noise, detector boxes, exclusions) is a function of it.
        workers: processes rendering videos in parallel (1 = in this process).
        progress: show a tqdm progress bar (one step per video).
        **sizes: the other fields of :class:`SyntheticSpec` (num_train_videos,
            num_val_videos, duration_s, width, height, min_persons, max_persons, jpeg_quality).

    Returns:
        The manifest dict (as written to ``<root>/synthetic_ava.json``): ``spec``,
        ``classes``, ``summary`` (per split: videos, frames, keyframes, person boxes,
        predicted boxes, excluded keyframes, labels per class); plus ``seconds``, the
        generation time (not written, so that the folder is byte-identical per seed).
    """
    spec = SyntheticSpec(seed=seed, **sizes).validate()
    root = os.path.abspath(root)
    start = time.perf_counter()
    same = functools.partial(_manifest_matches, spec=spec)
    with folder.staged_folder(root, MANIFEST_NAME, WHAT, same) as tmp:
        for sub in ("frames", "frame_lists", "annotations"):
            os.makedirs(os.path.join(tmp, sub))
        jobs = [
            (tmp, spec, split, i) for split in SPLITS for i in range(len(video_ids(spec, split)))
        ]
        done = folder.run_jobs(
            _render_video, jobs, workers=workers, progress=progress, desc="synthetic AVA"
        )
        results = {(res["split"], res["index"]): res for res in done}
        summary = {split: _write_split(tmp, spec, split, results) for split in SPLITS}
        _write_text(os.path.join(tmp, "annotations", LABEL_MAP_NAME), _label_map_lines())
        manifest = {
            "format": "slowfast_det synthetic AVA v2.2",
            "generator_version": GENERATOR_VERSION,
            "spec": asdict(spec),
            "classes": [{"id": cid, "name": name} for cid, name in CLASSES],
            "summary": summary,
        }
        with open(os.path.join(tmp, MANIFEST_NAME), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
    seconds = time.perf_counter() - start
    logger.info("synthetic AVA: wrote %s in %.1f s", root, seconds)
    return dict(manifest, seconds=round(seconds, 2))


def ensure_synthetic_dataset(root=None, *, seed=0, workers=2, progress=True, **sizes):
    """Generate the synthetic dataset at ``root`` unless a complete one with the same
    parameters (and generator version) is there already. Returns its manifest.

    ``root`` defaults to :func:`default_root`. Other arguments are as in :func:`generate`.
    """
    root = os.path.abspath(root or default_root())
    spec = SyntheticSpec(seed=seed, **sizes).validate()
    manifest = read_manifest(root)
    if _manifest_matches(manifest, spec):
        missing = [
            v
            for s in SPLITS
            for v in video_ids(spec, s)
            if not os.path.isdir(os.path.join(root, "frames", v))
        ]
        if not missing:
            logger.info("synthetic AVA: complete dataset found at %s", root)
            return manifest
        logger.warning(
            "synthetic AVA: %s lacks the frames of %d videos (e.g. %s); regenerating",
            root,
            len(missing),
            missing[0],
        )
    elif manifest is not None:
        logger.info("synthetic AVA: %s was made with other parameters; regenerating", root)
    return generate(root, seed=seed, workers=workers, progress=progress, **sizes)
