"""Checks of parsed AVA box tables and keyframes that the readers cannot make row by row.

Each rule is written once here, as a pure numpy / pandas function that returns what is
wrong (row positions, fields, counts) and makes its message; the callers decide what a
finding does. The data loader (:mod:`slowfast_det.data.datasets`, :mod:`~slowfast_det.data.mapper`)
raises ``AVAFormatError(path, line, field)`` at the first error or repairs and counts, the
dataset checker (:mod:`slowfast_det.data.checker`) reports every finding, the evaluator
(:func:`slowfast_det.ava.evaluate.evaluate_files`) logs. ``rows`` is a box table's rows (the
DataFrame of :class:`~slowfast_det.ava.io.BoxTable`, or a mapping of equal-length arrays).
No torch, no Detectron2 (the evaluator command must start fast).

- :func:`box_row_errors`: rows no box table may have: x2 < x1, y2 < y1, a ground-truth
  action id outside ``1..num_classes`` (:func:`action_ids_outside`), a predicted box
  without a score.
- :func:`box_ranges`: coordinates outside [0, 1] (the loader clips them), boxes with no
  area left inside the frame (the loader drops them), pixel-like coordinates.
- :func:`keyframes_outside`: keyframes whose frame index lies outside the video's frames.
- :class:`BoxScale`: boxes in pixels instead of coordinates normalised to [0, 1].
- :func:`repeated_rows`: rows repeated exactly (two copies of a ground-truth box are two
  boxes to find for the official evaluator: that person's recall is halved).
- :func:`classes_outside`: rows of action ids absent from the label map (the evaluator
  drops them, as the official script).
"""

import logging

import numpy as np

from .timestamps import frame_positions

__all__ = [
    "PIXEL_LIMIT",
    "BoxScale",
    "RowErrors",
    "action_id_message",
    "action_ids_outside",
    "box_ranges",
    "box_row_errors",
    "keyframe_outside_message",
    "keyframes_outside",
    "repeated_rows",
    "classes_outside",
    "check_groundtruth",
    "EvaluationInputChecks",
]

logger = logging.getLogger(__name__)

#: A coordinate above this is taken for a pixel: a normalised box that overshoots the frame
#: by half its size is not a rounding error, and a person box in pixels is hardly ever
#: within 1.5 pixels of the top-left corner. Coordinates in (1, PIXEL_LIMIT] are "outside
#: [0, 1]" (the data loader clips them).
PIXEL_LIMIT = 1.5
_COORDS = ["x1", "y1", "x2", "y2"]
_ROW_COLUMNS = ["video_id", "timestamp", *_COORDS, "action_id", "last"]


def _col(rows, name, dtype=None):
    """Column ``name`` of a DataFrame or of a mapping of arrays, as a numpy array."""
    return np.asarray(rows[name], dtype=dtype)


def _comparable(values):
    """``values`` as a float64 / int64 array in which equal entries (NaN included) are equal."""
    if values.dtype.kind in "OUS":  # ids: their codes
        return np.unique(values.astype(str), return_inverse=True)[1].astype(np.float64)
    values = values.astype(np.float64)
    return np.where(np.isnan(values), np.inf, values)  # NaN repeats NaN, as pandas' duplicated


class RowErrors:
    """The rows of a table that break one rule.

    Attributes:
        field: the CSV field to name in the error (``x2``, ``y2``, ``action_id``, ``score``).
        positions: int64 (E,) positions of the rows in the table, in file order.
    """

    def __init__(self, field, positions, describe):
        self.field, self.positions, self._describe = field, positions, describe

    def __len__(self):
        return len(self.positions)

    def message(self, k=0):
        """What is wrong with the ``k``-th row (without file and line)."""
        return self._describe(int(self.positions[k]))


def action_ids_outside(action_ids, num_classes=None):
    """Positions (int64 (E,)) of the action ids outside ``1..num_classes`` (None: no upper
    bound, only ids < 1, which the model's padding value 0 would hide)."""
    ids = np.asarray(action_ids)
    bad = ids < 1
    if num_classes is not None:
        bad |= ids > num_classes
    return np.flatnonzero(bad)


def action_id_message(action_id, num_classes=None):
    """The text of an action id :func:`action_ids_outside` finds."""
    if num_classes is None:
        return f"action id {action_id} is not >= 1"
    return f"action id {action_id} outside 1..{num_classes}"


def box_row_errors(rows, kind, num_classes=None):
    """The rows no box table may have, one :class:`RowErrors` per rule, in this order:
    ``x2 < x1`` (field ``x2``), ``y2 < y1`` (``y2``); for ``kind="groundtruth"`` an action id
    outside ``1..num_classes`` (``action_id``); for other kinds (predicted boxes) a missing
    score in ``last`` (``score``). Rules that no row breaks are left out, so an empty list
    means a valid table. The loader raises the first row of the first rule, the checker
    reports them all.
    """
    x1, y1, x2, y2 = (_col(rows, c) for c in _COORDS)
    errors = []
    for lo, hi, name in ((x1, x2, "x2"), (y1, y2, "y2")):
        bad = np.flatnonzero(hi < lo)
        if len(bad):

            def describe(i, lo=lo, hi=hi, n=name):
                return f"box has {n} < {n[0]}1 ({hi[i]} < {lo[i]})"

            errors.append(RowErrors(name, bad, describe))
    if kind == "groundtruth":
        action = _col(rows, "action_id")
        bad = action_ids_outside(action, num_classes)
        if len(bad):
            errors.append(
                RowErrors("action_id", bad, lambda i: action_id_message(action[i], num_classes))
            )
    else:
        bad = np.flatnonzero(np.isnan(_col(rows, "last", np.float64)))
        if len(bad):
            errors.append(
                RowErrors(
                    "score",
                    bad,
                    lambda i: "missing or empty (predicted boxes need a detector score)",
                )
            )
    return errors


def box_ranges(rows):
    """Where the boxes lie relative to the frame ([0, 1]).

    Returns:
        dict: ``coords`` float64 (N, 4) as read; ``clipped`` (N, 4) clipped to [0, 1];
        ``outside`` bool (N,): a coordinate outside [0, 1] (the loader clips it);
        ``pixel_like`` bool (N,): a coordinate above :data:`PIXEL_LIMIT` (see
        :class:`BoxScale`); ``empty`` bool (N,): no area left after clipping (the loader
        drops the row).
    """
    coords = np.stack([_col(rows, c, np.float64) for c in _COORDS], axis=1).reshape(-1, 4)
    clipped = np.clip(coords, 0.0, 1.0)
    return {
        "coords": coords,
        "clipped": clipped,
        "outside": (clipped != coords).any(axis=1),
        "pixel_like": (coords > PIXEL_LIMIT).any(axis=1),
        "empty": (clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1]),
    }


def keyframes_outside(timestamps, num_frames, start_second, fps):
    """The frame index of each keyframe and whether it lies outside the video.

    Args:
        timestamps: keyframe times (seconds), number or array (K,).
        num_frames: the video's frames (None: unknown, only indices < 0 are outside).
        start_second, fps: the movie second of frame index 0 and the frame rate.
    Returns:
        (centers int64 (K,), outside bool (K,)) (0-d for a scalar timestamp).
    """
    centers = frame_positions(timestamps, start_second, fps)
    outside = centers < 0
    if num_frames is not None:
        outside |= centers >= num_frames
    return centers, outside


def keyframe_outside_message(center, num_frames):
    """The text of a keyframe :func:`keyframes_outside` finds."""
    if num_frames is None:
        return f"frame index {center} is before the video's first frame (0)"
    return f"frame index {center} outside the video's frames 0..{num_frames - 1}"


class BoxScale:
    """Counts boxes outside [0, 1] and boxes that look like pixels; add tables chunk by chunk.

    Attributes:
        rows: box rows seen.
        outside: rows with a coordinate < 0 or > 1.
        pixel_like: rows with a coordinate > :data:`PIXEL_LIMIT`.
        max_coord: the largest coordinate seen (NaN before any row).
        first_pixel_line: file line of the first pixel-like row (or None).
    """

    def __init__(self):
        self.rows = self.outside = self.pixel_like = 0
        self.max_coord = float("nan")
        self.first_pixel_line = None

    def add(self, rows):
        """Count one table (columns x1, y1, x2, y2 and optionally line); returns self."""
        x1, y1, x2, y2 = (_col(rows, c, np.float64) for c in _COORDS)
        n = len(x1)
        if n == 0:
            return self
        high = np.maximum(np.maximum(x1, y1), np.maximum(x2, y2))
        self.rows += n
        m = float(high.max())
        if m > 1 or np.isnan(m):  # the usual case (all in [0, 1]) needs only the minimum below
            pixel = high > PIXEL_LIMIT
            k = int(np.count_nonzero(pixel))
            if k and self.first_pixel_line is None and "line" in rows:
                self.first_pixel_line = int(_col(rows, "line")[np.argmax(pixel)])
            self.pixel_like += k
            low = np.minimum(np.minimum(x1, y1), np.minimum(x2, y2))
            self.outside += int(np.count_nonzero((high > 1) | (low < 0)))
            m = float(np.nanmax(high))
        else:
            low = min(x1.min(), y1.min(), x2.min(), y2.min())
            if low < 0:
                self.outside += int(np.count_nonzero((x1 < 0) | (y1 < 0) | (x2 < 0) | (y2 < 0)))
        self.max_coord = m if np.isnan(self.max_coord) else max(self.max_coord, m)
        return self

    @property
    def looks_like_pixels(self):
        return self.pixel_like > 0

    def message(self, path):
        """One sentence about the pixel-like boxes of file ``path`` (empty if there are none)."""
        if not self.pixel_like:
            return ""
        where = (
            f"{path}:{self.first_pixel_line}" if self.first_pixel_line is not None else str(path)
        )
        return (
            f"{where}: {self.pixel_like} of {self.rows} boxes have coordinates above "
            f"{PIXEL_LIMIT:g} (largest {self.max_coord:g}): the boxes look like pixels; AVA boxes "
            "are normalised to [0, 1] (x / frame width, y / frame height)"
        )


def repeated_rows(rows, columns=_ROW_COLUMNS):
    """Rows that repeat an earlier row exactly (all of ``columns``, as parsed: ``0902`` is 902).

    Returns:
        (count of repeated rows beyond their first copy, line of the first repeat, line of the
        row it repeats); the lines are None when there is no repeat.
    """
    cols = [c for c in columns if c in rows]
    if len(cols) == 0 or len(_col(rows, cols[0])) == 0:
        return 0, None, None
    table = np.stack([_comparable(_col(rows, c)) for c in cols], axis=1)
    _, first_of, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    dup = first_of[inverse] != np.arange(len(table))  # not the first copy of its row
    n = int(dup.sum())
    if not n:
        return 0, None, None
    if "line" not in rows:
        return n, None, None
    i = int(np.argmax(dup))
    lines = _col(rows, "line")
    return n, int(lines[i]), int(lines[first_of[inverse[i]]])


def classes_outside(rows, class_ids):
    """Rows whose ``action_id`` is not in ``class_ids``: (count, sorted list of those ids)."""
    action = _col(rows, "action_id")
    out = ~np.isin(action, np.asarray(sorted(class_ids), dtype=np.int64))
    return int(out.sum()), [int(a) for a in np.unique(action[out])]


def _ids_text(ids, limit=20):
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f", ... ({len(ids)} ids)" if len(ids) > limit else "")


def check_groundtruth(rows, path, class_ids=None, log=True):
    """The ground-truth checks the evaluator logs: pixel-like boxes, repeated rows and (with
    ``class_ids``) rows of classes outside the label map.

    Returns:
        dict of counts: gt_boxes_pixel_like, gt_rows_repeated and, with class_ids,
        gt_rows_other_class with gt_other_class_ids (list of ids).
    """
    scale = BoxScale().add(rows)
    n_rep, line, orig = repeated_rows(rows)
    out = {"gt_boxes_pixel_like": scale.pixel_like, "gt_rows_repeated": n_rep}
    if log and scale.pixel_like:
        logger.warning("%s", scale.message(path))
    if log and n_rep:
        logger.warning(
            "%s: %d ground-truth rows repeat an earlier row exactly (first: line %s repeats "
            "line %s); each copy is one more box to find, as in the official evaluator (two "
            "copies halve that box's recall)",
            path,
            n_rep,
            line,
            orig,
        )
    if class_ids is not None:
        n_other, ids = classes_outside(rows, class_ids)
        out["gt_rows_other_class"], out["gt_other_class_ids"] = n_other, ids
        if log and n_other:
            logger.warning(
                "%s: %d of %d ground-truth rows have action ids not in the label map and are not "
                "evaluated (dropped, as the official evaluator does); ids: %s",
                path,
                n_other,
                len(_col(rows, "action_id")),
                _ids_text(ids),
            )
    return out


class EvaluationInputChecks:
    """The evaluator's input warnings (see ``evaluate_files``)::

        # logs the GT checks
        checks = EvaluationInputChecks(gt.columns(), groundtruth_path, class_ids)
        checks.add_detections(det.columns())
        result.counts.update(checks.finish(detections_path))  # logs the detection check

    ``add_detections`` counts the box scale of a detection table (call it per chunk).
    ``finish`` returns the integer counts (gt_rows_repeated, gt_boxes_pixel_like,
    det_boxes_pixel_like) and says how many rows of one file look like pixels when the
    other file has none (those rows are compared as written, not rescaled; with both in
    pixels the IoUs, and so the mAP, are unchanged).
    """

    def __init__(self, gt_rows, gt_path, class_ids):
        self.gt_path = gt_path
        self.gt_counts = check_groundtruth(gt_rows, gt_path, class_ids)
        self.gt_num_rows = len(_col(gt_rows, "x1"))
        self.gt_scale_pixels = self.gt_counts["gt_boxes_pixel_like"] > 0
        self.det_scale = BoxScale()

    def add_detections(self, rows):
        self.det_scale.add(rows)

    def finish(self, det_path):
        det = self.det_scale
        if det.pixel_like:
            logger.warning("%s", det.message(det_path))
        mixed = (
            "%s: %d of %d %s look like pixels while no %s of %s does: those rows are compared "
            "with the normalised boxes as written (nothing is rescaled)"
        )
        gt_pixels = self.gt_counts["gt_boxes_pixel_like"]
        if det.pixel_like and not self.gt_scale_pixels and det.rows:
            logger.warning(
                mixed,
                det_path,
                det.pixel_like,
                det.rows,
                "detection rows",
                "ground-truth box",
                self.gt_path,
            )
        elif self.gt_scale_pixels and not det.pixel_like and det.rows:
            logger.warning(
                mixed,
                self.gt_path,
                gt_pixels,
                self.gt_num_rows,
                "ground-truth rows",
                "detection",
                det_path,
            )
        return {
            "gt_rows_repeated": self.gt_counts["gt_rows_repeated"],
            "gt_boxes_pixel_like": self.gt_counts["gt_boxes_pixel_like"],
            "det_boxes_pixel_like": det.pixel_like,
        }
