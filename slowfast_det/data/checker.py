"""Validate an AVA-format folder before training (``tools/check_ava_dataset.py``).

:func:`check_ava_dataset` never stops at the first problem: it counts every problem per
category, keeps the first examples of each, and returns an :class:`AVACheckReport`.
Problems (``report.ok`` is False) are what breaks or silently degrades training or
evaluation; warnings are what the loader repairs itself (and counts), e.g. boxes outside
[0, 1], or reads as given though the user should look (a repeated ground-truth row, a
frame list without its header). ``Result: OK`` is printed only when there is neither; with
warnings alone it says ``Result: OK with warnings``.
"""

import io
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from slowfast_det.ava.checks import (
    PIXEL_LIMIT,
    BoxScale,
    box_ranges,
    box_row_errors,
    classes_outside,
    keyframe_outside_message,
    keyframes_outside,
    repeated_rows,
)
from slowfast_det.ava.file_text import read_text
from slowfast_det.ava.io import (
    FRAME_LIST_HEADER,
    AVAFormatError,
    frame_list_has_header,
    read_box_csv,
    read_exclusions,
    read_frame_list,
    read_label_map,
)
from slowfast_det.ava.timestamps import format_timestamp, frame_positions

from .checker_video import VIDEO_PROBLEMS, VIDEO_WARNINGS, check_movies
from .checker_video_list import VIDEO_LIST_PROBLEMS, VIDEO_LIST_WARNINGS, check_video_list
from .custom import find_label_map
from .decode import read_frame
from .frames import frame_origin, frame_origin_path, origin_hint

__all__ = ["AVACheckReport", "check_ava_dataset", "check_video_list", "PROBLEMS", "WARNINGS"]

#: Problem categories (make the check fail) and what they mean.
PROBLEMS = {
    "missing_file": "required file missing",
    "bad_row": "malformed row (the loader stops with an error)",
    "unknown_label_id": "ground-truth action id outside 1..num_classes",
    "bad_box": "box with x2 < x1 or y2 < y1",
    "boxes_in_pixels": (
        f"box coordinates above {PIXEL_LIMIT:g}: pixels, not normalised to [0, 1] "
        "(divide x by the frame width, y by its height)"
    ),
    "missing_frame": "frame listed in the frame list but not on disk",
    "unreadable_frame": "keyframe image that cannot be decoded",
    "keyframe_outside_video": "keyframe whose frame index is outside the video's frames",
    "video_not_in_frame_list": "annotated video missing from the split's frame list",
    "frame_list_gap": "frame ids missing inside a video's frame list",
    **VIDEO_PROBLEMS,
    **VIDEO_LIST_PROBLEMS,
}
#: Warning categories (reported; the loader repairs and counts them).
WARNINGS = {
    "box_out_of_range": "box coordinates outside [0, 1] (clipped when loading)",
    "repeated_groundtruth_row": (
        "ground-truth row repeated exactly (the evaluator counts each copy as a box to find: "
        "two copies halve its recall)"
    ),
    "frame_list_without_header": (
        f"frame list whose line 1 is a frame, not the header {FRAME_LIST_HEADER!r} "
        "(read as a frame here; PySlowFast skips line 1)"
    ),
    "frame_list_path_mismatch": "frame path not inside a folder named after its video",
    "video_without_annotations": "frame-list video with no annotated keyframe",
    "predicted_boxes_missing": (
        "no person proposals for an evaluation split yet: make them with tools/detect_persons.py "
        "(evaluation and inference need them)"
    ),
    **VIDEO_WARNINGS,
    **VIDEO_LIST_WARNINGS,
}


@dataclass
class AVACheckReport:
    """Counts per problem / warning category, the first examples of each, per-split facts."""

    root: str
    max_examples: int = 5
    problems: Counter = field(default_factory=Counter)
    warnings: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=lambda: defaultdict(list))
    info: dict = field(default_factory=dict)
    title: str = "AVA dataset check"
    #: what to do about the problems found, printed after them
    hints: list = field(default_factory=list)

    @property
    def ok(self):
        """True when no problem was found (warnings allowed)."""
        return not any(self.problems.values())

    def add(self, category, example=None, count=1):
        if category in PROBLEMS:
            self.problems[category] += count
        elif category in WARNINGS:
            self.warnings[category] += count
        else:
            raise KeyError(f"unknown check category {category!r}")
        if example is not None and len(self.examples[category]) < self.max_examples:
            self.examples[category].append(example)

    def format(self):
        lines = [f"{self.title}: {self.root}"]
        for split, facts in self.info.items():
            lines.append(
                f"  {split}: "
                + ", ".join(
                    f"{k} {v}" if isinstance(v, str) else f"{v} {k}" for k, v in facts.items()
                )
            )
        for title, counts, meaning in (
            ("Problems", self.problems, PROBLEMS),
            ("Warnings", self.warnings, WARNINGS),
        ):
            cats = [c for c in meaning if counts.get(c)]
            if not cats:
                continue
            lines.append(f"{title}:")
            for c in cats:
                lines.append(f"  {c}: {counts[c]} ({meaning[c]})")
                lines.extend(f"    {e}" for e in self.examples.get(c, []))
        lines.extend(f"Hint: {h}" for h in self.hints)
        n = sum(1 for v in self.problems.values() if v)
        w = sum(1 for v in self.warnings.values() if v)
        if not self.ok:
            lines.append(f"Result: FAILED ({n} problem categories)")
        else:
            lines.append(
                f"Result: OK with warnings ({w} warning categories, see above)"
                if w
                else "Result: OK"
            )
        return "\n".join(lines)

    __str__ = format


def _rel(root, path):
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return path


def _read_all_rows(read, path, report, root, max_bad_rows, placeholder=""):
    """Call ``read`` on the file; on a malformed row, record it, neutralise it and read again.

    Counts every malformed row (up to ``max_bad_rows`` per file). ``placeholder`` replaces
    a bad line (blank for box/exclusion CSVs, a valid dummy row for frame lists, which do
    not keep blank-line numbering); such lines are returned so the caller can drop them.
    Returns (result or None, set of neutralised line numbers).
    """
    source, lines, bad = path, None, set()
    while True:
        try:
            return read(source), bad
        except AVAFormatError as e:
            msg = str(AVAFormatError(_rel(root, path), e.line, e.field, e.message))
            if e.line is None or e.line in bad or e.whole_file:
                report.add("bad_row", msg)
                return None, bad
            if len(bad) >= max_bad_rows:
                report.add(
                    "bad_row",
                    f"{_rel(root, path)}: more malformed rows not counted (limit {max_bad_rows})",
                )
                return None, bad
            report.add("bad_row", msg)
            if lines is None:
                # decoded as the readers decode (UTF-16, .gz), line ends as open() makes them
                lines = io.StringIO(read_text(path), newline=None).read().split("\n")
            bad.add(e.line)
            lines[e.line - 1] = placeholder
            source = io.StringIO("\n".join(lines))


def _check_frame_list(root, frames_dir, path, report, max_bad_rows, verify_all):
    """video -> number of frames (max frame id + 1); checks files, gaps, paths."""
    placeholder = '__bad_row__ 0 0 __bad_row__/x.jpg ""'
    try:
        if not frame_list_has_header(path):
            report.add(
                "frame_list_without_header", f"{_rel(root, path)}:1: a frame, not the header"
            )
    except AVAFormatError:
        pass  # the separator error: reported by the read below
    df, bad = _read_all_rows(read_frame_list, path, report, root, max_bad_rows, placeholder)
    if df is None:
        return None
    if bad:
        df = df[~df["line"].isin(bad)]
    rel = _rel(root, path)
    videos = {}
    for vid, g in df.groupby("video_id", sort=True):
        ids = g["frame_id"].to_numpy()
        dup = g[g["frame_id"].duplicated()]
        for _, r in dup.iterrows():
            report.add(
                "bad_row",
                f"{rel}:{r['line']}: field 'frame_id' duplicate frame id {r['frame_id']} "
                f"for video {vid!r}",
            )
        uniq = np.unique(ids)
        n = int(uniq[-1]) + 1 if len(uniq) else 0
        if len(uniq) < n:
            first_gap = int(np.setdiff1d(np.arange(n), uniq)[0])
            report.add(
                "frame_list_gap",
                f"{rel}: video {vid!r}: {n - len(uniq)} of frame ids 0..{n - 1} not listed "
                f"(first: {first_gap})",
                n - len(uniq),
            )
        videos[vid] = n
        wrong_dir = g[g["path"].map(lambda p: p.replace("\\", "/").split("/")[0] != vid)]
        if len(wrong_dir):
            r = wrong_dir.iloc[0]
            report.add(
                "frame_list_path_mismatch",
                f"{rel}:{r['line']}: {r['path']} for video {vid!r}",
                len(wrong_dir),
            )
    # frames on disk: one directory listing per folder
    listing = {}
    for p, line in zip(df["path"].tolist(), df["line"].tolist()):
        d, name = os.path.split(os.path.join(frames_dir, p))
        names = listing.get(d)
        if names is None:
            try:
                names = listing[d] = set(os.listdir(d))
            except OSError:
                names = listing[d] = set()
        if name not in names:
            report.add("missing_frame", f"{_rel(root, os.path.join(frames_dir, p))} ({rel}:{line})")
        elif verify_all and read_frame(os.path.join(frames_dir, p), 8) is None:
            report.add(
                "unreadable_frame", f"{_rel(root, os.path.join(frames_dir, p))} ({rel}:{line})"
            )
    return videos, df


#: Category of each rule of :func:`~slowfast_det.ava.checks.box_row_errors` (by field).
_BOX_ERROR_CATEGORIES = {
    "x2": "bad_box",
    "y2": "bad_box",
    "action_id": "unknown_label_id",
    "score": "bad_row",
}


def _check_boxes(path, kind, report, root, max_bad_rows, num_classes):
    table, _ = _read_all_rows(
        lambda src: read_box_csv(src, kind=kind), path, report, root, max_bad_rows
    )
    if table is None:
        return None
    rows, rel = table.rows, _rel(root, path)
    lines = rows["line"].to_numpy()
    for errors in box_row_errors(rows, kind, num_classes):  # the rows the loader stops at
        category = _BOX_ERROR_CATEGORIES[errors.field]
        for k, i in enumerate(errors.positions):
            if category == "bad_row":
                example = str(AVAFormatError(rel, int(lines[i]), errors.field, errors.message(k)))
            else:
                example = f"{rel}:{lines[i]}: {errors.message(k)}"
            report.add(category, example)
    scale = BoxScale().add(rows)
    if scale.looks_like_pixels:
        report.add("boxes_in_pixels", scale.message(rel), scale.pixel_like)
    ranges = box_ranges(rows)
    out = np.flatnonzero(ranges["outside"] & ~ranges["pixel_like"])  # clipped by the loader
    if len(out):
        box = ranges["coords"][out[0]].tolist()
        example = f"{rel}:{lines[out[0]]}: box {box} (first of {len(out)})"
        report.add("box_out_of_range", example, len(out))
    if kind == "groundtruth":
        n_rep, line, orig = repeated_rows(rows)
        if n_rep:
            report.add(
                "repeated_groundtruth_row",
                f"{rel}:{line}: repeats line {orig} (first of {n_rep})",
                n_rep,
            )
    return table


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
    origin_file = frame_origin_path(os.path.join(root, "frame_lists"))
    try:
        origin = frame_origin(frame_source, origin_file, start_second=start_second, fps=fps)
    except AVAFormatError as e:
        report.add("bad_row", str(e))
        origin = frame_origin(frame_source, None, start_second=start_second, fps=fps)
    start_second, fps = origin.start_second, origin.fps
    if origin.source in ("given", "AVA's default"):
        where = "the default for movies" if video and origin.source != "given" else origin.source
    else:
        where = _rel(root, origin.source)
    report.info["frame index"] = {
        "frame 0 at movie second": str(start_second),
        "fps": str(fps),
        "from": where,
    }
    before_first_frame = 0
    frames_dir = os.path.join(root, "frames")
    videos_dir = os.path.join(root, "videos")
    ann = os.path.join(root, "annotations")
    media_dir = videos_dir if video else frames_dir
    if not os.path.isdir(media_dir):
        report.add(
            "missing_file",
            f"{_rel(root, media_dir)}/ (the {'videos' if video else 'frames'} folder)",
        )

    label_ids = None
    try:
        lm = label_map_file or find_label_map(ann, version)
    except FileNotFoundError as e:
        lm = None
        report.add("missing_file", str(e))
    if lm is not None and not os.path.exists(lm):
        report.add("missing_file", _rel(root, lm))
    elif lm is not None:
        try:
            label_ids = set(read_label_map(lm)[1])
        except AVAFormatError as e:
            report.add("bad_row", str(AVAFormatError(_rel(root, lm), e.line, e.field, e.message)))
        else:
            report.info["label map"] = {
                "file": _rel(root, lm),
                "classes": len(label_ids),
                "largest id": str(max(label_ids)),
                "train with": f"MODEL.ROI_HEADS.NUM_CLASSES {max(label_ids)}",
            }
    if num_classes is None:
        num_classes = max(label_ids) if label_ids else 80

    for split in splits:
        facts = {}
        report.info[split] = facts
        fl = os.path.join(root, "frame_lists", f"{split}.csv")
        videos, fl_df = None, None
        if video:
            pass  # the movies are checked once the annotated videos are known
        elif not os.path.exists(fl):
            report.add("missing_file", _rel(root, fl))
        else:
            res = _check_frame_list(
                root, frames_dir, fl, report, max_bad_rows, verify_images == "all"
            )
            if res is not None:
                videos, fl_df = res
                facts["videos"] = len(videos)
                facts["frames listed"] = len(fl_df)

        tables = {}
        gt = os.path.join(ann, f"ava_{split}_{version}.csv")
        pred = os.path.join(ann, f"ava_{split}_predicted_boxes.csv")
        excl = os.path.join(ann, f"ava_{split}_excluded_timestamps_{version}.csv")
        for path, kind, required in (
            (gt, "groundtruth", True),
            (pred, "proposals", split != "train"),
        ):
            if not os.path.exists(path):
                if required and kind == "proposals":
                    report.add("predicted_boxes_missing", _rel(root, path))
                elif required:
                    report.add("missing_file", _rel(root, path))
                else:
                    facts[f"{_rel(root, path)}"] = "absent (optional)"
                continue
            tables[kind] = _check_boxes(path, kind, report, root, max_bad_rows, num_classes)
        excluded = set()
        if os.path.exists(excl):
            excluded, _ = _read_all_rows(read_exclusions, excl, report, root, max_bad_rows)
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
                rel=lambda p: _rel(root, p),
            )
        if videos is None:
            continue
        # keyframes against the frame list (or the movies)
        annotated = set()
        for kind, table in tables.items():
            if table is None:
                continue
            rel = _rel(root, gt if kind == "groundtruth" else pred)
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
                        f"{_rel(root, full)} (keyframe {vid},{format_timestamp(ts)})",
                    )
    if before_first_frame:
        report.hints.append(
            f"{before_first_frame} keyframes lie before frame 0 of their video: "
            + origin_hint(origin)
        )
    return report
