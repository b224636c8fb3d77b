"""The AVA checker's per-file checks: a frame list, a box CSV, any reader's malformed rows.

Used by :func:`~.checker.check_ava_dataset`. Each check reads its file with the loader's
reader (:mod:`slowfast_det.ava.io`), but instead of stopping at the first malformed row it
records the row in the :class:`~.checker_report.AVACheckReport`, neutralises it and reads
again (:func:`read_all_rows`), then adds the file's other findings (frame-list gaps, frames
missing on disk, bad boxes, unknown action ids, pixel coordinates, repeated rows).
"""

import io
import os

import numpy as np

from slowfast_det.ava.checks import BoxScale, box_ranges, box_row_errors, repeated_rows
from slowfast_det.ava.file_text import read_text
from slowfast_det.ava.io import AVAFormatError, frame_list_has_header, read_box_csv, read_frame_list

from .decode import read_frame

__all__ = ["check_boxes", "check_frame_list", "read_all_rows", "rel_path"]


def rel_path(root, path):
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return path


def read_all_rows(read, path, report, root, max_bad_rows, placeholder=""):
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
            msg = str(AVAFormatError(rel_path(root, path), e.line, e.field, e.message))
            if e.line is None or e.line in bad or e.whole_file:
                report.add("bad_row", msg)
                return None, bad
            if len(bad) >= max_bad_rows:
                report.add(
                    "bad_row",
                    f"{rel_path(root, path)}: more malformed rows not counted "
                    f"(limit {max_bad_rows})",
                )
                return None, bad
            report.add("bad_row", msg)
            if lines is None:
                # decoded as the readers decode (UTF-16, .gz), line ends as open() makes them
                lines = io.StringIO(read_text(path), newline=None).read().split("\n")
            bad.add(e.line)
            lines[e.line - 1] = placeholder
            source = io.StringIO("\n".join(lines))


def check_frame_list(root, frames_dir, path, report, max_bad_rows, verify_all):
    """video -> number of frames (max frame id + 1); checks files, gaps, paths."""
    placeholder = '__bad_row__ 0 0 __bad_row__/x.jpg ""'
    try:
        if not frame_list_has_header(path):
            report.add(
                "frame_list_without_header", f"{rel_path(root, path)}:1: a frame, not the header"
            )
    except AVAFormatError:
        pass  # the separator error: reported by the read below
    df, bad = read_all_rows(read_frame_list, path, report, root, max_bad_rows, placeholder)
    if df is None:
        return None
    if bad:
        df = df[~df["line"].isin(bad)]
    rel = rel_path(root, path)
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
            report.add(
                "missing_frame", f"{rel_path(root, os.path.join(frames_dir, p))} ({rel}:{line})"
            )
        elif verify_all and read_frame(os.path.join(frames_dir, p), 8) is None:
            report.add(
                "unreadable_frame", f"{rel_path(root, os.path.join(frames_dir, p))} ({rel}:{line})"
            )
    return videos, df


#: Category of each rule of :func:`~slowfast_det.ava.checks.box_row_errors` (by field).
_BOX_ERROR_CATEGORIES = {
    "x2": "bad_box",
    "y2": "bad_box",
    "action_id": "unknown_label_id",
    "score": "bad_row",
}


def check_boxes(path, kind, report, root, max_bad_rows, num_classes):
    table, _ = read_all_rows(
        lambda src: read_box_csv(src, kind=kind), path, report, root, max_bad_rows
    )
    if table is None:
        return None
    rows, rel = table.rows, rel_path(root, path)
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
