"""Person proposals for an AVA-format dataset: a Detectron2 detector run over its keyframes
(``tools/detect_persons.py``).

The pieces:

* :func:`keyframe_dicts`: the dataset dicts of the keyframes to detect on (those of the
  ground-truth file, or every whole second of every video), through
  :func:`~slowfast_det.data.load_ava_dicts`, so the frames are found as training finds them.
* :func:`read_keyframe`: the one place a keyframe image is read. It dispatches on the dict's
  ``frame_source["type"]`` through :data:`KEYFRAME_READERS` (``"frames"``: the extracted frame;
  ``"video"``: the movie frame shown at the keyframe's time, as the clip mapper reads it); a new
  source type plugs in with :func:`register_keyframe_reader`.
* :class:`KeyframeMapper`: a keyframe prepared for the person detector (the test-time resize
  of Detectron2's ``DefaultPredictor``, :class:`~slowfast_det.engine.person_boxes.DetectorInput`),
  in the loader's workers; the detector is the one wrapper,
  :class:`~slowfast_det.engine.person_boxes.PersonDetector` (a model-zoo name or a config
  file plus weights, :func:`~slowfast_det.engine.person_boxes.detector_config`), run on batches.
* :func:`run_person_detection`: batches -> person boxes -> committed, in order, to a
  :class:`~slowfast_det.engine.infer.ResumableResultsWriter` (so an interrupted run continues
  where it stopped and the CSV appears only when complete), with a tqdm bar.

Output rows (AVA's predicted-boxes format, :func:`boxes_csv_text`, written by the one AVA
CSV writer :func:`~slowfast_det.ava.files.box_csv_text`):
``video_id,timestamp,x1,y1,x2,y2,,score``, timestamp 4 digits, coordinates normalised to
the frame and rounded to 3 decimals (as AVA's files), empty action id, numbers as
:data:`~slowfast_det.ava.files.NUMBER_FORMAT`; boxes of a keyframe by descending score; a
keyframe with no person above the threshold is one 2-column row ``video_id,timestamp``
(processed, no boxes). Unreadable keyframes get no row
(logged and counted).
"""

import logging
import os
import tempfile

import numpy as np
from detectron2.data import build_detection_test_loader
from tqdm import tqdm

from slowfast_det.ava.files import box_csv_text, write_box_csv
from slowfast_det.ava.io import read_frame_list
from slowfast_det.data import keyframe_index, load_ava_dicts
from slowfast_det.data.decode import read_frame
from slowfast_det.data.video_reader import VIDEO_EXTENSIONS, index_movies, list_movies, read_clip
from slowfast_det.engine.infer import PendingCommit
from slowfast_det.engine.person_boxes import DetectorInput, check_detector_weights, detector_config

__all__ = [
    "KEYFRAME_MODES",
    "KEYFRAME_READERS",
    "register_keyframe_reader",
    "read_keyframe",
    "keyframe_dicts",
    "detector_config",  # the person_boxes module's, importable from here too
    "check_detector_weights",
    "KeyframeMapper",
    "normalised_boxes",
    "boxes_csv_text",
    "run_person_detection",
]

logger = logging.getLogger(__name__)

_COORDS = ("x1", "y1", "x2", "y2")
KEYFRAME_MODES = ("auto", "groundtruth", "every-second")


# --------------------------------------------------------------------------- keyframe reading
def _read_frames_keyframe(dataset_dict):
    path = (
        dataset_dict.get("keyframe_path")
        or dataset_dict["frame_source"]["table"][keyframe_index(dataset_dict)]
    )
    return read_frame(path)


def _read_video_keyframe(dataset_dict):
    frames, error = read_clip(dataset_dict["frame_source"], [keyframe_index(dataset_dict)])
    if frames[0] is None:
        logger.warning("keyframe %s: %s", dataset_dict.get("image_id"), error)
    return frames[0]


#: frame_source type -> callable(dataset_dict) -> BGR uint8 (H, W, 3) keyframe, or None if
#: unreadable.
KEYFRAME_READERS = {"frames": _read_frames_keyframe, "video": _read_video_keyframe}


def register_keyframe_reader(source_type, reader):
    """Make :func:`read_keyframe` read dicts whose ``frame_source["type"]`` is ``source_type``
    with ``reader(dataset_dict)`` (returning the BGR uint8 keyframe, or None if unreadable)."""
    KEYFRAME_READERS[str(source_type)] = reader


def read_keyframe(dataset_dict):
    """The keyframe image of a dataset dict: BGR uint8 (H, W, 3), or None when it cannot be read.

    Raises:
        ValueError naming the keyframe when its frame source type has no reader.
    """
    kind = dataset_dict["frame_source"].get("type")
    reader = KEYFRAME_READERS.get(kind)
    if reader is None:
        raise ValueError(
            f"keyframe {dataset_dict.get('image_id')}: frame_source type {kind!r} has no "
            f"keyframe reader (known: {sorted(KEYFRAME_READERS)}; add one with "
            "register_keyframe_reader)"
        )
    return reader(dataset_dict)


# --------------------------------------------------------------------------- which keyframes
def _frame_list_lengths(frame_list_file):
    """video id -> frames of the video in the frame list (its last frame id + 1)."""
    df = read_frame_list(frame_list_file)
    if len(df) == 0:
        raise ValueError(f"{frame_list_file}: the frame list has no frames")
    return {
        vid: int(n) + 1 for vid, n in df.groupby("video_id", sort=True)["frame_id"].max().items()
    }


def _movie_lengths(videos_dir, fps, start_second, stats):
    """video id -> frames of the AVA frame index each movie of ``videos_dir`` covers (from its
    header); movies whose header cannot be read or gives no duration are left out (counted,
    logged)."""
    sources, _, unreadable = index_movies(
        videos_dir, list(list_movies(videos_dir)), fps, start_second
    )
    lengths = {}
    for vid, src in sources.items():
        if not src["num_frames"]:
            logger.warning(
                "%s: left out of the every-second keyframes (%s)",
                src["path"],
                unreadable.get(vid, "its header gives no duration"),
            )
            if stats is not None:
                stats["movies_unreadable"] += 1
            continue
        lengths[vid] = src["num_frames"]
    if not lengths:
        raise ValueError(f"{videos_dir}: no readable movie ({', '.join(VIDEO_EXTENSIONS)})")
    return lengths


def _every_second_csv(lengths, fps, start_second, path):
    """Write a 2-column key CSV of every whole second of every video (``lengths``: video id ->
    frames of the AVA frame index; the keyframe of second start + k is frame k * fps)."""
    keys = [
        (vid, start_second + k)
        for vid, n in sorted(lengths.items())
        for k in range((n - 1) // fps + 1)
    ]
    write_box_csv({"video_id": [v for v, _ in keys], "timestamp": [t for _, t in keys]}, path)


def keyframe_dicts(
    frames_dir,
    frame_list_file,
    groundtruth_file=None,
    keyframes="auto",
    *,
    fps=30,
    start_second=900,
    dataset_name=None,
    stats=None,
    frame_source="frames",
    videos_dir=None,
):
    """Dataset dicts of the keyframes to detect on, in (video_id, timestamp) order.

    Args:
        frames_dir, frame_list_file: the frames (as :func:`~slowfast_det.data.load_ava_dicts`);
            unused with ``frame_source="video"``.
        groundtruth_file: AVA ground-truth CSV (its keys, 2-column rows included), optional.
        keyframes: "groundtruth" (the keys of ``groundtruth_file``), "every-second" (every whole
            second of every video of the frame list, from ``start_second``), or "auto" (the
            ground truth's keys when the file exists, else every second).
        fps, start_second: frame rate of the frames and the movie second of frame 0.
        stats: optional Counter receiving the loader's problem counts.
        frame_source, videos_dir: "frames", or "video" for the movies
            ``<videos_dir>/<video_id>.{mp4,mkv,webm}`` (every-second keyframes then span each
            movie's duration from its header).
    Returns:
        ``(dicts, mode)``: the dicts and the keyframe mode used.
    """
    if keyframes not in KEYFRAME_MODES:
        raise ValueError(f"keyframes must be one of {KEYFRAME_MODES}, got {keyframes!r}")
    has_gt = bool(groundtruth_file) and os.path.exists(groundtruth_file)
    if keyframes == "auto":
        keyframes = "groundtruth" if has_gt else "every-second"
    if keyframes == "groundtruth" and not has_gt:
        raise FileNotFoundError(
            f"ground-truth file not found: {groundtruth_file} (or use keyframes 'every-second')"
        )
    video = frame_source == "video"
    source, what = (videos_dir, "videos folder") if video else (frame_list_file, "frame list")
    if not source or not os.path.exists(source):
        raise FileNotFoundError(f"{what} not found: {source}")
    # split "train": one dict per key of the "ground truth", no predicted boxes needed
    kw = dict(
        predicted_boxes_file=None,
        excluded_timestamps_file=None,
        split="train",
        fps=fps,
        start_second=start_second,
        predicted_boxes_required=False,
        dataset_name=dataset_name,
        stats=stats,
        num_classes=10**9,  # ids are not checked here: only the keys are used
        frame_source=frame_source,
        videos_dir=videos_dir,
    )
    if keyframes == "groundtruth":
        return load_ava_dicts(frames_dir, frame_list_file, groundtruth_file, **kw), keyframes
    lengths = (
        _movie_lengths(videos_dir, fps, start_second, stats)
        if video
        else _frame_list_lengths(frame_list_file)
    )
    with tempfile.TemporaryDirectory() as tmp:
        keys = os.path.join(tmp, "every_second.csv")
        _every_second_csv(lengths, fps, start_second, keys)
        return load_ava_dicts(frames_dir, frame_list_file, keys, **kw), keyframes


# --------------------------------------------------------------------------- the detector
class KeyframeMapper:
    """Dataset dict -> detector input, in the loader's workers: the keyframe read with
    :func:`read_keyframe` and prepared by :class:`~slowfast_det.engine.person_boxes.DetectorInput`
    (as Detectron2's ``DefaultPredictor`` does). ``image`` is a uint8 (3, h, w) tensor, or None
    when the keyframe cannot be read."""

    def __init__(self, dcfg):
        self.prepare = DetectorInput(dcfg)

    def __call__(self, dataset_dict):
        out = {k: dataset_dict[k] for k in ("image_id", "video_id", "timestamp")}
        img = read_keyframe(dataset_dict)
        if img is None:
            out["image"] = None
            return out
        out.update(self.prepare(img))
        return out


def normalised_boxes(boxes, scores, height, width):
    """Person boxes as written: ``boxes`` (R, 4) pixels of a ``height`` x ``width`` frame ->
    float64 normalised to [0, 1] and rounded to 3 decimals (as AVA's files); boxes without
    width or height after rounding are dropped.

    Returns:
        ``(boxes (R', 4), scores float64 (R',))``."""
    w, h = float(width), float(height)
    boxes = np.round(
        np.clip(np.asarray(boxes, np.float64).reshape(-1, 4) / np.array([w, h, w, h]), 0.0, 1.0), 3
    )
    ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[ok], np.asarray(scores, np.float64)[ok]


# --------------------------------------------------------------------------- output
def boxes_csv_text(items):
    """AVA predicted-boxes rows of ``items`` = ``[(video_id, timestamp, boxes (R, 4) normalised,
    scores (R,))]``, written by the one AVA CSV writer
    (:func:`~slowfast_det.ava.files.box_csv_text`):
    ``video_id,tttt,x1,y1,x2,y2,,score`` (empty action id; numbers as
    :data:`~slowfast_det.ava.files.NUMBER_FORMAT`); a keyframe without boxes is the 2-column
    row ``video_id,tttt`` (``0902``, or ``0902.5`` for a sub-second keyframe)."""
    vids, times, boxes_all, scores_all = [], [], [], []
    for vid, ts, boxes, scores in items:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(boxes) == 0:  # the key row: no coordinates
            boxes, scores = np.full((1, 4), np.nan), np.full(1, np.nan)
        vids += [vid] * len(boxes)
        times += [ts] * len(boxes)
        boxes_all.append(boxes)
        scores_all.append(scores)
    if not vids:
        return ""
    boxes = np.concatenate(boxes_all)
    return box_csv_text(
        {
            "video_id": vids,
            "timestamp": times,
            **{c: boxes[:, i] for i, c in enumerate(_COORDS)},
            "last": np.concatenate(scores_all),
        }
    )


def run_person_detection(
    detector,
    dicts,
    writer,
    batch_size=8,
    num_workers=0,
    commit_every=64,
    progress=True,
    after_commit=None,
):
    """Detect persons on the keyframes of ``dicts`` not yet in ``writer.done`` and commit them
    in order.

    Args:
        detector: :class:`~slowfast_det.engine.person_boxes.PersonDetector` (boxes written as
            :func:`normalised_boxes`).
        dicts: dataset dicts (:func:`keyframe_dicts`), in output order.
        writer: :class:`~slowfast_det.engine.infer.ResumableResultsWriter` with
            ``format_chunk=boxes_csv_text``.
        batch_size, num_workers: keyframes per detector call; loader worker processes.
        commit_every: keyframes per durable commit.
        progress: show a tqdm bar over all keyframes (done ones included).
        after_commit: optional callable(keyframes committed in this run), after each commit
            (tests use it to interrupt a run).
    Returns:
        dict: ``keyframes`` committed in this run, ``unreadable`` (committed without a row),
        ``boxes`` written.
    """
    todo = [d for d in dicts if d["image_id"] not in writer.done]
    stats = {"keyframes": 0, "unreadable": 0, "boxes": 0}
    bar = tqdm(
        total=len(writer.done) + len(todo),
        initial=len(writer.done),
        unit="keyframe",
        disable=not progress,
    )
    pending = PendingCommit(writer, stats, bar, after_commit)

    if todo:
        mapper = KeyframeMapper(detector.cfg)
        loader = build_detection_test_loader(
            todo, mapper=mapper, batch_size=batch_size, num_workers=num_workers
        )
        expected = iter(d["image_id"] for d in todo)
        for batch in loader:
            readable = [x for x in batch if x["image"] is not None]
            results = iter(
                [
                    normalised_boxes(b, sc, x["height"], x["width"])
                    for x, (b, sc) in zip(readable, detector.detect(readable))
                ]
            )
            for x in batch:
                if x["image_id"] != next(expected, None):
                    raise RuntimeError(
                        f"data loader returned keyframe {x['image_id']} out of order"
                    )
                pending.keys.append(x["image_id"])
                if x["image"] is None:
                    logger.warning("keyframe %s: cannot be read; no row written", x["image_id"])
                    stats["unreadable"] += 1
                    continue
                boxes, scores = next(results)
                pending.items.append((x["video_id"], x["timestamp"], boxes, scores))
            if len(pending.keys) >= commit_every:
                pending.commit()
        if pending.keys:
            pending.commit()
    bar.close()
    return stats
