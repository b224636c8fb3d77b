"""ClassificationEvaluator on fake model outputs (no model, no videos): the metrics of the
worked examples of test_classification_metrics.py, the predictions CSV and JSON, and the
combination over processes (each video once; a duplicate is an error), also with two real
gloo processes."""

import csv
import datetime
import json
import logging
import os
import sys

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog

from slowfast_det.evaluation import ClassificationEvaluator
from slowfast_det.evaluation.classification import (
    PREDICTIONS_CSV,
    RESULTS_JSON,
    merge_video_results,
)

# the single-label worked example (6 videos, 6 classes) of test_classification_metrics.py
SCORES = [
    [0.50, 0.20, 0.10, 0.10, 0.05, 0.05],
    [0.40, 0.30, 0.10, 0.10, 0.05, 0.05],
    [0.05, 0.10, 0.15, 0.20, 0.25, 0.25],
    [0.30, 0.25, 0.20, 0.15, 0.10, 0.00],
    [0.10, 0.60, 0.10, 0.10, 0.05, 0.05],
    [0.40, 0.10, 0.10, 0.10, 0.10, 0.20],
]
LABELS = [0, 1, 2, 5, 1, 5]
NAMES = ["run", "jump", "wave, fast", "clap", "sit", "kick"]
EXPECTED = {"top1": 2 / 6, "top5": 5 / 6, "mean_class_accuracy": 0.375}


def register(name, num_videos, multi_label=False, names=NAMES):
    DatasetCatalog.register(name, lambda: [{"video_id": f"v{i}"} for i in range(num_videos)])
    MetadataCatalog.get(name).set(class_names=names, multi_label=multi_label)


def unregister(name):
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


@pytest.fixture
def dataset(request):
    name = f"cls_eval_test_{request.node.name}"
    register(name, 7)  # one video more than evaluated: reported missing
    yield name
    unregister(name)


def video(i, scores=SCORES, labels=LABELS, key="label"):
    inp = {"video_id": f"v{i}", "video_index": i, key: labels[i]}
    return inp, {"scores": torch.tensor(scores[i], dtype=torch.float32)}


def feed(evaluator, indices, **kw):
    for i in indices:
        inp, out = video(i, **kw)
        evaluator.process([inp], [out])


def test_single_label_metrics_files_and_missing_videos(dataset, tmp_path, caplog):
    ev = ClassificationEvaluator(dataset, num_classes=6, output_dir=str(tmp_path))
    ev.reset()
    feed(ev, [3, 0, 5, 1, 4, 2])  # any order
    with caplog.at_level(logging.INFO):
        res = ev.evaluate()
    assert list(res) == ["classification"]
    assert res["classification"] == pytest.approx(EXPECTED)
    assert "6 of its 7 videos were evaluated (1 missing" in caplog.text
    assert "kick -> run: 2 of 2" in caplog.text  # most confused, logged

    rows = list(csv.reader(open(tmp_path / PREDICTIONS_CSV)))
    assert rows[0][:5] == ["video_id", "labels", "top1", "top1_name", "top1_score"]
    assert len(rows[0]) == 2 + 3 * 5 and len(rows) == 7
    assert [r[0] for r in rows[1:]] == [f"v{i}" for i in range(6)]  # by video index
    assert rows[3][:8] == ["v2", "2", "4", "sit", "0.25", "5", "kick", "0.25"]  # tie: index
    assert rows[1][2:5] == ["0", "run", "0.5"]
    assert float(rows[1][4]) == np.float32(0.5)

    report = json.load(open(tmp_path / RESULTS_JSON))
    assert report["metrics"] == pytest.approx(EXPECTED)
    assert report["num_videos"] == 6 and report["multi_label"] is False
    assert report["per_class"]["1"] == {"name": "jump", "videos": 2, "accuracy": 0.5}
    assert report["per_class"]["3"] == {"name": "clap", "videos": 0, "accuracy": None}
    assert report["most_confused"][0] == {
        "true": 5,
        "true_name": "kick",
        "predicted": 0,
        "predicted_name": "run",
        "count": 2,
        "fraction_of_true": 1.0,
    }
    assert [(p["true"], p["predicted"]) for p in report["most_confused"]] == [
        (5, 0),
        (1, 0),
        (2, 4),
    ]


def test_multi_label_map(tmp_path):
    name = "cls_eval_test_multi"
    register(name, 4, multi_label=True, names=["a", "b", "c"])
    try:
        scores = [[0.9, 0.7, 0.3], [0.5, 0.3, 0.9], [0.5, 0.6, 0.1], [0.1, 0.4, 0.5]]
        labels = [[0], [1, 0], [], torch.tensor([1])]  # lists, an int tensor, empty
        ev = ClassificationEvaluator(name, num_classes=3, output_dir=str(tmp_path))
        feed(ev, range(4), scores=scores, labels=labels, key="labels")
        res = ev.evaluate()
        assert res == {"classification": {"mAP": pytest.approx(0.625)}}  # (5/6 + 5/12) / 2
        report = json.load(open(tmp_path / RESULTS_JSON))
        assert report["per_class"]["2"] == {"name": "c", "positives": 0, "AP": None}
        assert report["classes_without_positives"] == 1 and "most_confused" not in report
        rows = list(csv.reader(open(tmp_path / PREDICTIONS_CSV)))
        assert [r[1] for r in rows[1:]] == ["0", "0 1", "", "1"]
        assert len(rows[0]) == 2 + 3 * 3  # top-k capped at K
        # a multi-hot tensor is the same ground truth
        ev.reset()
        multi_hot = [
            torch.tensor([float(c in set(torch.as_tensor(x).tolist())) for c in range(3)])
            for x in labels
        ]
        feed(ev, range(4), scores=scores, labels=multi_hot, key="labels")
        assert ev.evaluate()["classification"]["mAP"] == pytest.approx(0.625)
    finally:
        unregister(name)


def test_bad_outputs_and_inputs_name_the_video(dataset):
    ev = ClassificationEvaluator(dataset, num_classes=6)
    with pytest.raises(ValueError, match=r"video 'v9': scores must be \(6,\)"):
        ev.process([{"video_id": "v9", "video_index": 9, "label": 0}], [{"scores": torch.ones(5)}])
    with pytest.raises(ValueError, match="video 'v9': non-finite scores"):
        bad = torch.tensor([0.1, float("nan"), 0, 0, 0, 0])
        ev.process([{"video_id": "v9", "video_index": 9, "label": 0}], [{"scores": bad}])
    with pytest.raises(ValueError, match="video 'v9': label 6 outside 0..5"):
        ev.process([{"video_id": "v9", "video_index": 9, "label": 6}], [{"scores": torch.ones(6)}])
    with pytest.raises(ValueError, match="is labelled with 'label'"):
        ev.process(
            [{"video_id": "v9", "video_index": 9, "labels": [1]}], [{"scores": torch.ones(6)}]
        )
    with pytest.raises(KeyError, match="no ground truth"):
        ev.process([{"video_id": "v9", "video_index": 9}], [{"scores": torch.ones(6)}])


def test_processes_combine_and_a_duplicate_is_an_error(dataset, monkeypatch):
    """Rank 0 of 2 gathers both ranks' videos (comm.gather replaced by the two lists):
    exactly the one-process result; a video on both ranks (or twice on one) is an error."""
    from detectron2.utils import comm

    single = ClassificationEvaluator(dataset, num_classes=6, distributed=False)
    feed(single, range(6))
    want = single.evaluate()

    ranks = [ClassificationEvaluator(dataset, num_classes=6) for _ in range(2)]
    feed(ranks[0], [0, 2, 4])
    feed(ranks[1], [5, 3, 1])
    monkeypatch.setattr(comm, "synchronize", lambda: None)
    monkeypatch.setattr(comm, "gather", lambda data, dst=0: [r._videos for r in ranks])
    assert ranks[0].evaluate() == want
    feed(ranks[1], [2])  # video 2 on both ranks
    with pytest.raises(
        ValueError, match=r"video 'v2' \(index 2\) was evaluated twice \(processes 0 and 1\)"
    ):
        ranks[0].evaluate()
    with pytest.raises(ValueError, match="evaluated twice"):
        merge_video_results([single._videos + single._videos[:1]])


def _two_rank_worker(out_dir):
    from detectron2.utils import comm

    rank = comm.get_rank()
    name = "cls_eval_two_ranks"
    register(name, 6)
    ev = ClassificationEvaluator(name, num_classes=6, output_dir=out_dir)
    feed(ev, [i for i in range(6) if i % 2 == rank])  # as InferenceSampler: disjoint shards
    res = ev.evaluate()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(res, f)
    comm.synchronize()
    torch.distributed.destroy_process_group()
    sys.stderr.flush()
    os._exit(0)  # no interpreter teardown (gloo at exit: see tests/engine/test_nonfinite.py)


def test_two_gloo_processes_give_the_one_process_result(tmp_path):
    from detectron2.engine import launch

    launch(
        _two_rank_worker,
        2,
        dist_url="auto",
        args=(str(tmp_path),),
        timeout=datetime.timedelta(seconds=60),
    )
    assert json.load(open(tmp_path / "rank0.json"))["classification"] == pytest.approx(EXPECTED)
    assert json.load(open(tmp_path / "rank1.json")) == {}
    assert len(list(csv.reader(open(tmp_path / PREDICTIONS_CSV)))) == 7  # every video once


def test_from_config(dataset, cfg, tmp_path):
    cfg.MODEL.VIDEO_HEAD.NUM_CLASSES = 6
    ev = ClassificationEvaluator(cfg, dataset, output_dir=str(tmp_path))
    feed(ev, range(6))
    assert ev.evaluate()["classification"] == pytest.approx(EXPECTED)
