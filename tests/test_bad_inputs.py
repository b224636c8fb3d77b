"""The bad-input suite: every kind of bad input through the public entry points (the trainer,
the test loader + evaluator, ``tools/train_ava.py``'s config set-up, ``tools/eval_ava.py``,
the checkpointer).

Each case either fails with a clear error naming the file, line and field (and leaves the
outputs of an earlier run in OUTPUT_DIR byte for byte intact), or recovers in a logged,
counted way and the run's outputs are complete. The unit-level behaviour of each reader
is tested in tests/ava, tests/data and tests/evaluation; here the whole path is exercised.
"""

import hashlib
import json
import logging
import os
import pickle
import shutil

import pytest
import torch
from script_modules import load_tool  # tests/helpers (pytest.ini)
from tiny_ava_run import (
    TRAIN_GT,
    VAL_PRED,
    make_tiny_ava,
    one_torch_thread,
    tiny_cfg,
)  # tests/helpers (pytest.ini)

from slowfast_det.ava.io import AVAFormatError

TRAIN, VAL = "_bad_train", "_bad_val"


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


def _register(root):
    from slowfast_det.data import datasets

    datasets.register_ava_dataset(TRAIN, root, "train")
    datasets.register_ava_dataset(VAL, root, "val")


def _unregister():
    from slowfast_det.data import datasets

    for name in (TRAIN, VAL):
        datasets.unregister_ava_dataset(name)


def _cfg(out, **overrides):
    # 3 iterations of 2 clips = one epoch of the 6 training keyframes: every clip is loaded
    values = {"SOLVER.MAX_ITER": 3, "SOLVER.CHECKPOINT_PERIOD": 3}
    values.update(overrides)
    return tiny_cfg(out, train=TRAIN, test=VAL, **values)


def _train(cfg):
    """Train with the AVATrainer (no evaluation hook); returns the trainer."""
    from slowfast_det.engine.trainer import AVATrainer

    cfg = cfg.clone()
    cfg.DATASETS.TEST = ()
    trainer = AVATrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return trainer


def _evaluate(cfg, weights, output_hook=None):
    """Evaluate ``weights`` on VAL as DefaultTrainer.test does; returns (results, test loader)."""
    from detectron2.evaluation import inference_on_dataset

    from slowfast_det.engine.trainer import AVATrainer, write_final_metrics

    model = AVATrainer.build_model(cfg)
    if output_hook is not None:
        model.register_forward_hook(output_hook)
    AVATrainer.build_checkpointer(cfg, model).load(str(weights))
    loader = AVATrainer.build_test_loader(cfg, VAL)
    evaluator = AVATrainer.build_evaluator(cfg, VAL)
    results = inference_on_dataset(model, loader, evaluator)
    write_final_metrics(cfg, {VAL: results})
    return results, loader


def _snapshot(folder):
    out = {}
    for d, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


class _Records(logging.Handler):
    """Collects the records of one logger (independent of propagation settings)."""

    def __init__(self, name):
        super().__init__(logging.DEBUG)
        self.logger, self.records = logging.getLogger(name), []

    def emit(self, record):
        self.records.append(record.getMessage())

    def __enter__(self):
        self.logger.addHandler(self)
        self._level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A pristine tiny AVA folder and the outputs of a complete run on it (train + evaluate)."""
    tmp = tmp_path_factory.mktemp("bad_inputs")
    root = make_tiny_ava(tmp / "pristine")
    _register(root)
    try:
        cfg = _cfg(tmp / "outputs")
        _train(cfg)
        results, _ = _evaluate(cfg, tmp / "outputs" / "model_final.pth")
    finally:
        _unregister()
    assert 0.0 < results["ava"]["frame-mAP@0.5IOU"] <= 1.0
    return root, tmp / "outputs", results


@pytest.fixture
def ava(baseline, tmp_path):
    """A copy of the tiny folder (to corrupt), registered as TRAIN / VAL, and an OUTPUT_DIR
    holding a copy of the baseline run's outputs."""
    root = str(tmp_path / "ava")
    shutil.copytree(baseline[0], root)
    out = tmp_path / "out"
    shutil.copytree(baseline[1], out)
    _register(root)
    yield root, out
    _unregister()


def _annotation(root, name):
    return os.path.join(root, "annotations", name)


def _frame(root, vid, i):
    return os.path.join(root, "frames", vid, f"{vid}_{i + 1:06d}.jpg")


# ------------------------------------------------------------- clear errors, outputs intact


def _gt_with(line_no, text):
    """TRAIN_GT with line ``line_no`` (1-based) replaced by ``text``."""
    lines = TRAIN_GT.splitlines()
    lines[line_no - 1] = text
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "gt,num_classes,match",
    [
        (
            _gt_with(3, "vidA,0902,0.30,0.10,0.80,0.80,2,0,7"),
            5,
            r"ava_train_v2.2.csv:3: expected 2 or 8 comma-separated fields",
        ),
        (
            _gt_with(4, "vidA,0903,0.05,abc,0.45,0.95,5,0"),
            5,
            r"ava_train_v2.2.csv:4: field 'y1' not a number: 'abc'",
        ),
        (
            _gt_with(5, "vidB,0901,0.50,0.20,0.95,0.90,0,0"),
            80,
            r"ava_train_v2.2.csv:5: field 'action_id' action id 0 outside 1..80",
        ),
        (
            _gt_with(5, "vidB,0901,0.50,0.20,0.95,0.90,81,0"),
            80,
            r"ava_train_v2.2.csv:5: field 'action_id' action id 81 outside 1..80",
        ),
        (
            _gt_with(2, "../../etc,0901,0.10,0.20,0.50,0.90,3,0"),
            5,
            r"ava_train_v2.2.csv:2: field 'video_id' unsafe",
        ),
    ],
    ids=[
        "wrong-column-count",
        "non-numeric-box",
        "label-id-0",
        "label-id-81",
        "path-escape-video-id",
    ],
)
def test_bad_training_csv_is_an_error_and_outputs_stay(ava, gt, num_classes, match):
    from slowfast_det.engine.trainer import AVATrainer

    root, out = ava
    with open(_annotation(root, "ava_train_v2.2.csv"), "w") as f:
        f.write(gt)
    before = _snapshot(out)
    with pytest.raises(AVAFormatError, match=match):
        AVATrainer(_cfg(out, **{"MODEL.ROI_HEADS.NUM_CLASSES": num_classes}))
    assert _snapshot(out) == before


@pytest.mark.parametrize(
    "where,match",
    [
        ("predicted_boxes", r"ava_val_predicted_boxes.csv:3: field 'video_id' unsafe"),
        ("frame_list", r"val.csv:2: field 'path' .*(escape|unsafe|\.\.)"),
    ],
)
def test_path_escape_in_test_inputs_is_an_error_and_outputs_stay(ava, where, match):
    root, out = ava
    if where == "predicted_boxes":
        lines = VAL_PRED.splitlines()
        lines[2] = lines[2].replace("vidA", "/etc/passwd")
        with open(_annotation(root, "ava_val_predicted_boxes.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")
    else:
        fl = os.path.join(root, "frame_lists", "val.csv")
        lines = open(fl).read().splitlines()
        lines[1] = 'vidA 0 0 ../../../etc/passwd ""'
        with open(fl, "w") as f:
            f.write("\n".join(lines) + "\n")
    before = _snapshot(out)
    with pytest.raises(AVAFormatError, match=match):
        _evaluate(_cfg(out), out / "model_final.pth")
    assert _snapshot(out) == before


def test_misspelled_config_key_is_an_error(ava, tmp_path):
    from detectron2.engine import default_argument_parser

    train_ava = load_tool("train_ava")

    _, out = ava
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(_cfg(out).dump())
    before = _snapshot(out)
    args = default_argument_parser().parse_args(
        ["--config-file", str(cfg_file), "SOLVER.MAX_ITR", "5"]
    )
    with pytest.raises(
        (KeyError, AssertionError), match=r"Non-existent key: SOLVER.MAX_ITR"
    ):  # yacs' wording
        train_ava.setup(args)
    cfg_file.write_text(cfg_file.read_text().replace("  BASE_LR:", "  BASE_LRR:"))
    args = default_argument_parser().parse_args(["--config-file", str(cfg_file)])
    with pytest.raises(KeyError, match=r"Non-existent config key: SOLVER.BASE_LRR"):
        train_ava.setup(args)
    assert _snapshot(out) == before


def test_nan_scores_in_a_detections_file_fail_and_keep_the_earlier_results(ava, tmp_path, capsys):
    eval_ava = load_tool("eval_ava")

    root, _ = ava
    det = tmp_path / "det.csv"
    det.write_text("vidA,0901,0.1,0.2,0.5,0.9,1,0.9\nvidA,0902,0.3,0.1,0.8,0.8,2,0.8\n")
    res = tmp_path / "res" / "eval.json"
    argv = [
        "-l",
        _annotation(root, "ava_action_list_v2.2_for_activitynet_2019.pbtxt"),
        "-g",
        _annotation(root, "ava_val_v2.2.csv"),
        "-d",
        str(det),
        "--json",
        str(res),
    ]
    assert eval_ava.main(argv) == 0
    before = _snapshot(res.parent)
    det.write_text("vidA,0901,0.1,0.2,0.5,0.9,1,0.9\nvidA,0902,0.3,0.1,0.8,0.8,2,nan\n")
    assert eval_ava.main(argv) == 1
    assert "det.csv:2: field 'score' not a finite number: 'nan'" in capsys.readouterr().err
    assert _snapshot(res.parent) == before


def test_nan_scores_from_the_model_fail_the_evaluation_and_keep_the_earlier_results(ava):
    _, out = ava
    before = _snapshot(out)

    def nan_scores(module, inputs, outputs):
        for o in outputs:
            o["instances"].scores = o["instances"].scores * float("nan")

    with pytest.raises(
        ValueError, match=r"keyframe vid[AB],09\d\d: non-finite boxes or scores in the model output"
    ):
        _evaluate(_cfg(out), out / "model_final.pth", output_hook=nan_scores)
    assert _snapshot(out) == before


def test_crafted_checkpoint_is_refused_without_running_code(ava, tmp_path):
    from slowfast_det.engine.trainer import AVATrainer

    _, out = ava
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "weights.pth"
    with open(bad, "wb") as f:
        pickle.dump({"model": Exploit()}, f)
    cfg = _cfg(out)
    model = AVATrainer.build_model(cfg)
    with pytest.raises(
        pickle.UnpicklingError,
        match=r"weights.pth: refused or failed to load with torch.load\(weights_only=True\)",
    ):
        AVATrainer.build_checkpointer(cfg, model).load(str(bad))
    assert not marker.exists()


# ------------------------------------------------------------- counted recoveries, outputs complete


def _assert_complete(out, results):
    metrics = json.loads((out / "final_metrics.json").read_text())
    assert metrics["frame-mAP@0.5IOU"] == results["ava"]["frame-mAP@0.5IOU"]
    evaluation = json.loads((out / "inference" / VAL / "ava_eval.json").read_text())
    assert evaluation["mAP"] == results["ava"]["frame-mAP@0.5IOU"]
    assert torch.load(out / "model_final.pth", weights_only=True)["iteration"] == 2
    return evaluation


@pytest.mark.parametrize("damage", ["truncated-jpeg", "zero-byte-frame"])
def test_unreadable_frames_are_replaced_and_counted(ava, damage):
    root, out = ava
    # frame 60 is the keyframe of second 902 and in the clips of 902 (train and val) of both videos
    for vid in ("vidA", "vidB"):
        path = _frame(root, vid, 60)
        data = open(path, "rb").read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2] if damage == "truncated-jpeg" else b"")
    cfg = _cfg(out)
    trainer = _train(cfg)
    assert trainer.data_loader.issue_tracker.total["missing_frames"] == 2  # one per 902 clip
    results, loader = _evaluate(cfg, out / "model_final.pth")
    # val 902 keyframes: vidA and vidB; the keyframe itself is unreadable, the clip is kept
    assert (
        loader.issue_tracker.total["missing_frames"] == 2
        and loader.issue_tracker.total["skipped_clips"] == 0
    )
    evaluation = _assert_complete(out, results)
    assert evaluation["counts"].get("gt_keys_without_detections", 0) == 0


def test_missing_video_folder_is_skipped_and_counted(ava):
    root, out = ava
    shutil.rmtree(os.path.join(root, "frames", "vidB"))
    cfg = _cfg(out)
    trainer = _train(cfg)
    train_issues = trainer.data_loader.issue_tracker.total
    assert train_issues["skipped_clips"] >= 3  # the vidB clips, each replaced by another keyframe
    assert trainer.data_loader.issue_tracker.samples_total == 6  # still 3 full batches of 2
    results, loader = _evaluate(cfg, out / "model_final.pth")
    assert loader.issue_tracker.total["skipped_clips"] == 3  # vidB 0901, 0902, 0903
    evaluation = _assert_complete(out, results)
    assert evaluation["counts"]["gt_keys_without_detections"] == 3  # scored as misses
    rows = (out / "inference" / VAL / "ava_detections.csv").read_text().splitlines()
    assert rows and not any(r.startswith("vidB,") for r in rows)


def test_keyframe_outside_the_video_is_skipped_and_counted(ava):
    root, out = ava
    with open(_annotation(root, "ava_train_v2.2.csv"), "a") as f:
        f.write("vidA,0950,0.10,0.20,0.50,0.90,1,0\n")  # frame 1500 of a 100-frame video
    from detectron2.data import DatasetCatalog

    with _Records("slowfast_det.data.ava_dicts") as log:
        _train(_cfg(out))
    assert any("1 x keyframes_outside_video" in m and "vidA,0950" in m for m in log.records), (
        log.records
    )
    keys = [d["image_id"] for d in DatasetCatalog.get(TRAIN)]
    assert len(keys) == 6 and "vidA,0950" not in keys  # the 6 good keyframes; training ran
    assert torch.load(out / "model_final.pth", weights_only=True)["iteration"] == 2


def test_empty_predicted_box_file_gives_zero_map_and_complete_outputs(ava):
    root, out = ava
    open(_annotation(root, "ava_val_predicted_boxes.csv"), "w").close()
    cfg = _cfg(out)
    results, loader = _evaluate(cfg, out / "model_final.pth")
    assert results["ava"]["frame-mAP@0.5IOU"] == 0.0
    assert loader.issue_tracker.samples_total == 5  # every ground-truth keyframe, with no box
    evaluation = json.loads((out / "inference" / VAL / "ava_eval.json").read_text())
    assert evaluation["mAP"] == 0.0 and evaluation["counts"]["gt_keys_without_detections"] == 5
    assert (out / "inference" / VAL / "ava_detections.csv").read_text() == ""
    assert json.loads((out / "final_metrics.json").read_text())["frame-mAP@0.5IOU"] == 0.0
