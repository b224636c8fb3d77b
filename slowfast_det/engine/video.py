"""Action detection on a video file: decode once, detect people, score actions, draw, write.

The pieces, each usable on its own:

* :func:`iter_keyframe_clips` turns a stream of decoded frames into one
  :class:`KeyframeClip` per second of video (AVA keyframe convention: keyframe ``t`` is
  frame ``round(t * fps)`` and its clip follows the data package's clip convention). Every
  frame is decoded once and kept in a sliding buffer shared by the overlapping clips.
* :class:`PersonDetector` finds people on a keyframe with a Detectron2 detector
  (detectron2's ``DefaultPredictor``); :class:`CSVBoxes` reads them from an AVA-format
  box CSV instead.
* :class:`ActionVisualizer` draws boxes and top actions with detectron2's ``Visualizer``.
* :class:`VideoActionDemo` ties them to an :class:`~slowfast_det.engine.predictor.ActionPredictor`
  and writes the annotated video (OpenCV ``VideoWriter``) and a results CSV.

Output CSV: the results file of the evaluator, written by its writer
(:func:`~slowfast_det.evaluation.files.write_detections_csv`): ``video_id, timestamp, x1,
y1, x2, y2, action_id, score`` with boxes normalised to the frame and timestamps (seconds
from the start of the video) as 4 digits, one row per (keyframe, person, class) for the
classes of ``DEMO.LABEL_MAP`` (all classes without one). ``DEMO.ACTION_SCORE_THRESH`` and
``DEMO.TOP_K`` only select what is drawn.
"""
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "KeyframeClip",
    "iter_video_frames",
    "iter_keyframe_clips",
    "PersonDetector",
    "CSVBoxes",
    "ActionVisualizer",
    "VideoActionDemo",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- decoding
def iter_video_frames(path):
    """Decode a video file with OpenCV, frame by frame.

    Returns:
        (fps, frame count as the container reports it (may be approximate, 0 if unknown),
        iterator over BGR uint8 frames (H, W, 3)).
    Raises:
        FileNotFoundError / ValueError naming the file when it cannot be opened or has no fps.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"video not found: {path}")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise ValueError(f"{path}: OpenCV cannot open this video")
    fps = cap.get(cv2.CAP_PROP_FPS)
    count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
    if not fps or not math.isfinite(fps) or fps <= 1:
        cap.release()
        raise ValueError(f"{path}: cannot read a frame rate from the video (got {fps!r})")

    def frames():
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield frame
        finally:
            cap.release()

    return fps, count, frames()


@dataclass
class KeyframeClip:
    """One keyframe of a video and the clip around it.

    Attributes:
        timestamp: keyframe second (keyframe ``t`` is frame ``round(t * fps)``).
        center: frame index of the keyframe.
        keyframe: uint8 array (H, W, 3), BGR, frame ``center``.
        clip: uint8 array (T, H, W, 3), BGR, the frames at ``clip_indices``.
        clip_indices: the T frame indices of the clip (clip convention, clamped to the video).
        segment: ``[(frame_index, frame), ...]``, the frames nearest to this keyframe
            (times in ``[t - 0.5, t + 0.5)`` seconds; the last keyframe also takes the tail),
            in order. Every frame of the video is in exactly one segment.
    """

    timestamp: int
    center: int
    keyframe: np.ndarray
    clip: np.ndarray
    clip_indices: list
    segment: list = field(default_factory=list)


def _keyframe_center(t, fps):
    return int(round(t * fps))


def _segment_start(t, fps):
    return 0 if t == 0 else int(math.ceil((t - 0.5) * fps))


def iter_keyframe_clips(frames, fps, num_frames, sampling_rate):
    """Group a frame stream into keyframe clips, decoding every frame once.

    Frames are kept in a sliding buffer from the earliest frame still needed (by the next
    clip or the next segment) to the newest decoded one, so overlapping clips share
    frames and memory stays bounded by about ``num_frames * sampling_rate + fps`` frames.

    Args:
        frames: iterable of frames (H, W, 3) in time order.
        fps: frames per second of the stream.
        num_frames, sampling_rate: clip length and stride (``INPUT.NUM_FRAMES``,
            ``INPUT.SAMPLING_RATE``).
    Yields:
        :class:`KeyframeClip` for t = 0, 1, 2, ... while ``round(t * fps)`` is a frame of the
        video.
    """
    from slowfast_det.data import clip_frame_indices

    def indices(center, num_video_frames=sys.maxsize):
        # the data package's clip convention, with the keyframe given as a frame index
        return clip_frame_indices(center, num_frames, sampling_rate, num_video_frames, fps=1, start_second=0)

    buffer = {}
    decoded = 0  # number of frames decoded so far
    t = 0

    def emit(t, last_frame, final):
        center = _keyframe_center(t, fps)
        idx = indices(center, last_frame + 1)
        seg_end = last_frame + 1 if final else _segment_start(t + 1, fps)
        segment = [(i, buffer[i]) for i in range(_segment_start(t, fps), seg_end)]
        clip = np.stack([buffer[i] for i in idx])
        return KeyframeClip(timestamp=t, center=center, keyframe=buffer[center], clip=clip, clip_indices=idx.tolist(), segment=segment)

    def evict(t_next):
        lo = min(
            _segment_start(t_next, fps),
            int(indices(_keyframe_center(t_next, fps))[0]),
        )
        for i in [i for i in buffer if i < lo]:
            del buffer[i]

    for frame in frames:
        buffer[decoded] = frame
        decoded += 1
        while True:
            # Keyframe t is complete once its clip is decoded and keyframe t+1 exists
            # (which fixes where t's segment ends).
            center = _keyframe_center(t, fps)
            clip_last = int(indices(center)[-1])
            if decoded - 1 < max(clip_last, _keyframe_center(t + 1, fps)):
                break
            yield emit(t, decoded - 1, final=False)
            t += 1
            evict(t)
    # End of stream: the remaining keyframes, clips clamped to the last frame.
    last = decoded - 1
    while last >= 0 and _keyframe_center(t, fps) <= last:
        final = _keyframe_center(t + 1, fps) > last
        yield emit(t, last, final=final)
        t += 1
        evict(t)


# --------------------------------------------------------------------------- person boxes
def _model_zoo_config(name):
    """Path of a config shipped in detectron2's model zoo (e.g. "COCO-Detection/...yaml"), or None."""
    import detectron2

    path = os.path.join(os.path.dirname(detectron2.__file__), "model_zoo", "configs", name)
    return path if os.path.isfile(path) else None


def _model_zoo_weights(name):
    """URL of the model zoo's weights for a config name, or "" when unknown.

    ``detectron2.model_zoo`` needs ``pkg_resources`` (setuptools < 82, pinned in
    requirements.txt); without it the URL must be given as ``DEMO.DETECTOR_WEIGHTS``.
    """
    try:
        from detectron2 import model_zoo

        return model_zoo.get_checkpoint_url(name)
    except (ImportError, RuntimeError) as e:
        logger.warning(f"no model-zoo weights URL for {name}: {e}")
        return ""


class PersonDetector:
    """People on a frame, from a Detectron2 detector run with detectron2's ``DefaultPredictor``.

    Args:
        config_file: a Detectron2 config file, or a model-zoo name such as
            ``"COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"``.
        weights: checkpoint path or URL; empty = the model zoo's weights for a zoo name.
        person_class: index of "person" in the detector's classes (0 for COCO).
        score_thresh: keep detections with score >= this.
        device: "cpu" or "cuda".
    """

    def __init__(self, config_file, weights="", person_class=0, score_thresh=0.8, device="cpu"):
        from detectron2.config import get_cfg
        from detectron2.engine import DefaultPredictor

        dcfg = get_cfg()
        if os.path.isfile(config_file):
            dcfg.merge_from_file(config_file)
        else:
            zoo_file = _model_zoo_config(config_file)
            if zoo_file is None:
                raise FileNotFoundError(
                    f"person detector config {config_file!r} is neither a file nor a Detectron2 model-zoo name"
                )
            dcfg.merge_from_file(zoo_file)
            # the zoo config's own MODEL.WEIGHTS is only the ImageNet initialisation
            weights = weights or _model_zoo_weights(config_file)
            if not weights:
                raise ValueError(
                    f"person detector {config_file}: set DEMO.DETECTOR_WEIGHTS to its model-zoo weights (URL in "
                    "detectron2's MODEL_ZOO.md, e.g. https://dl.fbaipublicfiles.com/detectron2/COCO-Detection/"
                    "faster_rcnn_R_50_FPN_3x/137849458/model_final_280758.pkl for faster_rcnn_R_50_FPN_3x)"
                )
        if weights:
            dcfg.MODEL.WEIGHTS = weights
        if not dcfg.MODEL.WEIGHTS:
            raise ValueError(
                f"person detector {config_file}: no weights; set DEMO.DETECTOR_WEIGHTS (a path, or the model "
                "zoo URL of the config, see detectron2's MODEL_ZOO.md)"
            )
        from slowfast_det.checkpoint import local_weights

        # a URL is downloaded here, so that offline it fails with one line saying what to pass
        dcfg.MODEL.WEIGHTS = local_weights(dcfg.MODEL.WEIGHTS, "DEMO.DETECTOR_WEIGHTS")
        dcfg.MODEL.DEVICE = device
        dcfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = score_thresh
        dcfg.MODEL.RETINANET.SCORE_THRESH_TEST = score_thresh
        dcfg.freeze()
        self.predictor = DefaultPredictor(dcfg)
        self.person_class = int(person_class)
        self.score_thresh = float(score_thresh)

    def __call__(self, frame):
        """
        Args:
            frame: BGR uint8 (H, W, 3).
        Returns:
            boxes float32 (R, 4) in pixels (x1, y1, x2, y2), scores float32 (R,).
        """
        inst = self.predictor(frame)["instances"].to("cpu")
        keep = (inst.pred_classes == self.person_class) & (inst.scores >= self.score_thresh)
        inst = inst[keep]
        return inst.pred_boxes.tensor.numpy().astype(np.float32), inst.scores.numpy().astype(np.float32)


class CSVBoxes:
    """Person boxes of one video from an AVA-format box CSV (predicted-boxes style).

    Rows ``video_id, timestamp, x1, y1, x2, y2, [action_id], [score]`` with boxes normalised
    to [0, 1]; rows that repeat a box (one row per action) count once; boxes with a score
    below ``score_thresh`` are dropped (an empty score keeps the box); coordinates outside
    [0, 1] are clipped and counted in the log.

    Args:
        path: the CSV.
        video_id: the rows to use.
        score_thresh: minimum detector score.
    Raises:
        AVAFormatError for a malformed file (file, line, field); ValueError naming the file
        and the ids it has when it has no row for ``video_id``.
    """

    def __init__(self, path, video_id, score_thresh=0.0):
        from slowfast_det.data.ava_io import read_box_csv

        table = read_box_csv(path, kind="proposals")
        rows = table.rows[table.rows["video_id"] == video_id]
        has_key = any(v == video_id for v, _ in table.keys_without_boxes)
        if len(rows) == 0 and not has_key:
            ids = sorted(set(table.rows["video_id"]) | {v for v, _ in table.keys_without_boxes})
            raise ValueError(
                f"{path}: no rows for video id {video_id!r} (ids in the file: {ids[:10]}{' ...' if len(ids) > 10 else ''}); "
                "set the id with --video-id"
            )
        coords = rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
        outside = (coords < 0) | (coords > 1)
        if outside.any():
            logger.warning(f"{path}: {int(outside.any(axis=1).sum())} boxes of {video_id} reach outside [0, 1]; clipped")
        rows = rows.assign(**{c: np.clip(rows[c].to_numpy(), 0.0, 1.0) for c in ("x1", "y1", "x2", "y2")})
        score = rows["last"].to_numpy()
        rows = rows[np.isnan(score) | (score >= score_thresh)]
        rows = rows.drop_duplicates(subset=["timestamp", "x1", "y1", "x2", "y2"])
        self._by_time = {
            int(t): (g[["x1", "y1", "x2", "y2"]].to_numpy(np.float32), g["last"].to_numpy(np.float32))
            for t, g in rows.groupby("timestamp")
        }
        self.path = path

    def __call__(self, timestamp, height, width):
        """Boxes of keyframe ``timestamp``: float32 (R, 4) in pixels of (height, width), scores (R,)."""
        if timestamp not in self._by_time:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        boxes, scores = self._by_time[timestamp]
        return boxes * np.array([width, height, width, height], np.float32), scores.copy()


# --------------------------------------------------------------------------- drawing
class ActionVisualizer:
    """Turn per-box action scores into labels and draw them with detectron2's ``Visualizer``.

    Args:
        class_names: dict action id -> name; when given, only these ids are shown (the
            evaluated classes); when empty, every id, named ``"action <id>"``.
        score_thresh: show actions with score >= this.
        top_k: at most this many actions per person, best first.
    """

    def __init__(self, class_names=None, score_thresh=0.5, top_k=3, min_size=0):
        self.class_names = dict(class_names or {})
        self.score_thresh = float(score_thresh)
        self.top_k = int(top_k)
        self.min_size = int(min_size)

    def actions(self, scores):
        """Per box, the shown actions: list (R) of [(action_id, score), ...] best first.

        Args:
            scores: (R, K) probabilities, column k = action id k+1.
        """
        scores = np.asarray(scores, dtype=np.float64)
        out = []
        for row in scores:
            ids = np.argsort(-row, kind="stable") + 1
            kept = [
                (int(a), float(row[a - 1]))
                for a in ids
                if row[a - 1] >= self.score_thresh and (not self.class_names or int(a) in self.class_names)
            ]
            out.append(kept)
        return out

    def label(self, actions):
        """Text for one box: the top-k actions as ``name score`` lines."""
        return "\n".join(
            f"{self.class_names.get(a, f'action {a}')} {s:.2f}" for a, s in actions[: self.top_k]
        )

    def output_size(self, height, width):
        """(H', W') of drawn frames: the frame upscaled to a short side of ``min_size`` if smaller."""
        s = max(1.0, self.min_size / min(height, width))
        return int(round(height * s)), int(round(width * s))

    def _render(self, background, boxes, labels):
        """detectron2's Visualizer drawing of boxes and labels on a BGR background."""
        from detectron2.utils.colormap import colormap
        from detectron2.utils.visualizer import Visualizer

        colors = colormap(rgb=True, maximum=1)
        vis = Visualizer(background[:, :, ::-1])
        out = vis.overlay_instances(
            boxes=np.asarray(boxes, dtype=np.float32),
            labels=list(labels),
            assigned_colors=[colors[i % len(colors)] for i in range(len(boxes))],
        )
        return out.get_image()[:, :, ::-1]

    def overlay(self, height, width, boxes, labels):
        """The drawing of boxes and labels as a layer to put on any frame of size (height, width).

        The Visualizer draws once on black and once on white; the two images give the
        drawing's colour (premultiplied by its opacity) and opacity per pixel, so that
        :meth:`compose` reproduces drawing on the frame itself (up to 8-bit rounding) while
        the frames of a keyframe's segment share one drawing.

        Args:
            boxes: (R, 4) in pixels of (height, width).
        Returns:
            (flat indices (P,) of the pixels the drawing covers in the (H', W') output,
            their premultiplied BGR colour float32 (P, 3), their transparency float32 (P, 1)),
            or None when there is no box.
        """
        if len(boxes) == 0:
            return None
        out_h, out_w = self.output_size(height, width)
        boxes = np.asarray(boxes, dtype=np.float32) * np.array([out_w / width, out_h / height] * 2, dtype=np.float32)
        on_black = self._render(np.zeros((out_h, out_w, 3), np.uint8), boxes, labels).reshape(-1, 3)
        on_white = self._render(np.full((out_h, out_w, 3), 255, np.uint8), boxes, labels).reshape(-1, 3)
        transparency = (on_white.astype(np.float32) - on_black).mean(axis=1, keepdims=True) / 255.0
        covered = np.flatnonzero(transparency[:, 0] < 1.0)
        return covered, on_black[covered].astype(np.float32), np.clip(transparency[covered], 0.0, 1.0)

    def compose(self, frame, layer):
        """A BGR uint8 frame (H, W, 3), resized to :meth:`output_size`, under an :meth:`overlay` layer."""
        h, w = frame.shape[:2]
        out_h, out_w = self.output_size(h, w)
        if (out_h, out_w) != (h, w):
            frame = cv2.resize(frame, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        if layer is None:
            return frame
        covered, color, transparency = layer
        out = np.ascontiguousarray(frame).copy()
        flat = out.reshape(-1, 3)
        flat[covered] = np.clip(color + transparency * flat[covered] + 0.5, 0, 255).astype(np.uint8)
        return out

    def draw(self, frame, boxes, labels):
        """Draw boxes (R, 4) in pixels of a BGR uint8 ``frame`` (H, W, 3) and their labels.

        Returns:
            BGR uint8 (H', W', 3), see :meth:`output_size`.
        """
        return self.compose(frame, self.overlay(frame.shape[0], frame.shape[1], boxes, labels))


# --------------------------------------------------------------------------- the demo
def _partial_path(path):
    root, ext = os.path.splitext(path)
    return f"{root}.partial{ext}"


def class_names_from_cfg(cfg):
    """Action names (dict id -> name): ``DEMO.LABEL_MAP`` if set, else the label map of the
    first test dataset (``DATASETS.TEST[0]``) if it is on disk, else none (ids are shown)."""
    from slowfast_det.data.ava_io import read_label_map

    if cfg.DEMO.LABEL_MAP:
        return read_label_map(cfg.DEMO.LABEL_MAP)[0]
    if len(cfg.DATASETS.TEST):
        from detectron2.data import MetadataCatalog

        path = MetadataCatalog.get(cfg.DATASETS.TEST[0]).get("label_map_file")
        if path and os.path.exists(path):
            logger.info(f"action names from the label map of {cfg.DATASETS.TEST[0]}: {path}")
            return read_label_map(path)[0]
    return {}


class VideoActionDemo:
    """Run action detection on a video file and write an annotated video and a results CSV.

    Args:
        cfg: the SlowFast config (``INPUT.*``, ``DEMO.*``, ``AVA.DETECTION_SCORE_THRESH``).
        predictor: an ``ActionPredictor`` (built from ``cfg`` when None).
        detector: callable ``frame (H, W, 3) BGR -> (boxes (R, 4) pixels, scores (R,))``;
            a :class:`PersonDetector` from ``DEMO.DETECTOR_*`` is built on first use when
            None and no box CSV is given to :meth:`run`.
    """

    def __init__(self, cfg, predictor=None, detector=None):
        if predictor is None:
            from .predictor import ActionPredictor

            predictor = ActionPredictor(cfg)
        self.cfg = cfg
        self.predictor = predictor
        self.detector = detector
        names = class_names_from_cfg(cfg)
        self.num_classes = cfg.MODEL.ROI_HEADS.NUM_CLASSES
        # the CSV's classes: the label map's (as the evaluator writes them), else all
        self.class_ids = sorted(names) if names else list(range(1, self.num_classes + 1))
        if self.class_ids[-1] > self.num_classes:
            raise ValueError(
                f"{cfg.DEMO.LABEL_MAP}: action id {self.class_ids[-1]} > MODEL.ROI_HEADS.NUM_CLASSES ({self.num_classes})"
            )
        self.visualizer = ActionVisualizer(names, cfg.DEMO.ACTION_SCORE_THRESH, cfg.DEMO.TOP_K, cfg.DEMO.MIN_OUTPUT_SIZE)

    def _build_detector(self):
        cfg = self.cfg
        if not cfg.DEMO.DETECTOR_CONFIG:
            raise ValueError("no person boxes: pass a box CSV (--boxes) or set DEMO.DETECTOR_CONFIG")
        return PersonDetector(
            cfg.DEMO.DETECTOR_CONFIG,
            cfg.DEMO.DETECTOR_WEIGHTS,
            person_class=cfg.DEMO.DETECTOR_PERSON_CLASS,
            score_thresh=cfg.AVA.DETECTION_SCORE_THRESH,
            device=cfg.MODEL.DEVICE,
        )

    def run(self, input_path, output_path, csv_path, boxes_csv=None, video_id=None, progress=True, snapshot=None):
        """Process ``input_path``; write ``output_path`` (video) and ``csv_path`` (results).

        The video is written to ``<output>.partial.<ext>`` and renamed when complete; the CSV
        (the evaluator's format and writer: every person and class, see the module doc) is
        written atomically at the end.

        Args:
            boxes_csv: AVA-format person-box CSV (keyframe t = second t of the video);
                None = run the person detector on each keyframe.
            video_id: id used in the CSVs; defaults to the input file name without extension.
            snapshot: optional ``(seconds, path)``: also save the output frame at that time as
                an image (e.g. for a README).
        Returns:
            dict with ``frames`` (frames written), ``keyframes``, ``persons`` (boxes scored),
            ``rows`` (CSV rows), ``seconds`` (wall time) and ``fps`` (frames per second).
        """
        from tqdm import tqdm

        from slowfast_det.data.ava_io import check_video_id
        from slowfast_det.evaluation.files import write_detections_csv

        if video_id is None:
            video_id = os.path.splitext(os.path.basename(input_path))[0]
        check_video_id(video_id)
        if "," in video_id:
            raise ValueError(f"video id {video_id!r} contains a comma; set another one with --video-id")
        if boxes_csv is not None:
            boxes_fn = CSVBoxes(boxes_csv, video_id, self.cfg.AVA.DETECTION_SCORE_THRESH)
        else:
            if self.detector is None:
                self.detector = self._build_detector()
            boxes_fn = None

        start = time.perf_counter()
        fps, total, frames = iter_video_frames(input_path)
        snapshot_frame = int(round(snapshot[0] * fps)) if snapshot is not None else None
        for p in (output_path, csv_path):
            os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
        video_tmp = _partial_path(output_path)
        writer = None
        results = []  # per keyframe: (video_id, timestamp, boxes (R, 4) normalised, scores (R, C))
        stats = {"frames": 0, "keyframes": 0, "persons": 0}
        try:
            bar = tqdm(total=total or None, unit="frame", desc=os.path.basename(input_path), disable=not progress)
            clips = iter_keyframe_clips(frames, fps, self.cfg.INPUT.NUM_FRAMES, self.cfg.INPUT.SAMPLING_RATE)
            for kc in clips:
                keyframe = kc.keyframe
                h, w = keyframe.shape[:2]
                if boxes_fn is not None:
                    boxes, _ = boxes_fn(kc.timestamp, h, w)
                else:
                    boxes, _ = self.detector(keyframe)
                scores = np.asarray(self.predictor(kc.clip, boxes), dtype=np.float32)  # (R, K)
                norm = np.asarray(boxes, np.float64).reshape(-1, 4) / np.array([w, h, w, h])
                results.append((video_id, kc.timestamp, norm, scores[:, np.asarray(self.class_ids) - 1]))
                labels = [self.visualizer.label(a) for a in self.visualizer.actions(scores)]
                layer = self.visualizer.overlay(h, w, boxes, labels)  # drawn once per keyframe
                for i, frame in kc.segment:
                    out = self.visualizer.compose(frame, layer)
                    if writer is None:
                        writer = cv2.VideoWriter(video_tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, out.shape[1::-1])
                        if not writer.isOpened():
                            raise OSError(f"{output_path}: OpenCV cannot write this video (mp4v codec)")
                    writer.write(out)
                    if snapshot is not None and i == snapshot_frame:
                        if not cv2.imwrite(snapshot[1], out):
                            raise OSError(f"cannot write the snapshot {snapshot[1]}")
                        stats["snapshot"] = snapshot[1]
                    stats["frames"] += 1
                    bar.update(1)
                stats["keyframes"] += 1
                stats["persons"] += len(boxes)
            bar.close()
            if writer is None:
                raise ValueError(f"{input_path}: no frames decoded")
            writer.release()
            writer = None
            stats["rows"] = write_detections_csv(results, self.class_ids, csv_path)
            os.replace(video_tmp, output_path)
        finally:
            if writer is not None:
                writer.release()
            if os.path.exists(video_tmp):
                os.remove(video_tmp)
        stats["seconds"] = time.perf_counter() - start
        stats["fps"] = stats["frames"] / stats["seconds"]
        return stats
