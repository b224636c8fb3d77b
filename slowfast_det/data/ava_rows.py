"""The rows of an AVA folder's files made ready for :func:`~.ava_dicts.load_ava_dicts`: the
frame list indexed by video and frame id (gaps filled by the nearest frame), box tables checked
and clipped to [0, 1], and ground-truth persons and proposals grouped by keyframe; problems
stop with :class:`~slowfast_det.ava.io.AVAFormatError` (file, line, field) or are counted with
examples for the load log.
"""

import numpy as np

from slowfast_det.ava.checks import box_ranges, box_row_errors
from slowfast_det.ava.io import AVAFormatError, read_frame_list

_EXAMPLES = 5  # problem examples kept per category in the load log


def record_problem(stats, examples, category, message):
    """Count a problem of ``category`` in ``stats``; keep its message in ``examples`` (a few)."""
    stats[category] += 1
    ex = examples.setdefault(category, [])
    if len(ex) < _EXAMPLES:
        ex.append(message)


def index_frame_list(frame_list_file, stats, examples, rows=None):
    """video_id -> object array of frame paths (relative to frames/) indexed by frame id.

    ``rows``: the frame list's rows (``read_frame_list``'s columns) instead of reading
    ``frame_list_file``, which then only names them in messages.
    A frame id missing from the list (a gap) takes the path of the nearest listed frame and
    is counted; a duplicate or negative frame id is an error naming the file and line.
    """
    df = read_frame_list(frame_list_file) if rows is None else rows
    if len(df) == 0:
        raise AVAFormatError(frame_list_file, None, None, "the frame list has no frames")
    df = df.sort_values(["video_id", "frame_id"], kind="stable").reset_index(drop=True)
    vids = df["video_id"].to_numpy()
    ids = df["frame_id"].to_numpy()
    paths = df["path"].to_numpy()
    lines = df["line"].to_numpy()
    neg = np.flatnonzero(ids < 0)
    if len(neg):
        i = neg[0]
        raise AVAFormatError(
            frame_list_file, int(lines[i]), "frame_id", f"negative frame id {ids[i]}"
        )
    dup = np.flatnonzero((vids[1:] == vids[:-1]) & (ids[1:] == ids[:-1]))
    if len(dup):
        i = dup[0] + 1
        raise AVAFormatError(
            frame_list_file,
            int(lines[i]),
            "frame_id",
            f"duplicate frame id {ids[i]} for video {vids[i]!r} (also at line {lines[i - 1]})",
        )
    videos = {}
    _, starts = np.unique(vids, return_index=True)
    bounds = list(starts) + [len(vids)]
    for s, e in zip(bounds[:-1], bounds[1:]):
        vid, vid_ids, vid_paths = vids[s], ids[s:e], paths[s:e]
        n = int(vid_ids[-1]) + 1
        if n == e - s:
            videos[vid] = vid_paths
            continue
        full = np.arange(n)
        pos = np.clip(np.searchsorted(vid_ids, full), 0, len(vid_ids) - 1)
        prev = np.clip(pos - 1, 0, len(vid_ids) - 1)
        take_prev = np.abs(vid_ids[prev] - full) <= np.abs(vid_ids[pos] - full)
        nearest = np.where(take_prev, prev, pos)
        videos[vid] = vid_paths[nearest]
        missing = n - (e - s)
        stats["frame_list_gaps"] += missing
        ex = examples.setdefault("frame_list_gaps", [])
        if len(ex) < _EXAMPLES:
            gap = int(full[np.isin(full, vid_ids, invert=True)][0])
            ex.append(
                f"{frame_list_file}: video {vid!r}: {missing} frame ids missing (first: {gap}); "
                "nearest listed frames used"
            )
    return videos


def checked_boxes(table, path, kind, stats, examples, num_classes=None):
    """Validate a box table (:func:`~slowfast_det.ava.checks.box_row_errors`: the first bad
    row raises); clip coordinates to [0, 1] and drop boxes with no area left
    (:func:`~slowfast_det.ava.checks.box_ranges`, both counted).

    Returns the rows (DataFrame) with clipped coordinates.
    """
    rows = table.rows
    if len(rows) == 0:  # an empty file: no rows, but the clipped columns the callers read
        return rows.assign(cx1=[], cy1=[], cx2=[], cy2=[])
    line = rows["line"].to_numpy()
    errors = box_row_errors(rows, kind, num_classes)
    if errors:
        first = errors[0]
        raise AVAFormatError(path, int(line[first.positions[0]]), first.field, first.message())
    ranges = box_ranges(rows)
    coords, clipped, empty = ranges["coords"], ranges["clipped"], ranges["empty"]
    changed = np.flatnonzero(ranges["outside"])
    tag = "gt" if kind == "groundtruth" else "proposal"
    for i in changed[:_EXAMPLES]:
        examples.setdefault(f"{tag}_boxes_clipped", []).append(
            f"{path}:{line[i]}: box {coords[i].tolist()} clipped to [0, 1]"
        )
    stats[f"{tag}_boxes_clipped"] += len(changed)
    for i in np.flatnonzero(empty)[:_EXAMPLES]:
        examples.setdefault(f"{tag}_boxes_empty", []).append(
            f"{path}:{line[i]}: box {coords[i].tolist()} has no area inside the frame; dropped"
        )
    stats[f"{tag}_boxes_empty"] += int(empty.sum())
    rows = rows.copy()
    rows[["cx1", "cy1", "cx2", "cy2"]] = clipped
    return rows[~empty]


def group_groundtruth(rows):
    """key -> list of persons; rows with identical coordinates at a key are one person."""
    persons = {}
    cols = [
        rows[c].tolist()
        for c in (
            "video_id",
            "timestamp",
            "x1",
            "y1",
            "x2",
            "y2",
            "cx1",
            "cy1",
            "cx2",
            "cy2",
            "action_id",
            "last",
        )
    ]
    for vid, ts, x1, y1, x2, y2, cx1, cy1, cx2, cy2, aid, last in zip(*cols):
        per_key = persons.setdefault((vid, ts), {})
        p = per_key.get((x1, y1, x2, y2))
        if p is None:
            pid = int(last) if last == last else -1  # NaN -> -1
            p = per_key[(x1, y1, x2, y2)] = {
                "bbox": [cx1, cy1, cx2, cy2],
                "labels": [],
                "person_id": pid,
            }
        if aid not in p["labels"]:
            p["labels"].append(aid)
    out = {}
    for key, per_key in persons.items():
        for p in per_key.values():
            p["labels"].sort()
        out[key] = list(per_key.values())
    return out


def group_proposals(rows):
    """key -> {"boxes": float32 (P, 4), "scores": float32 (P,)}; duplicate boxes keep the best
    score."""
    best = {}
    cols = [rows[c].tolist() for c in ("video_id", "timestamp", "cx1", "cy1", "cx2", "cy2", "last")]
    for vid, ts, x1, y1, x2, y2, score in zip(*cols):
        per_key = best.setdefault((vid, ts), {})
        box = (x1, y1, x2, y2)
        if score > per_key.get(box, -np.inf):
            per_key[box] = score
    return {
        key: {
            "boxes": np.asarray(list(per_key.keys()), dtype=np.float32).reshape(-1, 4),
            "scores": np.asarray(list(per_key.values()), dtype=np.float32),
        }
        for key, per_key in best.items()
    }


def empty_proposals():
    """The proposals of a keyframe with none: zero boxes and zero scores (float32)."""
    return {"boxes": np.zeros((0, 4), dtype=np.float32), "scores": np.zeros((0,), dtype=np.float32)}
