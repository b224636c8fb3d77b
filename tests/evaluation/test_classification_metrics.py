"""Classification metrics on small worked examples, computed by hand.

Where scikit-learn has the metric the expected value is also the one it gives
(``top_k_accuracy_score``, ``balanced_accuracy_score``, ``average_precision_score``, and
PySlowFast's Charades mAP, which calls the latter on the classes with a positive). scikit-learn
is not installed here (and must not be): those values were worked out by hand from its
documented definitions, step by step in the comments, not by running it.
"""

import numpy as np
import pytest

from slowfast_det.evaluation.classification_metrics import (
    average_precision,
    class_accuracy,
    confused_pairs,
    mean_average_precision,
    ranked_classes,
    topk_accuracy,
    true_class_rank,
)

# 6 videos, K = 6 classes (no ties except where noted)
SCORES = np.array(
    [
        [0.50, 0.20, 0.10, 0.10, 0.05, 0.05],  # label 0: rank 0
        [0.40, 0.30, 0.10, 0.10, 0.05, 0.05],  # label 1: rank 1 (0 above)
        [0.05, 0.10, 0.15, 0.20, 0.25, 0.25],  # label 2: rank 3 (3, 4, 5 above); top-1 4 (tie 4/5)
        [0.30, 0.25, 0.20, 0.15, 0.10, 0.00],  # label 5: rank 5 (last)
        [0.10, 0.60, 0.10, 0.10, 0.05, 0.05],  # label 1: rank 0
        [0.40, 0.10, 0.10, 0.10, 0.10, 0.20],  # label 5: rank 1 (0 above)
    ]
)
LABELS = np.array([0, 1, 2, 5, 1, 5])


def test_ranks_and_topk_accuracy():
    assert true_class_rank(SCORES, LABELS).tolist() == [0, 1, 3, 5, 0, 1]
    # top-1 hits: videos 0 and 4 -> 2/6; top-5: all but video 3 -> 5/6
    # (sklearn top_k_accuracy_score(LABELS, SCORES, k=1) and k=5 give the same: the ties
    # in rows 2 and 5 are not between the true class and another)
    acc = topk_accuracy(SCORES, LABELS, ks=(1, 5))
    assert acc[1] == pytest.approx(2 / 6) and acc[5] == pytest.approx(5 / 6)
    # ties rank by class index: row 2's best is 4 (tied with 5), row 5's second-worst ties
    assert ranked_classes(SCORES, 2)[:, 0].tolist() == [0, 0, 4, 0, 1, 0]
    assert ranked_classes(SCORES)[2].tolist() == [4, 5, 3, 2, 1, 0]


def test_tie_with_the_true_class_ranks_by_class_index():
    scores = np.array([[0.4, 0.4, 0.2], [0.4, 0.4, 0.2]])
    # class 0 tied with 1 comes first; class 1 tied with 0 comes second
    assert true_class_rank(scores, [0, 1]).tolist() == [0, 1]
    assert topk_accuracy(scores, np.array([0, 1]), ks=(1, 2)) == {1: 0.5, 2: 1.0}


def test_mean_class_accuracy_is_balanced_accuracy():
    predicted = ranked_classes(SCORES, 1)[:, 0]  # [0, 0, 4, 0, 1, 0]
    per_class = class_accuracy(predicted, LABELS, 6)
    # class 0: 1 of 1; class 1: 1 of 2 (video 4 right, video 1 wrong); class 2: 0 of 1;
    # class 5: 0 of 2; classes 3 and 4 have no video (NaN, left out)
    np.testing.assert_array_equal(per_class, [1.0, 0.5, 0.0, np.nan, np.nan, 0.0])
    # sklearn balanced_accuracy_score(LABELS, predicted): recall per class of the confusion
    # matrix rows with samples: (1 + 0.5 + 0 + 0) / 4 = 0.375
    assert np.nanmean(per_class) == pytest.approx(0.375)


def test_confused_pairs_by_count():
    predicted = ranked_classes(SCORES, 1)[:, 0]
    # mistakes: 1->0 (video 1), 2->4 (video 2), 5->0 (videos 3 and 5)
    assert confused_pairs(predicted, LABELS) == [(5, 0, 2), (1, 0, 1), (2, 4, 1)]
    assert confused_pairs(predicted, LABELS, top=1) == [(5, 0, 2)]
    assert confused_pairs(LABELS, LABELS) == []


def test_average_precision_worked_examples():
    # scores 0.9 0.5 0.5 0.1, positives 1 1 0 0. Thresholds (ties grouped): 0.9: P 1, R 1/2;
    # 0.5: P 2/3, R 1; 0.1: R unchanged. AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    # (sklearn average_precision_score([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) = 0.8333)
    assert average_precision([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(5 / 6)
    # 0.7 0.6 0.4 0.3 with positives at 0.4 and 0.3: P 1/3 at R 1/2, P 2/4 at R 1
    # AP = 1/2 * 1/3 + 1/2 * 1/2 = 5/12 (sklearn: 0.41667)
    assert average_precision([0.7, 0.3, 0.6, 0.4], [0, 1, 0, 1]) == pytest.approx(5 / 12)
    # all tied: one threshold, P 2/3 at R 1 -> 2/3 (sklearn: 0.6667), whatever the order;
    # a positive-first order would give 5/6, a negative-first one 1/2 * 1/2 + 1/2 * 2/3
    for order in ([1, 0, 1], [0, 1, 1], [1, 1, 0]):
        assert average_precision([0.5, 0.5, 0.5], order) == pytest.approx(2 / 3)
    assert average_precision([0.9, 0.1], [1, 1]) == 1.0
    assert np.isnan(average_precision([0.9, 0.1], [0, 0]))  # no positive: no AP


def test_charades_map_leaves_out_classes_without_positives():
    targets = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 1, 0]], dtype=bool)
    scores = np.array([[0.9, 0.7, 0.3], [0.5, 0.3, 0.9], [0.5, 0.6, 0.1], [0.1, 0.4, 0.5]])
    m_ap, per_class = mean_average_precision(scores, targets)
    # class 0 = the first example above (5/6), class 1 the second (5/12), class 2 none;
    # PySlowFast get_map drops class 2's column, then sklearn's mean AP: (5/6 + 5/12) / 2
    np.testing.assert_allclose(per_class[:2], [5 / 6, 5 / 12])
    assert np.isnan(per_class[2])
    assert m_ap == pytest.approx(0.625)
    assert np.isnan(mean_average_precision(scores, np.zeros_like(targets))[0])
