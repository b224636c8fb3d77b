"""Classify videos over time (``tools/classify_video.py``): windows of one clip span every
``stride`` seconds, each classified by a :class:`VideoClassifierPredictor`, the top-k classes
per window to a CSV, and optionally each video rendered with its windows' labels.

Windows and sampling: window ``w`` starts at ``w * stride`` seconds and spans the model's clip,
``INPUT.NUM_FRAMES`` frames ``INPUT.SAMPLING_RATE / 30`` s apart (``clip_span`` seconds);
windows start while they fit in the video (a video shorter than one clip span gets one
window, its times clamped to the last frame, as the test loader clamps). Frames are read by
time through the classification loaders' reader (:class:`~slowfast_det.data.video_clips.
VideoClipReader`: the frame shown at each time, at any frame rate, decoded as in training);
frames a window cannot read are replaced by the nearest readable frame of the window and
counted; a video that gives no frame is skipped, logged and counted.

CSV (written complete or not at all, :func:`~slowfast_det.utils.file_io.atomic_path`):
``video, start, end`` (seconds) and the top-k classes of the window (``top<i>``,
``top<i>_name``, ``top<i>_score``, as the evaluator's predictions CSV).

Rendered video (``<render_dir>/<video stem>.mp4``, the demo's :class:`VideoFileSink` and
:class:`ActionVisualizer`): every frame (decoded with OpenCV), with the labels of the window
whose centre is nearest to the frame's time.
"""

import csv
import logging
import os
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from detectron2.data import MetadataCatalog

from slowfast_det.data.classification_mapper import ClassificationMapper
from slowfast_det.evaluation.classification import topk_cells, topk_header
from slowfast_det.synthetic.classification import register_synthetic_classification
from slowfast_det.utils.file_io import atomic_path

from .video_input import iter_video_frames
from .video_output import VideoFileSink
from .visualize import ActionVisualizer

__all__ = [
    "VIDEO_EXTENSIONS",
    "Window",
    "list_videos",
    "window_starts",
    "classify_windows",
    "classify_videos",
    "dataset_class_names",
]

logger = logging.getLogger(__name__)

#: Files of a folder that are classified.
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


@dataclass
class Window:
    """One classified window: ``start`` / ``end`` seconds, ``scores`` float32 (K,),
    ``replaced`` frames that could not be read (replaced by the nearest readable one)."""

    start: float
    end: float
    scores: np.ndarray
    replaced: int = 0


def list_videos(path):
    """``[path]`` for a file; the video files of a folder (:data:`VIDEO_EXTENSIONS`), sorted.
    FileNotFoundError / ValueError when there is nothing to classify."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"video not found: {path} (not a file or a folder)")
    names = sorted(n for n in os.listdir(path) if n.lower().endswith(VIDEO_EXTENSIONS))
    if not names:
        raise ValueError(f"{path}: no video files ({', '.join(VIDEO_EXTENSIONS)})")
    return [os.path.join(path, n) for n in names]


def window_starts(duration, span, stride):
    """Window starts ``0, stride, 2 stride, ...`` (Fractions) while ``start + span <=
    duration``; ``[0]`` for a video shorter than ``span``."""
    stride = Fraction(stride).limit_denominator(1000)
    if stride <= 0:
        raise ValueError(f"--stride must be > 0 seconds, got {float(stride)}")
    n = max(int((Fraction(duration) - Fraction(span)) // stride) + 1, 1)
    return [i * stride for i in range(n)]


def classify_windows(predictor, path, stride, mapper=None):
    """The :class:`Window` s of one video (see the module doc), in time order.

    Raises:
        ValueError naming the video when it gives no frame.
    """
    mapper = mapper or ClassificationMapper(predictor.cfg, is_train=False)
    d = {"file_name": path, "video_id": os.path.basename(path)}
    info, why = mapper.reader.info(d)
    if info is None:
        raise ValueError(f"{path}: {why}")
    out = []
    for start in window_starts(info.duration, mapper.clip_span, stride):
        times = mapper.clip_times(start, info.last_time)
        frames, replaced, error = mapper.read_frames(d, times)  # the loaders' missing-frame rule
        if replaced is None:
            raise ValueError(f"{path}: no frame readable at {float(start):.3f} s ({error})")
        scores = predictor(np.stack(frames)).numpy()
        out.append(Window(float(start), float(start + mapper.clip_span), scores, replaced))
    return out


def dataset_class_names(cfg):
    """Class names (index = class) of the config's classification datasets (test, then
    train; the synthetic set registered first), or None when none can be read or their
    number is not ``MODEL.VIDEO_HEAD.NUM_CLASSES``."""
    register_synthetic_classification()
    for name in tuple(cfg.DATASETS.TEST) + tuple(cfg.DATASETS.TRAIN):
        try:
            names = list(getattr(MetadataCatalog.get(name), "class_names", None) or [])
        except (OSError, ValueError) as e:  # e.g. the list or the label-names file is absent
            logger.info("class names of %s unavailable: %s", name, e)
            continue
        if len(names) == cfg.MODEL.VIDEO_HEAD.NUM_CLASSES:
            return names
    return None


def _render(path, windows, out_path, class_name, top_k, min_size):
    """Every frame of ``path`` with its nearest window's top-k labels, to ``out_path``."""
    fps, _, frames = iter_video_frames(path)
    visualizer = ActionVisualizer(min_size=min_size)
    centres = np.array([(w.start + w.end) / 2 for w in windows])
    layers = {}
    sink = VideoFileSink(out_path, fps)
    complete = False
    try:
        for i, frame in enumerate(frames):
            k = int(np.abs(centres - i / fps).argmin())
            if k not in layers:
                cells = topk_cells(windows[k].scores, top_k, class_name)
                text = "\n".join(f"{n} {float(s):.2f}" for n, s in zip(cells[1::3], cells[2::3]))
                h, w = frame.shape[:2]
                layers[k] = visualizer.overlay(h, w, [[0, 0, w, h]], [text])
            sink.write(visualizer.compose(frame, layers[k]))
        complete = True
    finally:
        sink.close(complete)
    return sink.frames


def _rendered_path(render_dir, path):
    return os.path.join(render_dir, os.path.splitext(os.path.basename(path))[0] + ".mp4")


def classify_videos(
    predictor,
    inputs,
    csv_path,
    *,
    stride=1.0,
    top_k=5,
    class_names=None,
    render_dir=None,
    min_size=0,
):
    """Classify every video of ``inputs`` (a file or a folder) over time; write the CSV and,
    with ``render_dir``, the rendered videos.

    Args:
        class_names: names by class index (None: ``"class <i>"``).
        min_size: rendered frames are upscaled to at least this short side (readable labels
            on small videos).
    Returns:
        stats: ``videos``, ``windows``, ``skipped_videos`` (gave no frame), ``replaced_frames``,
        ``seconds``, ``rendered`` (paths).
    """
    start_time = time.perf_counter()
    names = list(class_names or [])

    def class_name(c):
        return names[c] if c < len(names) else f"class {c}"

    mapper = ClassificationMapper(predictor.cfg, is_train=False)
    k = min(int(top_k), predictor.num_classes)
    rows, stats = [], {"videos": 0, "windows": 0, "skipped_videos": 0, "replaced_frames": 0}
    rendered = []
    paths = list_videos(inputs)
    for path in paths if render_dir else ():
        if os.path.abspath(_rendered_path(render_dir, path)) == os.path.abspath(path):
            raise ValueError(f"--render-dir would overwrite the input {path}: choose another")
    for path in paths:
        try:
            windows = classify_windows(predictor, path, stride, mapper)
        except ValueError as e:
            stats["skipped_videos"] += 1
            logger.warning("Skipping a video that gives no frame: %s", e)
            continue
        stats["videos"] += 1
        stats["windows"] += len(windows)
        stats["replaced_frames"] += sum(w.replaced for w in windows)
        for w in windows:
            times = ["%.3f" % w.start, "%.3f" % w.end]
            rows.append([os.path.basename(path)] + times + topk_cells(w.scores, k, class_name))
        if render_dir:
            out = _rendered_path(render_dir, path)
            _render(path, windows, out, class_name, k, min_size)
            rendered.append(out)
    if stats["replaced_frames"]:
        logger.warning(
            "%d frames could not be read and were replaced by the nearest readable frame",
            stats["replaced_frames"],
        )
    with atomic_path(csv_path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["video", "start", "end"] + topk_header(k))
            writer.writerows(rows)
    stats.update(seconds=time.perf_counter() - start_time, rendered=rendered)
    return stats
