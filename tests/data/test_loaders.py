import logging
import os
from types import SimpleNamespace

import pytest
import torch
from ava_tiny import frame_path
from detectron2.data import DatasetCatalog
from detectron2.utils.events import EventStorage

from slowfast_det.data.build import build_ava_test_loader, build_ava_train_loader
from slowfast_det.data.issues import (
    SKIPPED_KEY,
    DataIssuesHook,
    DataIssueTracker,
    IssueTrackingLoader,
    mapper_copy,
)


def test_a_mapper_copy_counts_its_own_issues(cfg):
    from slowfast_det.data.mapper import AVADatasetMapper

    mapper = AVADatasetMapper(cfg, is_train=True)
    mapper._skip({"image_id": "v,0902"}, "skipped_clips", "test")
    copy = mapper_copy(mapper)
    copy._skip({"image_id": "v,0903"}, "skipped_clips", "test")
    copy._skip({"image_id": "v,0904"}, "skipped_clips", "test")
    assert copy.take_issues() == {"skipped_clips": 2}
    assert mapper.take_issues() == {"skipped_clips": 1}
    assert copy.augmentations is mapper.augmentations


def test_tracker_and_wrapper_drop_skipped_and_empty_batches():
    batches = [
        [
            {"image_id": "a", "data_issues": {"missing_frames": 2}},
            {SKIPPED_KEY: "b", "data_issues": {"skipped_clips": 1}},
        ],
        [{SKIPPED_KEY: "c", "data_issues": {"skipped_clips": 1}}],
        [{"image_id": "d", "data_issues": {}}],
    ]
    loader = IssueTrackingLoader(batches, iters_per_epoch=3)
    got = list(loader)
    assert [[s["image_id"] for s in b] for b in got] == [["a"], ["d"]]
    t = loader.issue_tracker
    assert t.epoch == {"missing_frames": 2, "skipped_clips": 2} and t.samples_epoch == 2
    text = t.format(t.epoch, t.samples_epoch)
    assert "2 clip frames missing or unreadable" in text and "2 clips skipped" in text
    assert t.end_epoch(log=False) == {"missing_frames": 2, "skipped_clips": 2}
    assert not t.epoch and t.total["skipped_clips"] == 2 and t.epochs_done == 1


def test_hook_logs_each_epoch_and_writes_scalars(caplog):
    tracker = DataIssueTracker("train")
    hook = DataIssuesHook(tracker, iters_per_epoch=2)
    with EventStorage() as storage:
        hook.trainer = SimpleNamespace(iter=0, storage=storage)
        tracker.update([{"data_issues": {"missing_frames": 3}}])
        with caplog.at_level(logging.INFO, logger="slowfast_det.data.issues"):
            hook.after_step()  # iter 0: mid-epoch, nothing logged
            assert "epoch" not in caplog.text
            hook.trainer.iter = 1
            hook.after_step()
        assert "train epoch 1 data summary: 1 samples; 3 clip frames missing" in caplog.text
        assert storage.history("data/missing_frames").latest() == 3
        assert storage.history("data/skipped_clips").latest() == 0
        hook.trainer.iter = 3
        hook.after_step()
        assert storage.history("data/missing_frames").latest() == 0
        with caplog.at_level(logging.INFO, logger="slowfast_det.data.issues"):
            hook.after_train()
        assert "train data summary (all epochs): 1 samples; 3 clip frames" in caplog.text
    with pytest.raises(ValueError):
        DataIssuesHook(tracker, 0)


def _small_cfg(cfg, train, test):
    cfg.DATASETS.TRAIN, cfg.DATASETS.TEST = (train,), (test,)
    cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE = 4, 2
    cfg.INPUT.TRAIN_JITTER_SCALES, cfg.INPUT.TRAIN_CROP_SIZE, cfg.INPUT.TEST_SIZE = [40, 48], 32, 40
    cfg.MODEL.SLOWFAST.ALPHA = 2
    cfg.AVA.DETECTION_SCORE_THRESH = 0.5
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.DATALOADER.NUM_WORKERS = 0
    return cfg


@pytest.mark.parametrize("workers", [0, 1])
def test_test_loader_yields_every_keyframe_once_and_skips_unreadable(
    fresh_ava_root, registered, cfg, caplog, workers
):
    root = fresh_ava_root
    registered("_tl_train", root, "train")
    registered("_tl_val", root, "val")
    registered_loader = DatasetCatalog["_tl_val"]
    cfg = _small_cfg(cfg, "_tl_train", "_tl_val")
    cfg.AVA.TEST_BATCH_SIZE = 2
    cfg.DATALOADER.NUM_WORKERS = workers
    # vidA 903: every frame of its clip (and its keyframe) gone -> left out, counted
    for i in range(80, 100):
        os.remove(frame_path(root, "vidA", i))
    os.remove(frame_path(root, "vidA", 58))  # one frame of the vidA 902 clip: replaced, counted
    loader = build_ava_test_loader(cfg, "_tl_val")
    with caplog.at_level(logging.INFO):
        batches = list(loader)
    ids = [s["image_id"] for b in batches for s in b]
    assert sorted(ids) == ["vidA,0902", "vidB,0901"]  # vidA,0903 skipped; no duplicates
    s = batches[0][0]
    assert s["clip"].shape == (3, 4, 40, 53) and s["clip"].dtype == torch.uint8
    t = loader.issue_tracker
    assert t.total["skipped_clips"] == 1 and t.total["missing_frames"] == 1
    assert "test _tl_val epoch 1 data summary: 2 samples; " in caplog.text
    # the dataset is used exactly as registered (no re-registration from the config)
    assert DatasetCatalog["_tl_val"] is registered_loader


def test_train_loader_batches_and_epoch_length(ava_root, registered, cfg):
    registered("_tl2_train", ava_root, "train")
    registered("_tl2_val", ava_root, "val")
    cfg = _small_cfg(cfg, "_tl2_train", "_tl2_val")
    loader = build_ava_train_loader(cfg)
    # 3 keyframes in the train split, one without boxes (filtered): ceil(2 / 2)
    assert loader.iters_per_epoch == 1
    it = iter(loader)
    for _ in range(3):
        batch = next(it)
        assert len(batch) == 2
        for s in batch:
            assert s["clip"].shape == (3, 4, 32, 32) and s["clip"].dtype == torch.uint8
            assert s["instances"].gt_actions.dtype == torch.int64
    hook = DataIssuesHook.from_loader(loader)
    assert hook.iters_per_epoch == 1 and hook.tracker is loader.issue_tracker
    assert loader.issue_tracker.samples_epoch == 6
