"""Writer of the synthetic AVA-format dataset: frames (one worker per video,
:mod:`.annotate`), frame lists, ground truth, detector-like predicted boxes, excluded
timestamps, the label map and the manifest.

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
from dataclasses import asdict

import numpy as np

from slowfast_det.ava.files import write_box_csv
from slowfast_det.ava.layout import (
    ANNOTATIONS_DIR,
    FRAME_LISTS_DIR,
    FRAMES_DIR,
    frame_file,
    split_files,
)

from . import folder
from .annotate import render_video
from .scene import CLASSES
from .spec import SPLITS, STREAM_EXCLUDE, SyntheticSpec, default_root, video_ids, video_rng

__all__ = [
    "GENERATOR_VERSION",
    "MANIFEST_NAME",
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
            frame_lines.append(f'{vid} {index} {f} {frame_file(vid, f + 1)} ""')
        skip = None
        if split == "val" and index % 2 == 0:  # a few keys "excluded from annotation"
            ts = sorted(res["gt"])
            skip = ts[int(video_rng(spec, split, index, STREAM_EXCLUDE).integers(len(ts)))]
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
    files = {k: os.path.join(out_root, v) for k, v in split_files(split, "v2.2").items()}
    _write_text(files["frame_list_file"], frame_lines)
    write_box_csv(_box_table(gt_rows, np.int64), files["groundtruth_file"])
    write_box_csv(_box_table(pred_rows, np.float64), files["predicted_boxes_file"])
    if split == "val":
        write_box_csv(
            {"video_id": [v for v, _ in excluded], "timestamp": [t for _, t in excluded]},
            files["excluded_timestamps_file"],
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
    return folder.manifest_matches(manifest, spec, GENERATOR_VERSION)


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
        for sub in (FRAMES_DIR, FRAME_LISTS_DIR, ANNOTATIONS_DIR):
            os.makedirs(os.path.join(tmp, sub))
        jobs = [
            (tmp, spec, split, i) for split in SPLITS for i in range(len(video_ids(spec, split)))
        ]
        done = folder.run_jobs(
            render_video, jobs, workers=workers, progress=progress, desc="synthetic AVA"
        )
        results = {(res["split"], res["index"]): res for res in done}
        summary = {split: _write_split(tmp, spec, split, results) for split in SPLITS}
        label_map = split_files("val", "v2.2")["label_map_file"]
        _write_text(os.path.join(tmp, label_map), _label_map_lines())
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
            if not os.path.isdir(os.path.join(root, FRAMES_DIR, v))
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
