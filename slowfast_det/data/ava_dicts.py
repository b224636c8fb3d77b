"""AVA-format folders read into Detectron2 dataset dicts (what ``DatasetCatalog.get`` returns
for a dataset registered by :func:`~.datasets.register_ava_dataset`).

One dataset dict per keyframe (see ``docs/DATAFLOW.md``), independent of any config::

    {"video_id": str, "timestamp": int (whole seconds) or float (sub-second keyframes),
     "image_id": "<video_id>,<timestamp as AVA writes it: 0902, 0902.5>",
     "frame_source": {"type": "frames", "table": FrameTable, "fps": 30, "start_second": 900},
     "keyframe_path": str,
     "annotations": [{"bbox": [x1, y1, x2, y2] in [0, 1], "labels": [action ids],
                      "person_id": int}],
     "proposals": {"boxes": float32 (P, 4) in [0, 1], "scores": float32 (P,)}}

``frame_source`` is shared by all dicts of a video (one :class:`~.frames.FrameTable` per
video); the mapper picks the clip's frames from it (``INPUT.NUM_FRAMES`` /
``INPUT.SAMPLING_RATE``, :func:`~.frames.clip_frame_indices`).

Bad rows stop with :class:`~slowfast_det.ava.io.AVAFormatError` (file, line, field) or are
counted and logged with examples, by the rules of :mod:`slowfast_det.ava.checks`; the files'
rows are checked and grouped by keyframe in :mod:`~.ava_rows`.
"""

import logging
import os
from collections import Counter

import numpy as np

from slowfast_det.ava.checks import keyframe_outside_message, keyframes_outside
from slowfast_det.ava.io import read_box_csv, read_exclusions
from slowfast_det.ava.timestamps import format_timestamp, normalize

from .ava_rows import (
    checked_boxes,
    empty_proposals,
    group_groundtruth,
    group_proposals,
    index_frame_list,
    record_problem,
)
from .frames import (
    FrameTable,
    frame_origin,
    frames_source,
    origin_hint,
)
from .video_reader import index_movies

__all__ = ["FRAME_SOURCES", "load_ava_dicts"]

logger = logging.getLogger(__name__)

#: Frame sources a dataset can read (``register_ava_dataset(..., frame_source=)``).
FRAME_SOURCES = ("frames", "video")


def load_ava_dicts(
    frames_dir,
    frame_list_file,
    groundtruth_file,
    predicted_boxes_file,
    excluded_timestamps_file,
    split,
    *,
    num_classes=80,
    fps=None,
    start_second=None,
    origin_file=None,
    predicted_boxes_required=None,
    excluded_timestamps_required=False,
    dataset_name=None,
    stats=None,
    frame_source="frames",
    videos_dir=None,
    frame_list=None,
):
    """Read an AVA-format split into dataset dicts (one per keyframe).

    Args:
        frames_dir: folder the frame-list paths are relative to (frame source "frames").
        frame_list_file: PySlowFast frame list of the split (frame source "frames").
        groundtruth_file: ground-truth box CSV; None for inference without ground truth
            (then the keyframes are those of the predicted boxes, which are required).
        predicted_boxes_file: person-detector box CSV; required unless ``split == "train"``
            (or as ``predicted_boxes_required`` says).
        excluded_timestamps_file: ``video_id,timestamp`` keys to leave out; optional unless
            ``excluded_timestamps_required``.
        split: "train" makes one dict per ground-truth keyframe; any other split one dict
            per keyframe with ground truth or predicted boxes (the evaluator needs
            predictions at every ground-truth key).
        num_classes: action ids must lie in ``1..num_classes``.
        fps, start_second, origin_file: frame rate of the frames and the movie second of
            frame 0; None: recorded in ``origin_file`` (``frame_lists/frames.json``) for
            frames, else the default (:func:`~.frames.frame_origin`: 900 for frames, 0 for
            movies, 30 fps).
        stats: optional ``collections.Counter`` that receives the problem counts.
        frame_source: "frames" (the frame list's extracted frames) or "video" (the movies
            ``<videos_dir>/<video_id>.{mp4,mkv,webm}``, read by time; no frame list needed:
            a keyframe whose movie is missing is skipped and counted, one whose movie
            header cannot be read is kept for the mapper's counted recovery).
        frame_list: the frame list's rows made in memory (a DataFrame with the columns of
            :func:`~slowfast_det.ava.io.read_frame_list`: video_id, frame_id, path, line)
            instead of reading ``frame_list_file``, which then only names them in messages.

    Returns:
        list[dict] in (video_id, timestamp) order; the dicts of a video share one
        ``frame_source`` (its :class:`~.frames.FrameTable` of absolute paths, or its
        :func:`~.video_reader.video_source`).

    Raises:
        FileNotFoundError for a missing required file; AVAFormatError (file, line, field)
        for a malformed row, an action id outside ``1..num_classes``, a box with
        x2 < x1 or y2 < y1, a duplicate frame id. Boxes outside [0, 1] are clipped,
        keyframes whose video is not in the frame list or whose keyframe lies outside the
        video are skipped; all of these are counted and logged.
    """
    name = dataset_name or split
    stats = Counter() if stats is None else stats
    examples = {}
    if predicted_boxes_required is None:
        predicted_boxes_required = split != "train"
    if frame_source not in FRAME_SOURCES:
        raise ValueError(
            f"dataset '{name}': frame_source {frame_source!r} is not one of {FRAME_SOURCES}"
        )
    video = frame_source == "video"
    origin = frame_origin(frame_source, origin_file, start_second=start_second, fps=fps)
    start_second, fps = origin.start_second, origin.fps
    if video:
        required = (("videos folder", videos_dir),)
    else:  # a frame list made in memory has no file
        required = (("frame list", frame_list_file),) if frame_list is None else ()
    for what, path in required + (("ground-truth file", groundtruth_file),):
        if path is not None and not os.path.exists(path):
            raise FileNotFoundError(f"dataset '{name}': {what} not found: {path}")

    videos = None if video else index_frame_list(frame_list_file, stats, examples, frame_list)

    persons, keys = {}, set()
    if groundtruth_file is not None:
        gt_table = read_box_csv(groundtruth_file, kind="groundtruth")
        gt_rows = checked_boxes(
            gt_table, groundtruth_file, "groundtruth", stats, examples, num_classes
        )
        persons = group_groundtruth(gt_rows)
        keys = set(gt_table.keys)

    proposals = {}
    if predicted_boxes_file is not None and os.path.exists(predicted_boxes_file):
        pred_table = read_box_csv(predicted_boxes_file, kind="proposals")
        proposals = group_proposals(
            checked_boxes(pred_table, predicted_boxes_file, "proposals", stats, examples)
        )
        if split != "train":
            keys |= pred_table.keys
    elif predicted_boxes_required:
        raise FileNotFoundError(
            f"dataset '{name}': predicted person boxes not found: {predicted_boxes_file} "
            "(testing uses the person detector's boxes)"
        )

    excluded = set()
    if excluded_timestamps_file is not None and os.path.exists(excluded_timestamps_file):
        excluded = read_exclusions(excluded_timestamps_file)
    elif excluded_timestamps_required:
        raise FileNotFoundError(
            f"dataset '{name}': excluded-timestamps file not found: {excluded_timestamps_file}"
        )
    stats["excluded_keyframes"] += len(keys & excluded)
    keys -= excluded

    prefix = None if video else os.path.join(frames_dir, "")
    by_video = {}
    for vid, ts in sorted(keys):
        by_video.setdefault(vid, []).append(ts)
    movies = None
    if video:
        movies, _, unreadable = index_movies(videos_dir, list(by_video), fps, start_second)
        for vid, err in unreadable.items():
            record_problem(
                stats,
                examples,
                "videos_unreadable_header",
                f"{err} (its clips are recovered and counted when loaded)",
            )
    dicts, before_first_frame = [], 0
    for vid, stamps in by_video.items():
        if video:
            source = movies.get(vid)
            missing, n = source is None, None if source is None else source["num_frames"]
        else:
            frames = videos.get(vid)
            missing, n = frames is None, None if frames is None else len(frames)
        if missing:
            where = (
                f"no movie {vid}.{{mp4,mkv,webm}} in {videos_dir}"
                if video
                else f"video not in {frame_list_file}"
            )
            for ts in stamps:
                category = (
                    "keyframes_video_not_found" if video else "keyframes_video_not_in_frame_list"
                )
                record_problem(stats, examples, category, f"{vid},{format_timestamp(ts)}: {where}")
            continue
        stamps = np.asarray(stamps)
        centers, outside = keyframes_outside(stamps, n, start_second, fps)
        before_first_frame += int((centers < 0).sum())
        inside = ~outside
        for ts, c in zip(stamps[outside], centers[outside]):
            record_problem(
                stats,
                examples,
                "keyframes_outside_video",
                f"{vid},{format_timestamp(ts)}: {keyframe_outside_message(c, n)}",
            )
        stamps, centers = stamps[inside], centers[inside]
        if not len(stamps):
            continue
        if not video:
            source = frames_source(FrameTable([prefix + p for p in frames]), fps, start_second)
        for ts, c in zip(map(normalize, stamps.tolist()), centers.tolist()):
            d = {
                "video_id": vid,
                "timestamp": ts,
                "image_id": f"{vid},{format_timestamp(ts)}",
                "frame_source": source,
                "annotations": persons.get((vid, ts), []),
                "proposals": proposals.get((vid, ts)) or empty_proposals(),
            }
            if not video:
                d["keyframe_path"] = source["table"][c]
            dicts.append(d)
    stats["keyframes"] += len(dicts)
    stats["gt_persons"] += sum(len(d["annotations"]) for d in dicts)
    stats["proposals"] += sum(len(d["proposals"]["scores"]) for d in dicts)
    if before_first_frame:
        examples["keyframes_outside_video"].append(origin_hint(origin))
    for category, msgs in examples.items():
        logger.warning(
            "dataset '%s': %d x %s, e.g.\n  %s", name, stats[category], category, "\n  ".join(msgs)
        )
    logger.info(
        "dataset '%s': %d keyframes from %d videos, %d ground-truth persons, %d predicted boxes, "
        "%d keyframes excluded",
        name,
        stats["keyframes"],
        len({d["video_id"] for d in dicts}),
        stats["gt_persons"],
        stats["proposals"],
        stats["excluded_keyframes"],
    )
    return dicts
