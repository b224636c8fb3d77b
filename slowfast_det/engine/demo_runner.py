"""The demo: person boxes, track ids and action scores per keyframe, drawn and written.

:class:`VideoActionDemo` ties the pieces together:

* input: :mod:`.video_input` (files, webcams, URLs, pipes) and :mod:`.keyframe_clips`
  (clips sampled by time);
* people: :mod:`.person_boxes` (a Detectron2 detector or an AVA box CSV) and
  :mod:`.tracking` (ids across keyframes, optional score smoothing);
* actions: any *predictor-like* callable ``(clip (T, H, W, 3) BGR uint8, boxes (R, 4)
  pixels) -> scores (R, K)`` (an :class:`~slowfast_det.engine.predictor.ActionPredictor`,
  or e.g. a wrapper around an exported model);
* output: :mod:`.visualize` and :mod:`.video_output`;
* settings and results: :mod:`.demo_options` (:class:`DemoOptions`, the action names) and
  :mod:`.demo_results` (:class:`KeyframeResult`, the persons CSV writer).

:meth:`VideoActionDemo.run` processes a file: every frame decoded once and written with the
boxes of its nearest keyframe. :meth:`VideoActionDemo.run_stream` processes a live source
(or a file at its own pace) with bounded lag and memory, see :mod:`.streaming`.

Output CSVs:

* results (``csv_path``): the evaluator's format and writer
  (:func:`~slowfast_det.ava.files.write_detections_csv`): ``video_id, timestamp, x1,
  y1, x2, y2, action_id, score`` with boxes normalised to the frame and timestamps (seconds
  from the start of the video) as 4 digits, one row per (keyframe, person, class) for the
  classes of the label map (``DemoOptions.label_map``; all classes without one);
* persons (``persons_csv``, with tracking): AVA's ground-truth layout
  ``video_id, timestamp, x1, y1, x2, y2, action_id, person_id`` with the track id in the
  person-id column, one row per drawn action (score >= ``action_score_thresh``, top
  ``top_k``), and one row with an empty action id for a person with none.

The demo's own settings are a :class:`DemoOptions` (``tools/demo.py``'s flags of the same
names), not config keys: ``action_score_thresh`` and ``top_k`` select what is drawn (and the
persons CSV); with ``smooth_scores_over k > 1`` both CSVs and the drawing use the mean over
the track's last ``k`` keyframes.
"""

import logging
import os
import time

import cv2
import numpy as np
from tqdm import tqdm

from slowfast_det.ava.files import write_detections_csv
from slowfast_det.ava.io import check_video_id

from .demo_options import DemoOptions, class_names_from_cfg
from .demo_results import KeyframeResult, write_persons_csv
from .keyframe_clips import fps_warning, iter_keyframe_clips
from .person_boxes import CSVBoxes, PersonDetector
from .predictor import ActionPredictor
from .streaming import StreamingLoop
from .tracking import PersonTracker, ScoreSmoother
from .video_input import open_video
from .video_output import VideoFileSink
from .visualize import ActionVisualizer

__all__ = ["VideoActionDemo"]

logger = logging.getLogger(__name__)


class VideoActionDemo:
    """Run action detection on a video and write an annotated video and the CSVs.

    Args:
        cfg: the SlowFast config (``INPUT.*``, ``MODEL.*``, ``AVA.DETECTION_SCORE_THRESH``).
        predictor: predictor-like callable ``(clip (T, H, W, 3) BGR uint8, boxes (R, 4)
            pixels) -> (R, K) scores`` (an ``ActionPredictor`` built from ``cfg`` when None).
        detector: callable ``frame (H, W, 3) BGR -> (boxes (R, 4) pixels, scores (R,))``;
            a :class:`PersonDetector` from ``options.detector_*`` is built on first use when
            None and no box CSV is given.
        options: :class:`DemoOptions` (default: its defaults).
    """

    def __init__(self, cfg, predictor=None, detector=None, options=None):
        if predictor is None:
            predictor = ActionPredictor(cfg)
        self.cfg = cfg
        self.options = options = DemoOptions() if options is None else options
        self.predictor = predictor
        self.detector = detector
        names = class_names_from_cfg(cfg, options.label_map)
        self.num_classes = cfg.MODEL.ROI_HEADS.NUM_CLASSES
        # the CSV's classes: the label map's (as the evaluator writes them), else all
        self.class_ids = sorted(names) if names else list(range(1, self.num_classes + 1))
        if self.class_ids[-1] > self.num_classes:
            raise ValueError(
                f"{options.label_map or 'the label map of ' + cfg.DATASETS.TEST[0]}: action id "
                f"{self.class_ids[-1]} > MODEL.ROI_HEADS.NUM_CLASSES ({self.num_classes})"
            )
        self.visualizer = ActionVisualizer(
            names, options.action_score_thresh, options.top_k, options.min_output_size
        )
        self.num_frames = cfg.INPUT.NUM_FRAMES
        self.sampling_rate = cfg.INPUT.SAMPLING_RATE

    # ------------------------------------------------------------------ pieces
    def _build_detector(self):
        cfg, options = self.cfg, self.options
        if not options.detector_config:
            raise ValueError(
                "no person boxes: pass a box CSV (--boxes) or a person detector (--detector-config)"
            )
        return PersonDetector(
            options.detector_config,
            options.detector_weights,
            person_class=options.detector_person_class,
            score_thresh=cfg.AVA.DETECTION_SCORE_THRESH,
            device=cfg.MODEL.DEVICE,
        )

    def person_source(self, boxes_csv, video_id):
        """``(keyframe clip) -> (boxes (R, 4) pixels, scores (R,))`` from the CSV or the
        detector."""
        if boxes_csv is not None:
            table = CSVBoxes(boxes_csv, video_id, self.cfg.AVA.DETECTION_SCORE_THRESH)
            return lambda kc: table(kc.timestamp, *kc.keyframe.shape[:2])
        if self.detector is None:
            self.detector = self._build_detector()
        return lambda kc: self.detector(kc.keyframe)

    def new_video_state(self):
        """Per-video tracking state:
        ``{"tracker": PersonTracker or None, "smoother": ScoreSmoother}``."""
        return {"tracker": None, "smoother": ScoreSmoother(self.options.smooth_scores_over)}

    def process(self, kc, persons, state):
        """Boxes, ids, scores and the drawing of one :class:`KeyframeClip`."""
        keyframe = kc.keyframe
        h, w = keyframe.shape[:2]
        boxes, det_scores = persons(kc)
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        ids = None
        options = self.options
        if options.tracking:
            if state["tracker"] is None:
                state["tracker"] = PersonTracker(
                    h, w, options.tracker, options.track_iou_thresh, options.track_max_lost
                )
            ids = state["tracker"].update(boxes, det_scores)
        scores = np.asarray(self.predictor(kc.clip, boxes), dtype=np.float32)
        if len(boxes) == 0:
            scores = scores.reshape(0, self.num_classes)
        if ids is not None:
            scores = state["smoother"](ids, scores)
            state["smoother"].forget(ids)
        actions = self.visualizer.actions(scores)
        labels = [
            self.visualizer.label(a, None if ids is None else int(i))
            for a, i in zip(actions, ids if ids is not None else [None] * len(boxes))
        ]
        layer = self.visualizer.overlay(h, w, boxes, labels)  # drawn once per keyframe
        return KeyframeResult(kc.timestamp, boxes, ids, scores, actions, layer)

    def record(self, result, video_id, size, results, persons_rows):
        """Append the CSV rows of one :class:`KeyframeResult` (frame ``size`` (H, W)) to
        ``results`` / ``persons_rows``.

        The rows hold Python numbers and lists, no numpy arrays: they live as long as the
        video, and small numpy buffers kept once per keyframe leaked memory on live streams
        (issue 26): glibc's malloc cut each from the hole the keyframe's largest temporary had
        just left (a float32 copy of the clip, 3.5 MiB on the synthetic model), the next
        keyframe's copy no longer fit there, and the heap grew by 10-15 MiB per minute of
        video. Python numbers live in Python's own memory pools, away from those temporaries.
        """
        h, w = size
        norm = (
            np.asarray(result.boxes, np.float64).reshape(-1, 4) / np.array([w, h, w, h])
        ).tolist()
        scores = result.scores[:, np.asarray(self.class_ids) - 1].tolist()
        results.append((video_id, result.timestamp, norm, scores))
        if result.ids is not None:
            for r, track in enumerate(result.ids.tolist()):
                persons_rows.append(
                    (
                        video_id,
                        result.timestamp,
                        norm[r],
                        track,
                        result.actions[r][: self.visualizer.top_k],
                    )
                )

    def _finish_csvs(self, results, persons_rows, csv_path, persons_csv, stats):
        os.makedirs(os.path.dirname(os.path.abspath(csv_path)), exist_ok=True)
        stats["rows"] = write_detections_csv(results, self.class_ids, csv_path)
        if persons_csv and self.options.tracking:
            stats["persons_rows"] = write_persons_csv(persons_rows, persons_csv)
            stats["tracks"] = len({r[3] for r in persons_rows})

    def _check_video(self, fps, video_id):
        check_video_id(video_id)
        if "," in video_id:
            raise ValueError(
                f"video id {video_id!r} contains a comma; set another one with --video-id"
            )
        message = fps_warning(fps, self.num_frames, self.sampling_rate)
        if message:
            logger.warning("%s", message)

    # ------------------------------------------------------------------ a file, every frame
    def run(
        self,
        input_path,
        output_path,
        csv_path,
        boxes_csv=None,
        video_id=None,
        progress=True,
        snapshot=None,
        persons_csv=None,
    ):
        """Process the file ``input_path``; write ``output_path`` (video) and the CSVs.

        The video is written to ``<output>.partial.<ext>`` and renamed when complete; the
        CSVs are written atomically at the end.

        Args:
            boxes_csv: AVA-format person-box CSV (keyframe t = second t of the video);
                None = run the person detector on each keyframe.
            video_id: id used in the CSVs; defaults to the input file name without extension.
            snapshot: optional ``(seconds, path)``: also save the output frame at that time as
                an image (e.g. for a README).
            persons_csv: the persons CSV (track ids; see the module doc), or None.
        Returns:
            dict with ``frames`` (frames written), ``keyframes``, ``persons`` (boxes scored),
            ``rows`` (results CSV rows), ``seconds`` (wall time), ``fps`` (frames per
            second) and, with tracking and a persons CSV, ``persons_rows`` and ``tracks``.
        """
        if video_id is None:
            video_id = os.path.splitext(os.path.basename(str(input_path)))[0]
        if not os.path.isfile(str(input_path)):
            raise FileNotFoundError(f"video not found: {input_path}")
        source = open_video(input_path)
        self._check_video(source.fps, video_id)
        persons = self.person_source(boxes_csv, video_id)
        start = time.perf_counter()
        snapshot_frame = int(round(snapshot[0] * source.fps)) if snapshot is not None else None
        sink = VideoFileSink(output_path, source.fps)
        state = self.new_video_state()
        results, persons_rows = [], []
        stats = {"frames": 0, "keyframes": 0, "persons": 0}
        complete = False
        try:
            bar = tqdm(
                total=source.frame_count or None,
                unit="frame",
                desc=os.path.basename(str(input_path)),
                disable=not progress,
            )
            clips = iter_keyframe_clips(
                source.frames(), source.fps, self.num_frames, self.sampling_rate
            )
            size = None
            for kc in clips:
                size = kc.keyframe.shape[:2]
                result = self.process(kc, persons, state)
                self.record(result, video_id, size, results, persons_rows)
                for i, frame in kc.segment:
                    out = self.visualizer.compose(frame, result.layer)
                    sink.write(out)
                    if snapshot is not None and i == snapshot_frame:
                        if not cv2.imwrite(snapshot[1], out):
                            raise OSError(f"cannot write the snapshot {snapshot[1]}")
                        stats["snapshot"] = snapshot[1]
                    stats["frames"] += 1
                    bar.update(1)
                stats["keyframes"] += 1
                stats["persons"] += len(result.boxes)
            bar.close()
            if size is None:
                raise ValueError(f"{input_path}: no frames decoded")
            self._finish_csvs(results, persons_rows, csv_path, persons_csv, stats)
            complete = True
        finally:
            source.release()
            sink.close(complete)
        stats["seconds"] = time.perf_counter() - start
        stats["fps"] = stats["frames"] / stats["seconds"]
        return stats

    # ------------------------------------------------------------------ live, bounded lag
    def run_stream(
        self,
        source,
        csv_path,
        sinks=(),
        boxes_csv=None,
        video_id=None,
        persons_csv=None,
        progress=True,
        max_seconds=None,
    ):
        """Process a live :class:`~slowfast_det.engine.video_input.VideoSource` (or any
        iterable of ``(frame, wall_time)`` with ``fps`` and ``name``) with bounded lag:
        see :class:`~slowfast_det.engine.streaming.StreamingLoop`.

        Args:
            sinks: where drawn frames go (:mod:`.video_output`); each gets every live frame
                with the drawing of the newest processed keyframe.
            max_seconds: stop after this much video time (None = until the source ends).
        Returns:
            the stats dict of :meth:`run` (``frames`` = live frames) plus ``lag_mean_s``,
            ``lag_max_s`` (seconds from the arrival of a clip's newest frame to its result),
            ``keyframes_skipped``, ``skipped_share``, ``process_mean_s`` / ``process_max_s``
            (time per scored keyframe), ``ring_frames`` (frames the ring holds) and
            ``stopped_by_user``.
        """
        if video_id is None:
            video_id = "stream"
        self._check_video(source.fps, video_id)
        persons = self.person_source(boxes_csv, video_id)
        loop = StreamingLoop(self, persons, video_id, progress=progress)
        results, persons_rows = [], []
        stats = loop.run(source, sinks, results, persons_rows, max_seconds=max_seconds)
        self._finish_csvs(results, persons_rows, csv_path, persons_csv, stats)
        return stats
