"""Frame-mAP of the official files, or of detections held in memory, against the official
label map, ground-truth and exclusions files: read them, run the value checks
(:class:`~slowfast_det.ava.checks.EvaluationInputChecks`) and score with
:func:`~slowfast_det.ava.metric.frame_map` (its module docstring has the rules)."""

from slowfast_det.ava.checks import EvaluationInputChecks
from slowfast_det.ava.io import read_exclusions, read_label_map

from .array_ops import Clock
from .box_arrays import BoxArrays, read_box_arrays
from .metric import frame_map

__all__ = ["evaluate_files", "evaluate_detections"]


def _evaluate(
    labelmap,
    groundtruth,
    detections,
    detections_name,
    exclusions,
    capacity,
    chunksize,
    rule,
    use_pyarrow,
    timings,
):
    """The body of :func:`evaluate_files` and :func:`evaluate_detections`: ``detections`` is
    a file name or a BoxArrays."""
    clock = Clock(timings)
    names, class_ids = read_label_map(labelmap)
    excluded = read_exclusions(exclusions) if exclusions else set()
    clock("read_labelmap_exclusions")
    gt = read_box_arrays(groundtruth, "groundtruth", chunksize, use_pyarrow)
    # pixel-like boxes, repeated rows, other classes
    checks = EvaluationInputChecks(gt.columns(), groundtruth, class_ids)
    clock("read_groundtruth")
    if isinstance(detections, BoxArrays):
        det = detections
    else:
        det = read_box_arrays(detections, "detections", chunksize, use_pyarrow)
    checks.add_detections(det.columns())
    clock("read_detections")
    result = frame_map(
        gt,
        det,
        class_ids,
        excluded,
        capacity,
        groundtruth_path=groundtruth,
        detections_path=detections_name,
        keys_absent_from_groundtruth=rule,
        timings=timings,
    )
    result.counts.update(checks.finish(detections_name))
    return result, names


def evaluate_files(
    labelmap,
    groundtruth,
    detections,
    exclusions=None,
    capacity=50,
    chunksize=1_000_000,
    keys_absent_from_groundtruth="false-positive",
    use_pyarrow=True,
    timings=None,
):
    """Frame-mAP from the official files (label map .pbtxt, ground-truth CSV, detections CSV,
    optional excluded-timestamps CSV). ``keys_absent_from_groundtruth`` picks the official
    script version (see :func:`frame_map`); ``use_pyarrow`` lets the fast CSV reader try
    first (:mod:`~slowfast_det.ava.box_arrays`); ``timings`` (a dict) gets the seconds
    of reading each file and of each stage of :func:`frame_map`. Returns (FrameMAPResult, class
    names dict)."""
    return _evaluate(
        labelmap,
        groundtruth,
        detections,
        detections,
        exclusions,
        capacity,
        chunksize,
        keys_absent_from_groundtruth,
        use_pyarrow,
        timings,
    )


def evaluate_detections(
    labelmap,
    groundtruth,
    detections,
    exclusions=None,
    capacity=50,
    keys_absent_from_groundtruth="false-positive",
    detections_name="detections",
    timings=None,
):
    """:func:`evaluate_files` for detections held in memory: ``detections`` is a
    :class:`~slowfast_det.ava.box_arrays.BoxArrays` (e.g.
    :func:`~slowfast_det.ava.box_arrays.detection_arrays` of a model's outputs), scored
    against the official label map, ground-truth and exclusions files with the same checks
    and rules; ``detections_name`` names them in messages. Returns (FrameMAPResult, class
    names dict)."""
    return _evaluate(
        labelmap,
        groundtruth,
        detections,
        detections_name,
        exclusions,
        capacity,
        1_000_000,
        keys_absent_from_groundtruth,
        True,
        timings,
    )
