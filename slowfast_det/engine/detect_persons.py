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
* :func:`detector_config` / :class:`BatchPersonDetector`: a Detectron2 detector from a
  model-zoo name or a config file plus weights, run on batches of keyframes (the test-time
  resize of Detectron2's ``DefaultPredictor``, done in the loader's workers).
* :func:`run_person_detection`: batches -> person boxes -> committed, in order, to a
  :class:`~slowfast_det.engine.infer.ResumableResultsWriter` (so an interrupted run continues
  where it stopped and the CSV appears only when complete), with a tqdm bar.

Output rows (AVA's predicted-boxes format, :func:`boxes_csv_text`):
``video_id,timestamp,x1,y1,x2,y2,,score``, timestamp 4 digits, coordinates normalised to
the frame (3 decimals, as AVA's files), empty action id, score (6 decimals); boxes of a
keyframe by descending score; a keyframe with no person above the threshold is one
2-column row ``video_id,timestamp`` (processed, no boxes). Unreadable keyframes get no row
(logged and counted).
"""
import logging
import os
import tempfile

import detectron2.data.transforms as T
import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.data import build_detection_test_loader
from detectron2.modeling import build_model
from tqdm import tqdm

from slowfast_det.checkpoint import local_weights
from slowfast_det.data import keyframe_index, load_ava_dicts
from slowfast_det.ava.io import read_frame_list
from slowfast_det.data.decode import read_frame
from slowfast_det.ava.timestamps import format_timestamp
from slowfast_det.data.video_reader import VIDEO_EXTENSIONS, index_movies, list_movies, read_clip
from slowfast_det.engine.infer import PendingCommit
from slowfast_det.engine.predictor import RandomWeightsError, check_model_weights

__all__ = [
    "KEYFRAME_MODES",
    "KEYFRAME_READERS",
    "register_keyframe_reader",
    "read_keyframe",
    "keyframe_dicts",
    "detector_config",
    "check_detector_weights",
    "BatchPersonDetector",
    "KeyframeMapper",
    "boxes_csv_text",
    "run_person_detection",
]

logger = logging.getLogger(__name__)

KEYFRAME_MODES = ("auto", "groundtruth", "every-second")


# --------------------------------------------------------------------------- keyframe reading
def _read_frames_keyframe(dataset_dict):
    path = dataset_dict.get("keyframe_path") or dataset_dict["frame_source"]["table"][keyframe_index(dataset_dict)]
    return read_frame(path)


def _read_video_keyframe(dataset_dict):
    frames, error = read_clip(dataset_dict["frame_source"], [keyframe_index(dataset_dict)])
    if frames[0] is None:
        logger.warning("keyframe %s: %s", dataset_dict.get("image_id"), error)
    return frames[0]


#: frame_source type -> callable(dataset_dict) -> BGR uint8 (H, W, 3) keyframe, or None if unreadable.
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
            f"keyframe {dataset_dict.get('image_id')}: frame_source type {kind!r} has no keyframe reader "
            f"(known: {sorted(KEYFRAME_READERS)}; add one with register_keyframe_reader)"
        )
    return reader(dataset_dict)


# --------------------------------------------------------------------------- which keyframes
def _frame_list_lengths(frame_list_file):
    """video id -> frames of the video in the frame list (its last frame id + 1)."""
    df = read_frame_list(frame_list_file)
    if len(df) == 0:
        raise ValueError(f"{frame_list_file}: the frame list has no frames")
    return {vid: int(n) + 1 for vid, n in df.groupby("video_id", sort=True)["frame_id"].max().items()}


def _movie_lengths(videos_dir, fps, start_second, stats):
    """video id -> frames of the AVA frame index each movie of ``videos_dir`` covers (from its
    header); movies whose header cannot be read or gives no duration are left out (counted, logged)."""
    sources, _, unreadable = index_movies(videos_dir, list(list_movies(videos_dir)), fps, start_second)
    lengths = {}
    for vid, src in sources.items():
        if not src["num_frames"]:
            logger.warning("%s: left out of the every-second keyframes (%s)", src["path"],
                           unreadable.get(vid, "its header gives no duration"))
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
    lines = []
    for vid, n in sorted(lengths.items()):
        for k in range((n - 1) // fps + 1):
            lines.append(f"{vid},{start_second + k:04d}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def keyframe_dicts(frames_dir, frame_list_file, groundtruth_file=None, keyframes="auto", *, fps=30, start_second=900,
                   dataset_name=None, stats=None, frame_source="frames", videos_dir=None):
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
        raise FileNotFoundError(f"ground-truth file not found: {groundtruth_file} (or use keyframes 'every-second')")
    video = frame_source == "video"
    source, what = (videos_dir, "videos folder") if video else (frame_list_file, "frame list")
    if not source or not os.path.exists(source):
        raise FileNotFoundError(f"{what} not found: {source}")
    # split "train": one dict per key of the "ground truth", no predicted boxes needed
    kw = dict(predicted_boxes_file=None, excluded_timestamps_file=None, split="train", fps=fps,
              start_second=start_second, predicted_boxes_required=False, dataset_name=dataset_name, stats=stats,
              num_classes=10 ** 9,  # ids are not checked here: only the keys are used
              frame_source=frame_source, videos_dir=videos_dir)
    if keyframes == "groundtruth":
        return load_ava_dicts(frames_dir, frame_list_file, groundtruth_file, **kw), keyframes
    lengths = _movie_lengths(videos_dir, fps, start_second, stats) if video else _frame_list_lengths(frame_list_file)
    with tempfile.TemporaryDirectory() as tmp:
        keys = os.path.join(tmp, "every_second.csv")
        _every_second_csv(lengths, fps, start_second, keys)
        return load_ava_dicts(frames_dir, frame_list_file, keys, **kw), keyframes


# --------------------------------------------------------------------------- the detector
def detector_config(config, weights="", opts=(), device="cpu", score_thresh=0.05):
    """A Detectron2 config for a person detector.

    Args:
        config: a Detectron2 config file, or a model-zoo name such as
            ``"COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"`` (then the zoo's trained weights
            URL is ``MODEL.WEIGHTS`` unless ``weights`` or ``opts`` set it).
        weights: checkpoint path or URL (overrides the config's ``MODEL.WEIGHTS``).
        opts: config overrides ``[KEY, VALUE, ...]``.
        device: "cpu" or "cuda".
        score_thresh: the detector's test score threshold (ROI heads and RetinaNet).
    """
    dcfg = get_cfg()
    if os.path.isfile(config):
        dcfg.merge_from_file(config)
    else:
        from detectron2 import model_zoo  # here: it imports pkg_resources (slow, warns), needed for zoo names only

        try:
            dcfg.merge_from_file(model_zoo.get_config_file(config))
        except RuntimeError:
            raise FileNotFoundError(
                f"person detector config {config!r} is neither a file nor a Detectron2 model-zoo name "
                "(e.g. COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml)"
            ) from None
        try:  # the zoo config's own MODEL.WEIGHTS is only its ImageNet initialisation
            dcfg.MODEL.WEIGHTS = model_zoo.get_checkpoint_url(config)
        except RuntimeError:
            dcfg.MODEL.WEIGHTS = ""
    dcfg.merge_from_list(list(opts))
    if weights:
        dcfg.MODEL.WEIGHTS = weights
    dcfg.MODEL.DEVICE = device
    dcfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = float(score_thresh)
    dcfg.MODEL.RETINANET.SCORE_THRESH_TEST = float(score_thresh)
    return dcfg


def check_detector_weights(dcfg, allow_random_weights=False):
    """Refuse an empty ``MODEL.WEIGHTS`` (a detector with random weights) unless allowed, through
    the predictor's :func:`~slowfast_det.engine.predictor.check_model_weights` (which warns
    when allowed), with a message for the detector. Returns the local weights path ("" if none);
    a URL is downloaded here, so offline it fails with one line
    (:class:`~slowfast_det.checkpoint.WeightsDownloadError`)."""
    try:
        check_model_weights(dcfg, allow_random_weights)
    except RandomWeightsError:
        raise RandomWeightsError(
            "the person detector has no weights (MODEL.WEIGHTS is empty): it would detect with random weights. "
            "Pass --weights FILE (e.g. output/person_detector/model_final.pth from tools/train_person_detector.py, "
            "or a model-zoo checkpoint), or a model-zoo name as --detector-config; to run untrained on purpose "
            "pass --allow-random-weights"
        ) from None
    if not dcfg.MODEL.WEIGHTS:
        return ""
    path = local_weights(dcfg.MODEL.WEIGHTS, "--weights")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"person detector weights not found: {path} (--weights / MODEL.WEIGHTS)")
    return path


class KeyframeMapper:
    """Dataset dict -> detector input, in the loader's workers: the keyframe read with
    :func:`read_keyframe`, converted to the detector's ``INPUT.FORMAT`` and resized as
    Detectron2's ``DefaultPredictor`` does (``ResizeShortestEdge`` to ``INPUT.MIN_SIZE_TEST``,
    at most ``INPUT.MAX_SIZE_TEST``). ``image`` is a uint8 (3, h, w) tensor, or None when
    the keyframe cannot be read."""

    def __init__(self, dcfg):
        self.resize = T.ResizeShortestEdge([dcfg.INPUT.MIN_SIZE_TEST] * 2, dcfg.INPUT.MAX_SIZE_TEST)
        self.input_format = dcfg.INPUT.FORMAT
        if self.input_format not in ("RGB", "BGR"):
            raise ValueError(f"person detector INPUT.FORMAT must be RGB or BGR, got {self.input_format!r}")

    def __call__(self, dataset_dict):
        out = {k: dataset_dict[k] for k in ("image_id", "video_id", "timestamp")}
        img = read_keyframe(dataset_dict)
        if img is None:
            out["image"] = None
            return out
        height, width = img.shape[:2]
        if self.input_format == "RGB":
            img = img[:, :, ::-1]
        img = self.resize.get_transform(img).apply_image(img)
        out.update(image=torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))), height=height, width=width)
        return out


class BatchPersonDetector:
    """A Detectron2 detector (e.g. GeneralizedRCNN) run on batches of keyframes; person class only.

    Args:
        dcfg: a detector config (:func:`detector_config`).
        weights: local weights path ("" = random weights, checked by the caller).
        person_class: index of "person" among the detector's classes (0 for COCO).
        score_thresh: keep person boxes with score >= this.
    """

    def __init__(self, dcfg, weights, person_class=0, score_thresh=0.05):
        self.cfg = dcfg.clone()
        self.cfg.freeze()
        self.model = build_model(self.cfg)
        self.model.eval()
        if weights:
            DetectionCheckpointer(self.model).load(weights)
        self.person_class = int(person_class)
        self.score_thresh = float(score_thresh)
        self.mapper = KeyframeMapper(self.cfg)

    def __call__(self, inputs):
        """
        Args:
            inputs: list of :class:`KeyframeMapper` outputs (with an image).
        Returns:
            list of ``(boxes float64 (R, 4) normalised to [0, 1] and rounded to 3 decimals, scores
            float64 (R,))``, boxes by descending score; boxes without area after rounding are dropped.
        """
        if not inputs:
            return []
        batch = [{"image": x["image"], "height": x["height"], "width": x["width"]} for x in inputs]
        with torch.no_grad():
            outputs = self.model(batch)
        results = []
        for x, out in zip(inputs, outputs):
            inst = out["instances"].to("cpu")
            keep = (inst.pred_classes == self.person_class) & (inst.scores >= self.score_thresh)
            boxes = inst.pred_boxes.tensor[keep].double().numpy()
            scores = inst.scores[keep].double().numpy()
            order = np.argsort(-scores, kind="stable")
            w, h = float(x["width"]), float(x["height"])
            # rounded as written (3 decimals); a box that rounds to no width or height is dropped
            boxes = np.round(np.clip(boxes[order] / np.array([w, h, w, h]), 0.0, 1.0), 3)
            scores = scores[order]
            ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            results.append((boxes[ok], scores[ok]))
        return results


# --------------------------------------------------------------------------- output
def boxes_csv_text(items):
    """AVA predicted-boxes rows of ``items`` = ``[(video_id, timestamp, boxes (R, 4) normalised,
    scores (R,))]``: ``video_id,tttt,x1,y1,x2,y2,,score``; a keyframe without boxes is the
    2-column row ``video_id,tttt`` (timestamps as :func:`~slowfast_det.ava.timestamps.format_timestamp`:
    ``0902``, or ``0902.5`` for a sub-second keyframe)."""
    lines = []
    for vid, ts, boxes, scores in items:
        key = f"{vid},{format_timestamp(ts)}"
        if len(boxes) == 0:
            lines.append(key)
            continue
        for b, s in zip(np.asarray(boxes).tolist(), np.asarray(scores).tolist()):
            lines.append(f"{key},{b[0]:.3f},{b[1]:.3f},{b[2]:.3f},{b[3]:.3f},,{s:.6f}")
    return "".join(line + "\n" for line in lines)


def run_person_detection(detector, dicts, writer, batch_size=8, num_workers=0, commit_every=64, progress=True,
                         after_commit=None):
    """Detect persons on the keyframes of ``dicts`` not yet in ``writer.done`` and commit them in order.

    Args:
        detector: :class:`BatchPersonDetector`.
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
    bar = tqdm(total=len(writer.done) + len(todo), initial=len(writer.done), unit="keyframe", disable=not progress)
    pending = PendingCommit(writer, stats, bar, after_commit)

    if todo:
        loader = build_detection_test_loader(todo, mapper=detector.mapper, batch_size=batch_size, num_workers=num_workers)
        expected = iter(d["image_id"] for d in todo)
        for batch in loader:
            readable = [x for x in batch if x["image"] is not None]
            results = iter(detector(readable))
            for x in batch:
                if x["image_id"] != next(expected, None):
                    raise RuntimeError(f"data loader returned keyframe {x['image_id']} out of order")
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
