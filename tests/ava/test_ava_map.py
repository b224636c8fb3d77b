"""Hand-computed frame-mAP cases (each AP worked out in the comments)."""

import pytest
from ava_eval_cases import FAR, A, B, det_row, gt_row, table

from benchmarks.reference import reference_frame_map
from slowfast_det.ava.metric import frame_map


def fm(gt, det, classes=(1,), excluded=(), capacity=50):
    """frame_map, checked against the reference loop on the same rows."""
    res = frame_map(table(gt), table(det), list(classes), excluded, capacity)
    ref_map, ref_ap = reference_frame_map(
        [tuple(r) + (i + 1,) for i, r in enumerate(gt)],
        [tuple(r) + (i + 1,) for i, r in enumerate(det)],
        list(classes),
        excluded,
        capacity,
    )
    assert res.mAP == pytest.approx(ref_map, abs=1e-12)
    assert res.per_class.keys() == ref_ap.keys()
    for c, ap in ref_ap.items():
        assert (ap is None) == (res.per_class[c] is None)
        if ap is not None:
            assert res.per_class[c] == pytest.approx(ap, abs=1e-12)
    return res


def test_one_class_one_keyframe_missed_box_and_duplicate():
    # GT: A and B (class 1). Detections: A (0.9) TP; A again (0.8) FP (box taken);
    # FAR (0.7) FP. B is missed. precision 1, 1/2, 1/3; recall 1/2 throughout -> AP = 1/2.
    gt = [gt_row("v", 902, A, 1, 0), gt_row("v", 902, B, 1, 1)]
    det = [
        det_row("v", 902, A, 1, 0.9),
        det_row("v", 902, A, 1, 0.8),
        det_row("v", 902, FAR, 1, 0.7),
    ]
    res = fm(gt, det)
    assert res.per_class[1] == pytest.approx(0.5)
    assert res.mAP == pytest.approx(0.5)
    assert res.num_groundtruth[1] == 2 and res.num_detections[1] == 3


def test_two_keyframes_ranked_together():
    # key 902: GT A; key 903: GT A. Ranking: 0.9 TP (903), 0.8 FP (902, FAR), 0.6 TP (902).
    # precision 1, 1/2, 2/3; recall 1/2, 1/2, 1; envelope 1, 2/3, 2/3 -> AP = 1/2 + 1/2 * 2/3.
    gt = [gt_row("v", 902, A, 1), gt_row("v", 903, A, 1)]
    det = [
        det_row("v", 902, A, 1, 0.6),
        det_row("v", 902, FAR, 1, 0.8),
        det_row("v", 903, A, 1, 0.9),
    ]
    assert fm(gt, det).mAP == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_empty_keyframe_detections_are_false_positives():
    # As above plus (v, 904): a keyframe with no box (2-column row: not in the table). Its
    # detection (0.95) is a false positive at rank 1, as in the official code:
    # precision 0, 1/2, 1/3, 1/2; recall 0, 1/2, 1/2, 1; envelope 1/2 everywhere -> AP = 1/2.
    gt = [gt_row("v", 902, A, 1), gt_row("v", 903, A, 1)]
    det = [
        det_row("v", 902, A, 1, 0.6),
        det_row("v", 902, FAR, 1, 0.8),
        det_row("v", 903, A, 1, 0.9),
        det_row("v", 904, A, 1, 0.95),
    ]
    res = fm(gt, det)
    assert res.mAP == pytest.approx(0.5)
    assert res.counts["det_rows_at_keys_without_groundtruth"] == 1
    assert res.counts["det_rows_unknown_video"] == 0


def test_unknown_video_detections_are_false_positives_and_counted():
    gt = [gt_row("v", 902, A, 1)]
    det = [
        det_row("v", 902, A, 1, 0.5),
        det_row("other", 902, A, 1, 0.9),
        det_row("other", 903, A, 1, 0.8),
    ]
    res = fm(gt, det)
    # FP, FP, TP: precision 0, 0, 1/3 at recall 0, 0, 1 -> AP = 1/3
    assert res.mAP == pytest.approx(1 / 3)
    assert res.counts["det_rows_unknown_video"] == 2 and res.counts["det_unknown_videos"] == 1


def test_excluded_keys_dropped_from_both_files():
    # The 904 false positive and a GT box at excluded 905 are ignored -> back to 1/2 + 1/3.
    gt = [gt_row("v", 902, A, 1), gt_row("v", 903, A, 1), gt_row("v", 905, B, 1)]
    det = [
        det_row("v", 902, A, 1, 0.6),
        det_row("v", 902, FAR, 1, 0.8),
        det_row("v", 903, A, 1, 0.9),
        det_row("v", 904, A, 1, 0.95),
    ]
    res = fm(gt, det, excluded={("v", 904), ("v", 905)})
    assert res.mAP == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert res.num_groundtruth[1] == 2
    assert res.counts["det_rows_excluded"] == 1 and res.counts["gt_rows_excluded"] == 1


def test_capacity_cut_per_keyframe():
    # Key 902: class-2 detections 0.99, 0.98, 0.97 (FAR: false positives) outrank the class-1
    # true positive (0.6). Capacity 3 cuts it: class 1 AP 0 (GT, no detection left), class 2
    # AP 0 (GT B missed) -> mAP 0. Capacity 4 or 0 keeps it: class 1 AP 1 -> mAP 1/2.
    gt = [gt_row("v", 902, A, 1), gt_row("v", 902, B, 2)]
    det = [det_row("v", 902, A, 1, 0.6)] + [
        det_row("v", 902, FAR, 2, s) for s in (0.99, 0.98, 0.97)
    ]
    cut = fm(gt, det, classes=(1, 2), capacity=3)
    assert cut.per_class == {1: 0.0, 2: 0.0} and cut.mAP == 0.0
    assert cut.counts["det_rows_over_capacity"] == 1
    for cap in (4, 0):
        kept = fm(gt, det, classes=(1, 2), capacity=cap)
        assert kept.per_class == {1: pytest.approx(1.0), 2: 0.0} and kept.mAP == pytest.approx(0.5)
    assert kept.capacity == 0


def test_invalid_box_dropped_after_the_cut():
    # The 0.9 detection has x1 > x2: it still takes a capacity slot (official order), so with
    # capacity 1 nothing is left for class 1 (AP 0); with capacity 2 the TP survives (AP 1).
    gt = [gt_row("v", 902, A, 1)]
    det = [det_row("v", 902, (0.5, 0.0, 0.0, 0.5), 1, 0.9), det_row("v", 902, A, 1, 0.8)]
    assert fm(gt, det, capacity=1).mAP == 0.0
    res = fm(gt, det, capacity=2)
    assert res.mAP == pytest.approx(1.0) and res.counts["det_rows_invalid_box"] == 1


def test_class_with_groundtruth_and_no_detections_counts_as_zero():
    gt = [gt_row("v", 902, A, 1), gt_row("v", 902, A, 3)]
    det = [det_row("v", 902, A, 1, 0.9)]
    res = fm(gt, det, classes=(1, 3))
    assert res.per_class == {1: pytest.approx(1.0), 3: 0.0}
    assert res.mAP == pytest.approx(0.5)


def test_class_without_groundtruth_is_left_out_of_the_mean():
    gt = [gt_row("v", 902, A, 1)]
    det = [det_row("v", 902, A, 1, 0.5), det_row("v", 902, A, 4, 0.9)]
    res = fm(gt, det, classes=(1, 4))
    assert res.per_class[4] is None and 4 not in res.pr_curves
    assert res.mAP == pytest.approx(1.0)


def test_classes_outside_the_label_map_are_dropped():
    gt = [gt_row("v", 902, A, 1), gt_row("v", 902, B, 7)]
    det = [det_row("v", 902, FAR, 7, 0.99), det_row("v", 902, A, 1, 0.5)]
    res = fm(gt, det, classes=(1,))
    assert res.mAP == pytest.approx(1.0)
    assert res.counts["gt_rows_other_class"] == 1 and res.counts["det_rows_other_class"] == 1


def test_no_fallback_to_the_second_best_box():
    # GT A' = [0, 0, 0.4, 1], B' = [0.2, 0, 0.7, 1]. det1 = A' (TP). det2 = [0.1, 0, 0.5, 1]:
    # IoU 0.6 with A' (taken), 0.5 with B' -> false positive, B' stays missed. AP = 1/2.
    a, b = (0.0, 0.0, 0.4, 1.0), (0.2, 0.0, 0.7, 1.0)
    gt = [gt_row("v", 902, a, 1, 0), gt_row("v", 902, b, 1, 1)]
    det = [det_row("v", 902, a, 1, 0.9), det_row("v", 902, (0.1, 0.0, 0.5, 1.0), 1, 0.8)]
    assert fm(gt, det).mAP == pytest.approx(0.5)


def test_iou_of_exactly_one_half_is_a_match():
    # GT [0,0,1,1], detection [0,0,0.5,1]: intersection 0.5, union 1 -> IoU 0.5 >= 0.5.
    gt = [gt_row("v", 902, (0.0, 0.0, 1.0, 1.0), 1)]
    assert fm(gt, [det_row("v", 902, (0.0, 0.0, 0.5, 1.0), 1, 0.5)]).mAP == 1.0
    assert fm(gt, [det_row("v", 902, (0.0, 0.0, 0.49, 1.0), 1, 0.5)]).mAP == 0.0


def test_tied_scores_rank_in_the_official_order():
    # Equal scores: the official stable argsort(scores)[::-1] ranks the later key (by its first
    # line) first. FP (key 902, line 1), TP (key 903, line 2): TP ranks first -> AP 1; the
    # other way round: FP first, precision 0, 1/2 at recall 0, 1 -> AP 1/2.
    gt = [gt_row("v", 903, A, 1)]
    fp, tp = det_row("v", 902, A, 1, 0.5), det_row("v", 903, A, 1, 0.5)
    assert fm(gt, [fp, tp]).mAP == pytest.approx(1.0)
    assert fm(gt, [tp, fp]).mAP == pytest.approx(0.5)


def test_tied_scores_at_the_capacity_cut_keep_earlier_lines():
    gt = [gt_row("v", 902, A, 1)]
    det = [
        det_row("v", 902, FAR, 1, 0.5),
        det_row("v", 902, A, 1, 0.5),
        det_row("v", 902, B, 1, 0.5),
    ]
    assert fm(gt, det, capacity=1).mAP == 0.0  # only the FAR row (line 1) is kept
    assert fm(gt, det, capacity=2).mAP == pytest.approx(0.5)  # FP, TP


def test_groundtruth_order_for_equal_iou_is_person_id_descending():
    # GT L = [0, 0, 0.625, 1], R = [0.375, 0, 1, 1]; detection D = [0.125, 0, 0.875, 1] has
    # IoU exactly 0.5 / 0.875 with each (dyadic numbers: no rounding). D takes the box with
    # the higher person id. If that is R, a second detection equal to L finds L free
    # (2 TP, AP 1); if it is L, the second one is a duplicate (AP 1/2).
    left, right = (0.0, 0.0, 0.625, 1.0), (0.375, 0.0, 1.0, 1.0)
    det = [det_row("v", 902, (0.125, 0.0, 0.875, 1.0), 1, 0.9), det_row("v", 902, left, 1, 0.8)]
    gt = [gt_row("v", 902, left, 1, 1), gt_row("v", 902, right, 1, 5)]
    assert fm(gt, det).mAP == pytest.approx(1.0)
    gt_swapped = [gt_row("v", 902, left, 1, 5), gt_row("v", 902, right, 1, 1)]
    assert fm(gt_swapped, det).mAP == pytest.approx(0.5)


def test_no_groundtruth_at_all_is_an_error():
    with pytest.raises(ValueError, match="undefined"):
        frame_map(table([gt_row("v", 902, A, 9)]), table([det_row("v", 902, A, 1, 0.5)]), [1])


def test_pr_curve_arrays():
    gt = [gt_row("v", 902, A, 1, 0), gt_row("v", 902, B, 1, 1)]
    det = [det_row("v", 902, A, 1, 0.9), det_row("v", 902, FAR, 1, 0.7)]
    p, r = fm(gt, det).pr_curves[1]
    assert list(p) == [1.0, 0.5] and list(r) == [0.5, 0.5]
