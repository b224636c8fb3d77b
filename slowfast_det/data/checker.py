"""Validate an AVA-format folder before training (``tools/check_ava_dataset.py``).

:func:`check_ava_dataset` never stops at the first problem: it counts every problem per
category, keeps the first examples of each, and returns an
:class:`~.checker_report.AVACheckReport`. Problems (``report.ok`` is False) are what breaks
or silently degrades training or evaluation; warnings are what the loader repairs itself
(and counts), e.g. boxes outside [0, 1], or reads as given though the user should look (a
repeated ground-truth row, a frame list without its header). ``Result: OK`` is printed only
when there is neither; with warnings alone it says ``Result: OK with warnings``.

The categories and the report are :mod:`.checker_report`; the checks of one file (frame
list, box CSV) :mod:`.checker_files`; the movies of ``frame_source="video"``
:mod:`.checker_video`; classification video lists :mod:`.checker_video_list`.
"""

import os
from collections import Counter

from slowfast_det.ava.checks import (
    classes_outside,
    keyframe_outside_message,
    keyframes_outside,
)
from slowfast_det.ava.io import AVAFormatError, read_exclusions, read_label_map
from slowfast_det.ava.layout import (
    ANNOTATIONS_DIR,
    FRAME_LISTS_DIR,
    FRAMES_DIR,
    VIDEOS_DIR,
    split_files,
)
from slowfast_det.ava.timestamps import format_timestamp, frame_positions

from .checker_files import check_boxes, check_frame_list, read_all_rows, rel_path
from .checker_report import AVACheckReport
from .checker_video import check_movies
from .custom import find_label_map
from .decode import read_frame
from .frames import frame_origin, frame_origin_path, origin_hint

__all__ = ["check_ava_dataset"]


def check_ava_dataset(
    root,
    splits=("train", "val"),
    version="v2.2",
    *,
    num_classes=None,
    fps=None,
    start_second=None,
    verify_images="keyframes",
    max_examples=5,
    max_bad_rows=20,
    frame_source="frames",
    label_map_file=None,
):
    """Check an AVA-format folder (``frames/``, ``frame_lists/``, ``annotations/``; or
    ``videos/`` and ``annotations/`` for ``frame_source="video"``).

    Args:
        root: the folder.
        splits: split names; each needs ``frame_lists/<split>.csv`` and
            ``annotations/ava_<split>_<version>.csv``; splits other than "train" also need
            ``annotations/ava_<split>_predicted_boxes.csv``.
        version: "v2.1" or "v2.2" (annotation and label-map file names).
        num_classes: valid action ids are 1..num_classes (None: the label map's largest id).
        verify_images: "none", "keyframes" (decode every annotated keyframe at 1/8 size) or
            "all" (every listed frame; slow on full AVA).
        max_examples: examples kept per category.
        max_bad_rows: malformed rows counted per file before giving up on that file.
        frame_source: "frames" (the frame lists and frames) or "video" (the movies
            ``videos/<video_id>.{mp4,mkv,webm}``: each annotated video's movie is probed
            for its duration and frame rate, decoded at its first and last keyframe
            (``verify_images="keyframes"``) or to its end (``"all"``, finds truncated files),
            and the keyframes are checked to lie inside it; no frame list is needed).
        fps, start_second: frame rate and the movie second of AVA frame index 0 (default:
            for extracted frames what ``datasets/prepare_ava.py`` recorded in
            ``frame_lists/frames.json``, else AVA's 900 at 30 fps; 0 for movies, whose
            timestamps are movie times: :func:`~.frames.frame_origin`). Keyframes before
            frame 0 add a hint on the start second.
        label_map_file: the label map (default: :func:`~.custom.find_label_map` of
            ``annotations/``: AVA's file name for the version, else the folder's one ``.pbtxt``).

    Returns:
        AVACheckReport (``report.ok``, ``report.problems``, ``report.format()``).
    """
    if frame_source not in ("frames", "video"):
        raise ValueError(f"frame_source must be 'frames' or 'video', got {frame_source!r}")
    video = frame_source == "video"
    if verify_images not in ("none", "keyframes", "all"):
        raise ValueError(
            f"verify_images must be 'none', 'keyframes' or 'all', got {verify_images!r}"
        )
    root = os.path.abspath(root)
    report = AVACheckReport(root=root, max_examples=max_examples)
    origin_file = frame_origin_path(os.path.join(root, FRAME_LISTS_DIR))
    try:
        origin = frame_origin(frame_source, origin_file, start_second=start_second, fps=fps)
    except AVAFormatError as e:
        report.add("bad_row", str(e))
        origin = frame_origin(frame_source, None, start_second=start_second, fps=fps)
    start_second, fps = origin.start_second, origin.fps
    if origin.source in ("given", "AVA's default"):
        where = "the default for movies" if video and origin.source != "given" else origin.source
    else:
        where = rel_path(root, origin.source)
    report.info["frame index"] = {
        "frame 0 at movie second": str(start_second),
        "fps": str(fps),
        "from": where,
    }
    before_first_frame = 0
    frames_dir = os.path.join(root, FRAMES_DIR)
    videos_dir = os.path.join(root, VIDEOS_DIR)
    ann = os.path.join(root, ANNOTATIONS_DIR)
    media_dir = videos_dir if video else frames_dir
    if not os.path.isdir(media_dir):
        report.add(
            "missing_file",
            f"{rel_path(root, media_dir)}/ (the {'videos' if video else 'frames'} folder)",
        )

    label_ids = None
    try:
        lm = label_map_file or find_label_map(ann, version)
    except FileNotFoundError as e:
        lm = None
        report.add("missing_file", str(e))
    if lm is not None and not os.path.exists(lm):
        report.add("missing_file", rel_path(root, lm))
    elif lm is not None:
        try:
            label_ids = set(read_label_map(lm)[1])
        except AVAFormatError as e:
            report.add(
                "bad_row", str(AVAFormatError(rel_path(root, lm), e.line, e.field, e.message))
            )
        else:
            report.info["label map"] = {
                "file": rel_path(root, lm),
                "classes": len(label_ids),
                "largest id": str(max(label_ids)),
                "train with": f"MODEL.ROI_HEADS.NUM_CLASSES {max(label_ids)}",
            }
    if num_classes is None:
        num_classes = max(label_ids) if label_ids else 80

    for split in splits:
        facts = {}
        report.info[split] = facts
        files = {k: os.path.join(root, v) for k, v in split_files(split, version).items() if v}
        fl = files["frame_list_file"]
        videos, fl_df = None, None
        if video:
            pass  # the movies are checked once the annotated videos are known
        elif not os.path.exists(fl):
            report.add("missing_file", rel_path(root, fl))
        else:
            res = check_frame_list(
                root, frames_dir, fl, report, max_bad_rows, verify_images == "all"
            )
            if res is not None:
                videos, fl_df = res
                facts["videos"] = len(videos)
                facts["frames listed"] = len(fl_df)

        tables = {}
        gt, pred = files["groundtruth_file"], files["predicted_boxes_file"]
        excl = files["excluded_timestamps_file"]
        for path, kind, required in (
            (gt, "groundtruth", True),
            (pred, "proposals", split != "train"),
        ):
            if not os.path.exists(path):
                if required and kind == "proposals":
                    report.add("predicted_boxes_missing", rel_path(root, path))
                elif required:
                    report.add("missing_file", rel_path(root, path))
                else:
                    facts[f"{rel_path(root, path)}"] = "absent (optional)"
                continue
            tables[kind] = check_boxes(path, kind, report, root, max_bad_rows, num_classes)
        excluded = set()
        if os.path.exists(excl):
            excluded, _ = read_all_rows(read_exclusions, excl, report, root, max_bad_rows)
            excluded = excluded or set()
            facts["excluded keyframes"] = len(excluded)

        gt_table = tables.get("groundtruth")
        if gt_table is not None:
            facts["ground-truth keyframes"] = len(gt_table.keys)
            facts["ground-truth box rows"] = len(gt_table.rows)
            if label_ids is not None:
                n_other, other_ids = classes_outside(gt_table.rows, label_ids)
                use = "trained, not evaluated" if split == "train" else "not evaluated"
                facts[f"action ids not in the label map ({use})"] = len(other_ids)
                if n_other:
                    shown = ", ".join(map(str, other_ids[:20])) + (
                        ", ..." if len(other_ids) > 20 else ""
                    )
                    facts["ground-truth rows of those ids"] = f"{n_other} (ids {shown})"
        if tables.get("proposals") is not None:
            facts["predicted boxes"] = len(tables["proposals"].rows)

        if video:
            keyframes = {}
            for table in tables.values():
                for vid, ts in (table.keys - excluded) if table is not None else ():
                    keyframes.setdefault(vid, set()).add(ts)
            videos = check_movies(
                root,
                videos_dir,
                {v: sorted(t) for v, t in keyframes.items()},
                report,
                fps=fps,
                start_second=start_second,
                verify_images=verify_images,
                facts=facts,
                rel=lambda p: rel_path(root, p),
            )
        if videos is None:
            continue
        # keyframes against the frame list (or the movies)
        annotated = set()
        for kind, table in tables.items():
            if table is None:
                continue
            rel = rel_path(root, gt if kind == "groundtruth" else pred)
            missing_videos = Counter()
            for vid, ts in sorted(table.keys - excluded):
                annotated.add(vid)
                if vid not in videos:
                    missing_videos[vid] += 1
                    continue
                n = videos[vid]  # None: a movie of unknown duration (reported)
                center, outside = keyframes_outside(ts, n, start_second, fps)
                before_first_frame += int(center < 0)
                if outside:
                    report.add(
                        "keyframe_outside_video",
                        f"{rel}: {vid},{format_timestamp(ts)}: "
                        f"{keyframe_outside_message(int(center), n)}",
                    )
            for vid, k in (
                sorted(missing_videos.items()) if not video else ()
            ):  # movies: reported by check_movies
                report.add(
                    "video_not_in_frame_list",
                    f"{rel}: video {vid!r} ({k} keyframes) not in frame_lists/{split}.csv",
                    k,
                )
        for vid in sorted(set(videos) - annotated) if not video else ():
            report.add("video_without_annotations", f"frame_lists/{split}.csv: video {vid!r}")
        if verify_images == "keyframes" and gt_table is not None and not video:
            paths = {}
            for vid, g in fl_df.groupby("video_id"):
                paths[vid] = dict(zip(g["frame_id"].tolist(), g["path"].tolist()))
            for vid, ts in sorted(gt_table.keys):
                p = paths.get(vid, {}).get(int(frame_positions(ts, start_second, fps)))
                if p is None:
                    continue
                full = os.path.join(frames_dir, p)
                if os.path.exists(full) and read_frame(full, 8) is None:
                    report.add(
                        "unreadable_frame",
                        f"{rel_path(root, full)} (keyframe {vid},{format_timestamp(ts)})",
                    )
    if before_first_frame:
        report.hints.append(
            f"{before_first_frame} keyframes lie before frame 0 of their video: "
            + origin_hint(origin)
        )
    return report
