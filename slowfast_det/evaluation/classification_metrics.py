"""Video classification metrics on score arrays (numpy only): top-k accuracy, mean per-class
accuracy and the most confused class pairs (single-label), average precision and its mean
over classes (multi-label, Charades). Used by
:class:`~slowfast_det.evaluation.classification.ClassificationEvaluator`.

Shapes: ``N`` videos, ``K`` classes; ``scores`` float ``(N, K)`` (probabilities, or any
score where higher means more likely), single-label ``labels`` int ``(N,)`` in ``0..K-1``,
multi-label ``targets`` bool ``(N, K)``.

Ties. Classes are ranked by score, descending, equal scores by class index, ascending
(:func:`ranked_classes`, a stable sort): the order of the predictions CSV, used for top-k
and top-1 alike, so a video's listed top-1 is the class its accuracy counts. (scikit-learn's
``top_k_accuracy_score`` breaks ties the other way, higher index first; without ties the two
agree.) Average precision groups equal scores into one threshold, as scikit-learn's
``average_precision_score`` does, so it does not depend on the order of tied videos.
"""

import numpy as np

__all__ = [
    "ranked_classes",
    "true_class_rank",
    "topk_accuracy",
    "class_accuracy",
    "confused_pairs",
    "average_precision",
    "mean_average_precision",
]


def ranked_classes(scores, k=None):
    """int64 ``(N, k)``: each row's classes by score, descending, ties by class index
    ascending; all K classes when ``k`` is None (or larger than K)."""
    scores = np.asarray(scores)
    order = np.argsort(-scores, axis=1, kind="stable")
    return order if k is None else order[:, :k]


def true_class_rank(scores, labels):
    """int64 ``(N,)``: the 0-based place of each video's true class in :func:`ranked_classes`
    (0: the top-1 prediction): the classes with a higher score, plus the classes with the same
    score and a smaller index."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    own = scores[np.arange(len(labels)), labels][:, None]
    higher = (scores > own).sum(axis=1)
    tied_before = ((scores == own) & (np.arange(scores.shape[1])[None, :] < labels[:, None])).sum(
        axis=1
    )
    return (higher + tied_before).astype(np.int64)


def topk_accuracy(scores, labels, ks=(1, 5)):
    """``{k: fraction of videos whose true class is among the k best}`` for each k of ``ks``
    (NaN for no videos)."""
    if len(labels) == 0:
        return {int(k): float("nan") for k in ks}
    rank = true_class_rank(scores, labels)
    return {int(k): float(np.mean(rank < k)) for k in ks}


def class_accuracy(predicted, labels, num_classes):
    """Per-class accuracy (recall): float64 ``(K,)``, for class c the fraction of its videos
    whose top-1 prediction is c; NaN for a class without videos. Their mean over the classes
    with videos (``np.nanmean``) is the mean per-class accuracy (scikit-learn's
    ``balanced_accuracy_score``)."""
    predicted = np.asarray(predicted, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    total = np.bincount(labels, minlength=num_classes).astype(np.float64)
    right = np.bincount(labels[predicted == labels], minlength=num_classes).astype(np.float64)
    out = np.full(num_classes, np.nan)
    has = total > 0
    out[has] = right[has] / total[has]
    return out


def confused_pairs(predicted, labels, top=10):
    """The most frequent mistakes: up to ``top`` ``(true class, predicted class, count)``
    with ``true != predicted``, by count descending, then true class, then predicted class."""
    predicted = np.asarray(predicted, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    wrong = predicted != labels
    if not wrong.any():
        return []
    pairs, counts = np.unique(
        np.stack([labels[wrong], predicted[wrong]], axis=1), axis=0, return_counts=True
    )
    order = np.lexsort((pairs[:, 1], pairs[:, 0], -counts))[:top]
    return [(int(pairs[i, 0]), int(pairs[i, 1]), int(counts[i])) for i in order]


def average_precision(scores, positives):
    """Average precision of one class: ``sum_n (R_n - R_{n-1}) P_n`` over the distinct score
    thresholds ``n`` in descending order (precision ``P_n`` and recall ``R_n`` of the videos
    scoring at least that threshold, ``R_0 = 0``); no interpolation. Equal scores form one
    threshold (the result does not depend on the order of tied videos). This is
    scikit-learn's ``average_precision_score``, PySlowFast's Charades mAP per class.

    Args:
        scores: float ``(N,)``.
        positives: bool ``(N,)``.
    Returns:
        the AP in [0, 1], or NaN when there is no positive.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives, dtype=bool)
    if not positives.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], positives[order]
    last_of_threshold = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
    tp = np.cumsum(y)[last_of_threshold]
    precision = tp / (last_of_threshold + 1.0)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(scores, targets):
    """Charades' mAP: the mean of :func:`average_precision` over the classes with at least one
    positive video; a class without positives has no AP (NaN) and is left out of the mean
    (PySlowFast drops those columns before scoring).

    Returns:
        ``(mAP, per_class)``: mAP a float (NaN when no class has a positive), per_class
        float64 ``(K,)`` (NaN for classes without positives).
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=bool)
    per_class = np.array(
        [average_precision(scores[:, c], targets[:, c]) for c in range(scores.shape[1])]
    )
    has = ~np.isnan(per_class)
    return (float(per_class[has].mean()) if has.any() else float("nan")), per_class
