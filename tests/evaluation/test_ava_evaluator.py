"""AVAEvaluator on fake model outputs (no model, no frames)."""

import json
import logging

import numpy as np
import pytest
import torch
from ava_eval_cases import A, B, gt_row, write_csv, write_labelmap
from detectron2.data import MetadataCatalog
from detectron2.structures import Boxes, Instances

from slowfast_det.evaluation import FRAME_MAP_KEY, AVAEvaluator, evaluate_files

H, W = 200, 400


@pytest.fixture
def dataset(tmp_path, request):
    name = f"ava_eval_test_{request.node.name}"
    lm = write_labelmap(tmp_path / "lm.pbtxt", [1, 3], {1: "bend", 3: "crouch"})
    gt = write_csv(
        tmp_path / "gt.csv",
        [gt_row("v", "0902", A, 1), gt_row("v", "0902", B, 3, 1), gt_row("v", "0903", A, 1)],
    )
    MetadataCatalog.get(name).set(
        evaluator_type="ava",
        label_map_file=lm,
        groundtruth_file=gt,
        excluded_timestamps_file=None,
        action_names={1: "bend", 3: "crouch"},
        evaluated_ids=[1, 3],
    )
    yield name, tmp_path
    MetadataCatalog.remove(name)


def pixels(box):
    return [box[0] * W, box[1] * H, box[2] * W, box[3] * H]


def keyframe(ts, scores_by_box):
    """Input dict and model output: boxes A and B, scores (2, 80) with the given columns."""
    inst = Instances((H, W))
    inst.pred_boxes = Boxes(torch.tensor([pixels(A), pixels(B)], dtype=torch.float32))
    scores = torch.zeros(2, 80)
    for r, by_id in enumerate(scores_by_box):
        for cid, s in by_id.items():
            scores[r, cid - 1] = s
    inst.scores = scores
    inp = {"video_id": "v", "timestamp": ts, "height": H, "width": W, "image_id": f"v,{ts:04d}"}
    return inp, {"instances": inst}


# class 1 (GT: 902 A, 903 A): 0.9 TP, 0.7 TP, 0.6 FP, 0.3 FP -> AP 1
# class 3 (GT: 902 B): 0.85 (903 B) FP, 0.8 (902 B) TP, ... -> AP 1/2 ; mAP 3/4
KF902 = keyframe(902, [{1: 0.9, 3: 0.2}, {1: 0.3, 3: 0.8}])
KF903 = keyframe(903, [{1: 0.7, 3: 0.1}, {1: 0.6, 3: 0.85}])


@pytest.mark.parametrize("distributed", [False, True])
def test_evaluator_results_and_files(dataset, distributed):
    name, tmp = dataset
    out = tmp / "out"
    ev = AVAEvaluator(name, output_dir=str(out), distributed=distributed)
    ev.reset()
    ev.process([KF902[0]], [KF902[1]])
    ev.process([KF903[0]], [KF903[1]])
    res = ev.evaluate()
    assert res["ava"][FRAME_MAP_KEY] == pytest.approx(0.75)
    assert res["ava"]["AP/1 bend"] == pytest.approx(1.0) and res["ava"][
        "AP/3 crouch"
    ] == pytest.approx(0.5)

    lines = (out / "ava_detections.csv").read_text().splitlines()
    assert len(lines) == 8 and lines[0] == "v,0902,0,0,0.5,0.5,1,0.899999976"
    # re-scoring the written CSV (what tools/eval_ava.py does) gives the same numbers
    again, _ = evaluate_files(
        str(tmp / "lm.pbtxt"), str(tmp / "gt.csv"), str(out / "ava_detections.csv")
    )
    assert again.mAP == res["ava"][FRAME_MAP_KEY]
    saved = json.loads((out / "ava_eval.json").read_text())
    assert saved["mAP"] == pytest.approx(0.75) and saved["capacity"] == 50
    assert saved["per_class"]["3"] == {
        "name": "crouch",
        "AP": pytest.approx(0.5),
        "num_groundtruth": 1,
        "num_detections": 4,
    }
    # both classes are poses (ids 1-14): the pose group mean is the mAP; the others have no class
    assert (
        res["ava"]["mAP/pose"] == pytest.approx(0.75) and "mAP/person interaction" not in res["ava"]
    )
    assert saved["grouped_mAP"] == {
        "pose": pytest.approx(0.75),
        "object manipulation": None,
        "person interaction": None,
    }
    assert saved["keys_absent_from_groundtruth"]["rule"] == "false-positive"
    assert (out / "ava_ap_per_class.png").stat().st_size > 0 and (
        out / "ava_pr_curves.png"
    ).stat().st_size > 0


def test_evaluator_from_config_capacity(dataset, cfg):
    name, tmp = dataset
    cfg.AVA.EVAL_CAPACITY = 1
    cfg.AVA.EVAL_PLOTS = False
    ev = AVAEvaluator(cfg, name, output_dir=str(tmp / "o"))
    ev.reset()
    ev.process([KF902[0], KF903[0]], [KF902[1], KF903[1]])
    # top-1 per keyframe: 902 -> class 1 on A (TP, 1 of 2 boxes: AP 1/2);
    # 903 -> class 3 on B (FP: AP 0)
    assert ev.evaluate()["ava"][FRAME_MAP_KEY] == pytest.approx(0.25)
    assert not (tmp / "o" / "ava_pr_curves.png").exists()
    assert json.loads((tmp / "o" / "ava_eval.json").read_text())["capacity"] == 1


def test_evaluator_from_config_keys_absent_rule(dataset, cfg):
    name, tmp = dataset
    cfg.AVA.EVAL_PLOTS = False
    kf904 = keyframe(904, [{1: 0.95}, {}])  # a key absent from the ground-truth file
    results = {}
    for rule in ("false-positive", "ignore"):
        cfg.AVA.EVAL_KEYS_ABSENT_FROM_GROUNDTRUTH = rule
        ev = AVAEvaluator(cfg, name, output_dir=str(tmp / rule), distributed=False)
        ev.reset()
        ev.process([KF902[0], KF903[0], kf904[0]], [KF902[1], KF903[1], kf904[1]])
        results[rule] = ev.evaluate()["ava"]
        saved = json.loads((tmp / rule / "ava_eval.json").read_text())[
            "keys_absent_from_groundtruth"
        ]
        # 904 has two rows per class column kept (boxes A and B, classes 1 and 3 = 4 rows)
        assert saved["rule"] == rule and saved["keys"] == 1 and saved["detection_rows"] == 4
    # false-positive: class 1 ranks 0.95 FP (904), 0.9 TP, 0.7 TP, ...: precision 0, 1/2, 2/3 at
    # recall 0, 1/2, 1; the envelope is 2/3 up to recall 1 -> AP 2/3. Class 3 gets two more FPs
    # at 904 scored 0 (ranked after every other detection: AP unchanged 1/2).
    assert results["false-positive"]["AP/1 bend"] == pytest.approx(2 / 3)
    assert results["false-positive"][FRAME_MAP_KEY] == pytest.approx((2 / 3 + 0.5) / 2)
    assert results["ignore"]["AP/1 bend"] == pytest.approx(1.0)
    assert results["ignore"][FRAME_MAP_KEY] == pytest.approx(0.75)
    cfg.AVA.EVAL_KEYS_ABSENT_FROM_GROUNDTRUTH = "drop"
    with pytest.raises(ValueError, match="EVAL_KEYS_ABSENT_FROM_GROUNDTRUTH"):
        AVAEvaluator(cfg, name)


def test_evaluator_without_output_dir_and_duplicates(dataset, caplog):
    name, _ = dataset
    ev = AVAEvaluator(name, output_dir=None, distributed=False)
    ev.reset()
    ev.process([KF902[0], KF903[0], KF902[0]], [KF902[1], KF903[1], KF902[1]])
    with caplog.at_level(logging.WARNING):
        assert ev.evaluate()["ava"][FRAME_MAP_KEY] == pytest.approx(0.75)
    assert "1 keyframes were processed more than once" in caplog.text


def test_evaluator_rejects_bad_outputs(dataset):
    name, _ = dataset
    ev = AVAEvaluator(name, distributed=False)
    inp, out = keyframe(902, [{1: 0.5}, {1: float("nan")}])
    with pytest.raises(ValueError, match="keyframe v,0902: non-finite"):
        ev.process([inp], [out])
    inp, out = KF902
    out = {
        "instances": Instances(
            (H, W), pred_boxes=out["instances"].pred_boxes, scores=torch.zeros(2, 2)
        )
    }
    with pytest.raises(ValueError, match="label map needs action id 3"):
        ev.process([inp], [out])
    with pytest.raises(ValueError, match="capacity must be >= 0"):
        AVAEvaluator(name, capacity=-1)


def test_evaluator_without_groundtruth_writes_only_the_csv(dataset):
    name, tmp = dataset
    MetadataCatalog.get(name).__dict__["groundtruth_file"] = (
        None  # a dataset registered without ground truth
    )
    ev = AVAEvaluator(name, output_dir=str(tmp / "o"), distributed=False)
    ev.reset()
    ev.process([KF902[0]], [KF902[1]])
    assert ev.evaluate() == {}
    assert len((tmp / "o" / "ava_detections.csv").read_text().splitlines()) == 4


def test_trainer_evaluator_follows_the_config(dataset, cfg):
    from slowfast_det.engine.trainer import AVATrainer

    name, tmp = dataset
    cfg.AVA.EVAL_PLOTS = False
    cfg.AVA.EVAL_CAPACITY = 1
    cfg.AVA.EVAL_KEYS_ABSENT_FROM_GROUNDTRUTH = "ignore"
    kf904 = keyframe(904, [{1: 0.95}, {}])
    ev = AVATrainer.build_evaluator(cfg, name, output_folder=str(tmp / "t"))
    ev.reset()
    ev.process([KF902[0], kf904[0]], [KF902[1], kf904[1]])
    ev.evaluate()
    saved = json.loads((tmp / "t" / "ava_eval.json").read_text())
    assert saved["capacity"] == 1 and saved["keys_absent_from_groundtruth"]["rule"] == "ignore"


@pytest.mark.parametrize("capacity,rule", [(50, "false-positive"), (3, "ignore")])
def test_in_memory_metric_equals_rescoring_the_written_csv(tmp_path, capacity, rule):
    """The evaluator scores its predictions in memory; the detections CSV it writes, scored
    from the file (what tools/eval_ava.py does), gives the same mAP, APs and counts: random
    boxes in float64 (rounded in the file), tied float32 scores, sub-second keys, a key absent
    from the ground truth, a repeated keyframe."""
    rng = np.random.default_rng(0)
    ids = [1, 3, 5]
    lm = write_labelmap(tmp_path / "lm.pbtxt", ids, {1: "a", 3: "b", 5: "c"})
    # v3: not in the ground truth
    keys = [("v1", 902), ("v1", 902.5), ("v1", 903), ("v2", 902), ("v3", 905)]
    gt_rows, people = [], {}
    for vid, ts in keys[:4]:
        for p in range(3):
            x, y = rng.uniform(0, 0.5, 2)
            people.setdefault((vid, ts), []).append([x * W, y * H, (x + 0.4) * W, (y + 0.45) * H])
            text = f"{ts:06.1f}" if ts % 1 else f"{ts:04d}"
            gt_rows.append(gt_row(vid, text, (x, y, x + 0.4, y + 0.45), int(rng.choice(ids)), p))
    gt = write_csv(tmp_path / "gt.csv", gt_rows)
    name = f"_mem_eval_{capacity}"
    names = {1: "a", 3: "b", 5: "c"}
    MetadataCatalog.get(name).set(
        evaluator_type="ava",
        label_map_file=lm,
        groundtruth_file=gt,
        excluded_timestamps_file=None,
        action_names=names,
        evaluated_ids=ids,
    )
    try:
        ev = AVAEvaluator(
            name,
            output_dir=str(tmp_path / "out"),
            capacity=capacity,
            plots=False,
            distributed=False,
            keys_absent_from_groundtruth=rule,
        )
        ev.reset()
        for vid, ts in keys + keys[:1]:
            r = 4
            inst = Instances((H, W))
            xy = rng.uniform(0, 0.6, (r, 2)) * [W, H]
            boxes = np.concatenate([xy, xy + rng.uniform(0.05, 0.4, (r, 2)) * [W, H]], axis=1)
            if (vid, ts) in people:  # two boxes near people: IoU about 0.5 to 1
                boxes[:2] = np.asarray(people[vid, ts])[:2] + rng.uniform(-3, 3, (2, 4))
            inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
            scores = rng.choice([0.1, 0.25, 0.5, 0.75], (r, 6)) + rng.uniform(0, 1e-7, (r, 6))
            inst.scores = torch.tensor(scores, dtype=torch.float32)
            inst.scores[:, 2] = 0.5  # ties across keyframes and boxes
            inp = {"video_id": vid, "timestamp": ts, "height": H, "width": W}
            ev.process([inp], [{"instances": inst}])
        res = ev.evaluate()["ava"]
        saved = json.loads((tmp_path / "out" / "ava_eval.json").read_text())
    finally:
        MetadataCatalog.remove(name)
    csv = str(tmp_path / "out" / "ava_detections.csv")
    again, _ = evaluate_files(lm, gt, csv, capacity=capacity, keys_absent_from_groundtruth=rule)
    assert res[FRAME_MAP_KEY] == again.mAP and 0 < again.mAP < 1
    assert saved == json.loads(json.dumps(again.to_json_dict(names)))
    assert saved["counts"]["det_rows_unknown_video"] == min(capacity, 4 * 3)
    assert saved["counts"]["det_rows"] == 5 * 4 * 3
