"""Grouped mAP over AVA's action groups: the numbers, the report and the bar chart."""

import pytest
from ava_eval_cases import A, det_row, gt_row, table

from slowfast_det.ava.metric import frame_map
from slowfast_det.ava.plots import plot_per_class_ap
from slowfast_det.ava.result import ACTION_GROUPS, format_result, grouped_map


def test_groups_are_the_ava_id_ranges():
    assert ACTION_GROUPS == {
        "pose": (1, 14),
        "object manipulation": (15, 63),
        "person interaction": (64, 80),
    }


def test_grouped_map_by_hand():
    # pose: ids 1 and 14 -> (0.2 + 0.4) / 2; id 3 has no ground truth (None): left out.
    # object manipulation: 15 and 63 -> (1 + 0) / 2. person interaction: 64 only -> 0.9.
    per_class = {1: 0.2, 3: None, 14: 0.4, 15: 1.0, 63: 0.0, 64: 0.9}
    g = grouped_map(per_class)
    assert g["pose"] == {"mAP": pytest.approx(0.3), "num_classes": 2}
    assert g["object manipulation"] == {"mAP": 0.5, "num_classes": 2}
    assert g["person interaction"] == {"mAP": 0.9, "num_classes": 1}
    assert grouped_map({1: None, 20: 0.5})["pose"] == {"mAP": None, "num_classes": 0}
    # an id beyond AVA's 80: not AVA's label map (your own classes), no AVA groups
    assert (
        grouped_map({**per_class, 81: 0.5}) == {} and grouped_map({4: 0.1, 12: 0.2, 91: 0.3}) == {}
    )


def test_frame_map_reports_groups_and_the_chart_marks_them(tmp_path):
    # class 1 (pose) AP 1, class 20 (object manipulation) AP 0, class 70 (interaction) AP 1
    gt = [gt_row("v", 902, A, 1), gt_row("v", 902, A, 20), gt_row("v", 902, A, 70)]
    det = [
        det_row("v", 902, A, 1, 0.9),
        det_row("v", 903, A, 20, 0.8),
        det_row("v", 902, A, 70, 0.7),
    ]
    res = frame_map(table(gt), table(det), [1, 20, 70])
    assert res.mAP == pytest.approx(2 / 3)
    assert {g: v["mAP"] for g, v in res.grouped.items()} == {
        "pose": 1.0,
        "object manipulation": 0.0,
        "person interaction": 1.0,
    }
    text = "\n".join(format_result(res))
    assert "group mAP object manipulation (ids 15-63): 0.000000 over 1 classes" in text
    fig = plot_per_class_ap(res, str(tmp_path / "ap.png"), {1: "a", 20: "b", 70: "c"})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [
        "mAP 0.6667",
        "pose (1-14) mAP 1.0000",
        "object manipulation (15-63) mAP 0.0000",
        "person interaction (64-80) mAP 1.0000",
    ]
    colors = {tuple(p.get_facecolor()) for p in fig.axes[0].patches}
    assert len(colors) == 3  # one bar colour per group
    assert (tmp_path / "ap.png").read_bytes()[:4] == b"\x89PNG"
