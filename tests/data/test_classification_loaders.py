"""Classification loaders end to end on tiny movie lists encoded here: registration -> train
loader -> test loader, unreadable videos counted (replaced in training, left out in testing),
the class-count check."""

import logging

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from movie_helpers import write_movie

from slowfast_det.data import (
    build_classification_test_loader,
    build_classification_train_loader,
    check_video_num_classes,
    register_video_list,
    unregister_video_dataset,
)


@pytest.fixture
def movie_list(tmp_path):
    """A pyslowfast list of a 25 fps and a 30 fps movie and a file that is not a movie."""
    write_movie(tmp_path / "a.mp4", 25, 50, width=96, height=64)
    write_movie(tmp_path / "b.mp4", 30, 45, width=64, height=96)
    (tmp_path / "junk.mp4").write_bytes(b"not a movie")
    names = []

    def make(lines, name="_tcl"):
        path = tmp_path / f"{name}.csv"
        path.write_text("".join(f"{line}\n" for line in lines))
        register_video_list(name, str(path), str(tmp_path), fmt="pyslowfast")
        names.append(name)
        return name

    yield make
    for n in names:
        unregister_video_dataset(n)


def _cfg(cfg, name, num_classes=2):
    cfg.DATASETS.TRAIN, cfg.DATASETS.TEST = (name,), (name,)
    cfg.MODEL.VIDEO_HEAD.NUM_CLASSES = num_classes
    cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE = 4, 4
    cfg.INPUT.TRAIN_JITTER_SCALES, cfg.INPUT.TRAIN_CROP_SIZE = [40, 48], 32
    cfg.INPUT.TEST_SIZE = 32
    cfg.TEST.NUM_TEMPORAL_CLIPS, cfg.TEST.NUM_SPATIAL_CROPS = 2, 3
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SEED = 5
    return cfg


def test_registration_train_and_test_loaders_end_to_end(movie_list, cfg):
    name = movie_list(["a.mp4 0", "b.mp4 1"])
    meta = MetadataCatalog.get(name)
    assert meta.class_names == ["0", "1"] and meta.multi_label is False
    dicts = DatasetCatalog.get(name)
    assert [(d["video_id"], d["label"], d["line"]) for d in dicts] == [
        ("a.mp4", 0, 1),
        ("b.mp4", 1, 2),
    ]
    cfg = _cfg(cfg, name)
    train = build_classification_train_loader(cfg)
    assert train.iters_per_epoch == 1
    it = iter(train)
    seen = set()
    for _ in range(3):
        batch = next(it)
        assert len(batch) == 2
        for x in batch:
            assert x["clip"].shape == (3, 4, 32, 32) and str(x["clip"].dtype) == "torch.uint8"
            assert x["label"] == {"a.mp4": 0, "b.mp4": 1}[x["video_id"]]
            seen.add(x["video_id"])
    assert seen == {"a.mp4", "b.mp4"}
    assert not any(train.issue_tracker.epoch.values())

    test = build_classification_test_loader(cfg, name)
    out = [x for batch in test for x in batch]
    assert [(x["video_id"], x["video_index"], x["label"]) for x in out] == [
        ("a.mp4", 0, 0),
        ("b.mp4", 1, 1),
    ]
    assert all(x["clips"].shape == (6, 3, 4, 32, 32) for x in out)


def test_unreadable_video_replaced_in_training_and_left_out_in_testing(movie_list, cfg, caplog):
    name = movie_list(["junk.mp4 1", "a.mp4 0", "missing.mp4 1", "b.mp4 1"])
    cfg = _cfg(cfg, name)
    train = build_classification_train_loader(cfg)
    it = iter(train)
    ids = [x["video_id"] for _ in range(4) for x in next(it)]
    assert len(ids) == 8 and set(ids) <= {"a.mp4", "b.mp4"}
    counts = train.issue_tracker.end_epoch(log=False)
    assert counts["unreadable_videos"] >= 1 and set(counts) == {"unreadable_videos"}

    with caplog.at_level(logging.WARNING):
        test = build_classification_test_loader(cfg, name)
        out = [x for batch in test for x in batch]
    assert [(x["video_id"], x["video_index"]) for x in out] == [("a.mp4", 1), ("b.mp4", 3)]
    assert test.issue_tracker.total == {"unreadable_videos": 2}
    assert "2 videos that give no frame" in caplog.text  # the pass summary


def test_training_gives_up_with_a_clear_error_when_no_video_is_readable(movie_list, cfg):
    name = movie_list(["junk.mp4 0", "missing.mp4 1"])
    loader = build_classification_train_loader(_cfg(cfg, name))
    with pytest.raises(RuntimeError, match="training samples in a row were skipped"):
        next(iter(loader))


def test_class_count_and_head_checked_before_the_model(movie_list, cfg):
    name = movie_list(["a.mp4 0", "b.mp4 2"])
    cfg = _cfg(cfg, name, num_classes=400)
    with pytest.raises(ValueError, match="set MODEL.VIDEO_HEAD.NUM_CLASSES 3"):
        check_video_num_classes(cfg)
    with pytest.raises(ValueError, match="NUM_CLASSES 3"):
        build_classification_train_loader(cfg)
    cfg.MODEL.VIDEO_HEAD.NUM_CLASSES = 3
    check_video_num_classes(cfg)
    cfg.MODEL.VIDEO_HEAD.ACT = "sigmoid"
    with pytest.raises(ValueError, match="single-label .* set MODEL.VIDEO_HEAD.ACT 'softmax'"):
        check_video_num_classes(cfg)
    cfg.DATASETS.TEST = ("_not_registered",)
    cfg.MODEL.VIDEO_HEAD.ACT = "softmax"
    with pytest.raises(ValueError, match="'_not_registered' is not registered"):
        check_video_num_classes(cfg)


def test_loaders_with_a_worker_process_and_the_epoch_hook(movie_list, cfg):
    from detectron2.utils.events import EventStorage

    from slowfast_det.data import DataIssuesHook

    name = movie_list(["a.mp4 0", "junk.mp4 1", "b.mp4 1"])
    cfg = _cfg(cfg, name)
    cfg.DATALOADER.NUM_WORKERS = 1
    train = build_classification_train_loader(cfg)
    hook = DataIssuesHook.from_loader(train)
    assert hook.iters_per_epoch == 2
    it = iter(train)
    with EventStorage() as storage:
        hook.trainer = type("T", (), {"iter": 0, "storage": storage})()
        for step in range(2):
            hook.trainer.iter = step
            assert {x["video_id"] for x in next(it)} <= {"a.mp4", "b.mp4"}
            hook.after_step()
        assert storage.history("data/unreadable_videos").latest() >= 1
    test = build_classification_test_loader(cfg, name)
    assert [x["video_index"] for batch in test for x in batch] == [0, 2]
    assert test.issue_tracker.total == {"unreadable_videos": 1}
