"""Video classification evaluation inside Detectron2: :class:`ClassificationEvaluator`, a
``DatasetEvaluator`` for :class:`~slowfast_det.modeling.VideoClassifier` on the classification
test loader (one video per input, its views combined by the model; the metrics themselves are
:mod:`slowfast_det.evaluation.classification_metrics`).
"""

import csv
import itertools
import logging
import os
from collections import OrderedDict
from typing import NamedTuple

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from slowfast_det.ava.files import NUMBER_FORMAT, write_json
from slowfast_det.utils.file_io import atomic_path

from .classification_metrics import (
    class_accuracy,
    confused_pairs,
    mean_average_precision,
    ranked_classes,
    topk_accuracy,
)

__all__ = [
    "ClassificationEvaluator",
    "VideoResult",
    "merge_video_results",
    "RESULTS_KEY",
    "TOP1_KEY",
    "TOP5_KEY",
    "MEAN_CLASS_ACCURACY_KEY",
    "MAP_KEY",
    "PREDICTIONS_CSV",
    "RESULTS_JSON",
    "topk_header",
    "topk_cells",
]

logger = logging.getLogger(__name__)

#: ``results[RESULTS_KEY]`` holds the metrics (fractions in [0, 1]).
RESULTS_KEY = "classification"
TOP1_KEY, TOP5_KEY = "top1", "top5"
MEAN_CLASS_ACCURACY_KEY = "mean_class_accuracy"
MAP_KEY = "mAP"
PREDICTIONS_CSV = "classification_predictions.csv"
RESULTS_JSON = "classification_eval.json"


def topk_header(k):
    """Column names of :func:`topk_cells`: ``top<i>``, ``top<i>_name``, ``top<i>_score``."""
    return [f"top{i}{suffix}" for i in range(1, k + 1) for suffix in ("", "_name", "_score")]


def topk_cells(scores, k, class_name):
    """CSV cells of the ``k`` best classes of ``scores`` (K,) (ties by class index, as
    :func:`~.classification_metrics.ranked_classes`): per class its index, its name
    (``class_name(index)``) and its score (``%.9g``, float32 round trip)."""
    scores = np.asarray(scores)
    cells = []
    for c in ranked_classes(scores[None], k)[0]:
        cells += [int(c), class_name(int(c)), NUMBER_FORMAT % scores[c]]
    return cells


class VideoResult(NamedTuple):
    """One evaluated video (what each process keeps and rank 0 gathers)."""

    key: object  #: its ``video_index`` (its ``video_id`` when the input has none)
    video_id: str
    target: object  #: class index (int, single-label), or sorted tuple of them (multi-label)
    scores: np.ndarray  #: float32 (K,)


def merge_video_results(parts):
    """One list of :class:`VideoResult` from the per-process lists (``comm.gather``), sorted by
    key. Raises ValueError naming the video when one was evaluated twice (on one process or
    two): the test sampler gives every video to exactly one process, once."""
    seen = {}
    for rank, part in enumerate(parts):
        for r in part:
            if r.key in seen:
                raise ValueError(
                    f"ClassificationEvaluator: video {r.video_id!r} (index {r.key}) was evaluated "
                    f"twice (processes {seen[r.key]} and {rank}); each video must be processed "
                    "once (the classification test loader's InferenceSampler does so)"
                )
            seen[r.key] = rank
    merged = list(itertools.chain(*parts))
    merged.sort(key=lambda r: (type(r.key).__name__, r.key))
    return merged


class ClassificationEvaluator(DatasetEvaluator):
    """Accuracy of a video classifier, one result per video.

    Expects per input a dict with ``video_id``, ``video_index`` (the video's place in the
    dataset; the evaluator's key) and the ground truth, ``"label"`` (int class index,
    single-label) or ``"labels"`` (class indices as a list / int tensor, or a float / bool
    multi-hot tensor, positives ``> 0.5``; multi-label), and per output ``{"scores": (K,)}``,
    the video's class probabilities (its views combined by the model, ``TEST.ENSEMBLE_METHOD``).

    Metrics (``evaluate()`` returns ``{"classification": {...}}``, fractions in [0, 1]):

    * single-label: ``top1``, ``top5`` (only when K > 5; ties: see
      :mod:`~slowfast_det.evaluation.classification_metrics`) and ``mean_class_accuracy``
      (the mean over the classes with videos of their top-1 recall);
    * multi-label: ``mAP``, Charades' definition: the mean over the classes with at least one
      positive video of the class's average precision (equal scores form one threshold, as in
      scikit-learn; a class without positives is left out of the mean and has no AP).

    Files (rank 0, atomically, when ``output_dir`` is given): ``classification_predictions.csv``,
    one row per video: ``video_id``, ``labels`` (class indices, space-separated), then for
    each of the ``top_k`` best classes ``top<i>`` (index), ``top<i>_name``, ``top<i>_score``;
    and ``classification_eval.json``: the metrics, per-class accuracy / AP with the class
    names and video counts, and (single-label) the most confused class pairs, which are also
    logged.

    In a multi-process run every process keeps its videos; ``evaluate`` gathers them on
    rank 0 (``detectron2.utils.comm.gather``) and scores each video once: a video evaluated
    twice is an error, a video of the dataset that was not evaluated (e.g. unreadable) is
    counted and logged.
    """

    @configurable
    def __init__(
        self,
        dataset_name,
        *,
        num_classes=None,
        output_dir=None,
        distributed=True,
        top_k=5,
        num_confused=10,
    ):
        """
        Args:
            dataset_name: a registered classification dataset; its metadata may give
                ``class_names`` (list, index = class) and ``multi_label`` (bool; without it
                the inputs decide: ``"labels"`` is multi-label).
            num_classes: K, the length of every ``scores`` (None: the first output's).
            output_dir: folder of the CSV and JSON; None writes no file.
            distributed: gather the results of all processes on rank 0.
            top_k: best classes listed per video in the CSV.
            num_confused: confused class pairs reported.
        """
        self._dataset_name = dataset_name
        self._num_classes = None if num_classes is None else int(num_classes)
        self._output_dir = output_dir
        self._distributed = distributed
        self._top_k = int(top_k)
        self._num_confused = int(num_confused)
        meta = MetadataCatalog.get(dataset_name)
        self._class_names = list(getattr(meta, "class_names", None) or [])
        self._multi_label = getattr(meta, "multi_label", None)
        self.reset()

    @classmethod
    def from_config(cls, cfg, dataset_name, output_dir=None, distributed=True):
        return {
            "dataset_name": dataset_name,
            "num_classes": cfg.MODEL.VIDEO_HEAD.NUM_CLASSES,
            "output_dir": output_dir,
            "distributed": distributed,
        }

    def reset(self):
        self._videos = []  # VideoResult

    def class_name(self, c):
        return self._class_names[c] if 0 <= c < len(self._class_names) else f"class {c}"

    def process(self, inputs, outputs):
        """Keep each video's key, id, ground truth and scores (checked: shape (K,), finite;
        class indices in 0..K-1)."""
        for inp, out in zip(inputs, outputs):
            video_id = str(inp.get("video_id", inp.get("video_index")))
            scores = out["scores"]
            scores = (
                scores.detach().float().cpu().numpy()
                if isinstance(scores, torch.Tensor)
                else np.asarray(scores, dtype=np.float32)
            )
            k = self._num_classes if self._num_classes is not None else scores.shape[-1]
            if scores.shape != (k,):
                raise ValueError(
                    f"ClassificationEvaluator: video {video_id!r}: scores must be ({k},) "
                    f"(MODEL.VIDEO_HEAD.NUM_CLASSES), got {scores.shape}"
                )
            if not np.isfinite(scores).all():
                raise ValueError(f"ClassificationEvaluator: video {video_id!r}: non-finite scores")
            self._num_classes = k
            key = inp["video_index"] if "video_index" in inp else video_id
            key = int(key) if isinstance(key, (int, np.integer, torch.Tensor)) else key
            self._videos.append(VideoResult(key, video_id, self._target(inp, video_id, k), scores))

    def _target(self, inp, video_id, k):
        where = f"ClassificationEvaluator: video {video_id!r}"
        multi = "labels" in inp
        if not multi and "label" not in inp:
            raise KeyError(f"{where} has no ground truth ('label' or 'labels')")
        if self._multi_label is not None and multi != bool(self._multi_label):
            want = "'labels'" if self._multi_label else "'label'"
            raise ValueError(f"{where}: dataset {self._dataset_name!r} is labelled with {want}")
        self._multi_label = multi
        if not multi:
            c = int(inp["label"])
            if not 0 <= c < k:
                raise ValueError(f"{where}: label {c} outside 0..{k - 1}")
            return c
        labels = inp["labels"]
        if isinstance(labels, torch.Tensor) and (
            labels.is_floating_point() or labels.dtype == torch.bool
        ):
            labels = torch.nonzero(labels > 0.5).flatten()
        labels = sorted(
            {int(c) for c in (labels.tolist() if hasattr(labels, "tolist") else labels)}
        )
        bad = [c for c in labels if not 0 <= c < k]
        if bad:
            raise ValueError(f"{where}: class index {bad[0]} outside 0..{k - 1}")
        return tuple(labels)

    def evaluate(self):
        if self._distributed:
            comm.synchronize()
            parts = comm.gather(self._videos, dst=0)
            if not comm.is_main_process():
                return {}
        else:
            parts = [self._videos]
        videos = merge_video_results(parts)
        if not videos:
            logger.warning("[ClassificationEvaluator] no predictions were processed")
            return {}
        self._num_classes = len(videos[0].scores)
        self._log_missing(len(videos))
        scores = np.stack([v.scores for v in videos])
        if self._multi_label:
            metrics, report = self._multi_label_metrics(videos, scores)
        else:
            metrics, report = self._single_label_metrics(videos, scores)
        logger.info(
            "[ClassificationEvaluator] %s, %d videos: %s",
            self._dataset_name,
            len(videos),
            ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
        )
        if self._output_dir:
            self._write_predictions(videos, scores)
            report = {
                "dataset": self._dataset_name,
                "num_videos": len(videos),
                "num_classes": self._num_classes,
                "multi_label": bool(self._multi_label),
                "metrics": dict(metrics),
                **report,
            }
            write_json(report, os.path.join(self._output_dir, RESULTS_JSON))
        return {RESULTS_KEY: metrics}

    def _log_missing(self, evaluated):
        try:
            expected = len(DatasetCatalog.get(self._dataset_name))
        except KeyError:  # not registered: nothing to compare with
            return
        if expected != evaluated:
            logger.warning(
                "[ClassificationEvaluator] %s: %d of its %d videos were evaluated "
                "(%d missing: unreadable or skipped; the metrics cover the evaluated ones)",
                self._dataset_name,
                evaluated,
                expected,
                expected - evaluated,
            )

    def _single_label_metrics(self, videos, scores):
        labels = np.array([v.target for v in videos], dtype=np.int64)
        k = scores.shape[1]
        ks = [1] + ([5] if k > 5 else [])
        acc = topk_accuracy(scores, labels, ks)
        predicted = ranked_classes(scores, 1)[:, 0]
        per_class = class_accuracy(predicted, labels, k)
        metrics = OrderedDict([(TOP1_KEY, acc[1])])
        if 5 in acc:
            metrics[TOP5_KEY] = acc[5]
        metrics[MEAN_CLASS_ACCURACY_KEY] = float(np.nanmean(per_class))
        counts = np.bincount(labels, minlength=k)
        pairs = []
        for t, p, n in confused_pairs(predicted, labels, self._num_confused):
            pairs.append(
                {
                    "true": t,
                    "true_name": self.class_name(t),
                    "predicted": p,
                    "predicted_name": self.class_name(p),
                    "count": n,
                    "fraction_of_true": n / int(counts[t]),
                }
            )
        if pairs:
            logger.info(
                "[ClassificationEvaluator] most confused (true -> predicted: videos):\n%s",
                "\n".join(
                    f"  {p['true_name']} -> {p['predicted_name']}: {p['count']} of "
                    f"{int(counts[p['true']])}"
                    for p in pairs
                ),
            )
        report = {
            "per_class": {
                str(c): {
                    "name": self.class_name(c),
                    "videos": int(counts[c]),
                    "accuracy": None if np.isnan(per_class[c]) else float(per_class[c]),
                }
                for c in range(k)
            },
            "most_confused": pairs,
        }
        return metrics, report

    def _multi_label_metrics(self, videos, scores):
        targets = np.zeros(scores.shape, dtype=bool)
        for i, v in enumerate(videos):
            targets[i, list(v.target)] = True
        m_ap, per_class = mean_average_precision(scores, targets)
        positives = targets.sum(axis=0)
        without = int((positives == 0).sum())
        if without:
            logger.info(
                "[ClassificationEvaluator] %d of %d classes have no positive video: left out "
                "of the mAP",
                without,
                scores.shape[1],
            )
        report = {
            "per_class": {
                str(c): {
                    "name": self.class_name(c),
                    "positives": int(positives[c]),
                    "AP": None if np.isnan(per_class[c]) else float(per_class[c]),
                }
                for c in range(scores.shape[1])
            },
            "classes_without_positives": without,
        }
        return OrderedDict([(MAP_KEY, m_ap)]), report

    def _write_predictions(self, videos, scores):
        k = min(self._top_k, scores.shape[1])
        path = os.path.join(self._output_dir, PREDICTIONS_CSV)
        with atomic_path(path) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(["video_id", "labels"] + topk_header(k))
                for v, s in zip(videos, scores):
                    target = v.target if isinstance(v.target, tuple) else (v.target,)
                    labels = " ".join(str(c) for c in target)
                    w.writerow([v.video_id, labels] + topk_cells(s, k, self.class_name))
        logger.info(
            "[ClassificationEvaluator] wrote the predictions of %d videos to %s", len(videos), path
        )
