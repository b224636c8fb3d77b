import logging
import os

import cv2
import numpy as np
import pytest
import torch
from ava_tiny import VIDEO_RED, H, W, frame_path, frame_value, make_ava_root
from detectron2.data import DatasetCatalog
from detectron2.data import transforms as T
from detectron2.data.common import DatasetFromList, MapDataset

from slowfast_det.data import mapper_clips
from slowfast_det.data import warp as warp_mod
from slowfast_det.data.mapper import AVADatasetMapper


def _unnorm(x):
    """The mapper's uint8 clip as float pixels (0-255)."""
    assert x.dtype == torch.uint8
    return x.float()


def _mapper(is_train, augs, **kw):
    kw.setdefault("num_frames", 8)
    kw.setdefault("sampling_rate", 2)
    kw.setdefault("detection_score_thresh", 0.8)
    return AVADatasetMapper(is_train, augmentations=augs, **kw)


def _mapper4(is_train, augs, **kw):
    return _mapper(is_train, augs, num_frames=4, **kw)


@pytest.fixture(scope="module")
def dicts(ava_root):
    from slowfast_det.data.datasets import register_ava_dataset

    out = {}
    for split in ("train", "val"):
        register_ava_dataset("_tm_" + split, ava_root, split)
        out[split] = {
            (d["video_id"], d["timestamp"]): d for d in DatasetCatalog.get("_tm_" + split)
        }
        DatasetCatalog.remove("_tm_" + split)
    return out


def test_test_output_uint8_clip_frames_and_boxes(dicts):
    d = dicts["val"][("vidA", 902)]
    m = _mapper(False, [T.ResizeShortestEdge(H, max_size=10_000)])
    out = m(d)
    clip = out["clip"]
    assert (
        isinstance(clip, torch.Tensor) and clip.shape == (3, 8, H, W) and clip.dtype == torch.uint8
    )
    assert "color_jitter" not in out
    # frames in time order, by the clip convention (blue = 2 * index), RGB order
    frames = list(range(52, 67, 2))
    blue = _unnorm(clip[2]).mean(dim=(1, 2))
    np.testing.assert_allclose(blue.numpy(), [frame_value(i) for i in frames], atol=2.5)
    assert abs(_unnorm(clip[0]).mean().item() - VIDEO_RED["vidA"]) < 2.5
    assert abs(_unnorm(clip[1]).mean().item() - 50) < 2.5
    # test boxes: predicted boxes with score >= 0.8, in clip pixels; original size reported
    inst = out["instances"]
    assert inst.image_size == (H, W) and (out["height"], out["width"]) == (H, W)
    np.testing.assert_allclose(
        inst.proposal_boxes.tensor.numpy(), [[0.1 * W, 0.2 * H, 0.5 * W, 0.9 * H]], rtol=1e-5
    )
    assert not inst.has("gt_actions") and not inst.has("gt_labels")
    assert (out["video_id"], out["timestamp"], out["image_id"]) == ("vidA", 902, "vidA,0902")
    assert out["data_issues"] == {}


def test_clip_length_comes_from_the_mapper_not_the_dataset(dicts):
    """The same dict gives any clip: frame indices by the clip convention, clamped."""
    d = dicts["val"][("vidA", 902)]  # keyframe = frame 60
    for nf, sr in ((4, 1), (8, 2), (2, 30)):
        m = _mapper(
            False, [T.ResizeShortestEdge(H, max_size=10_000)], num_frames=nf, sampling_rate=sr
        )
        assert m.clip_frame_paths(d) == [
            frame_path(
                os.path.dirname(os.path.dirname(os.path.dirname(d["keyframe_path"]))), "vidA", i
            )
            for i in np.clip(60 - nf * sr // 2 + np.arange(nf) * sr, 0, 99)
        ]
        out = m(d)
        assert out["clip"].shape[1] == nf
        blue = _unnorm(out["clip"][2]).mean(dim=(1, 2)).numpy()
        want = np.clip(60 - nf * sr // 2 + np.arange(nf) * sr, 0, 99)
        np.testing.assert_allclose(blue, [frame_value(i) for i in want], atol=2.5)


def test_test_size_scales_frames_and_boxes(dicts):
    m = _mapper(False, [T.ResizeShortestEdge(96, max_size=10_000)])
    out = m(dicts["val"][("vidA", 902)])
    assert out["clip"].shape == (3, 8, 96, 128)
    assert out["instances"].image_size == (96, 128) and (out["height"], out["width"]) == (H, W)
    np.testing.assert_allclose(
        out["instances"].proposal_boxes.tensor.numpy(), [[12.8, 19.2, 64, 86.4]], rtol=1e-5
    )


def _box_frames_root(tmp_path, box, size=(96, 128)):
    """A one-video folder whose frames are dark with a bright rectangle at ``box`` (normalised)."""
    root = make_ava_root(tmp_path / "boxroot", videos=("vidA",), num_frames=80, size=size)
    h, w = size
    x1, y1, x2, y2 = (int(round(v)) for v in (box[0] * w, box[1] * h, box[2] * w, box[3] * h))
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (0, 0, 60)  # a dim left half, to see flips
    img[y1:y2, x1:x2] = 255
    for i in range(80):
        cv2.imwrite(frame_path(root, "vidA", i), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return root, img


@pytest.mark.parametrize("flip", [False, True])
def test_train_boxes_and_pixels_under_scale_crop_flip(tmp_path, registered, flip):
    box = [0.25, 0.25, 0.5, 0.75]
    root, _ = _box_frames_root(tmp_path, box)
    registered("_tm_box", root, "train")
    d = [x for x in DatasetCatalog.get("_tm_box") if x["timestamp"] == 902][0]
    d["annotations"] = [{"bbox": box, "labels": [3, 80], "person_id": 7}]
    # source 128x96 -> scale 1.5 (192x144) -> crop 100x120 at (x0=30, y0=10) -> optional flip
    tfms = [T.ResizeTransform(96, 128, 144, 192), T.CropTransform(30, 10, 100, 120)]
    if flip:
        tfms.append(T.HFlipTransform(100))
    m = _mapper4(True, tfms, reduced_decode=False)
    out = m(d)
    clip = out["clip"]
    assert clip.shape == (3, 4, 120, 100) and out["instances"].image_size == (120, 100)
    x1, y1, x2, y2 = (
        0.25 * 192 - 30,
        0.25 * 144 - 10,
        0.5 * 192 - 30,
        0.75 * 144 - 10,
    )  # 18, 26, 66, 98
    if flip:
        x1, x2 = 100 - x2, 100 - x1
    np.testing.assert_allclose(
        out["instances"].proposal_boxes.tensor.numpy(), [[x1, y1, x2, y2]], atol=1e-4
    )
    assert out["instances"].gt_actions.tolist() == [[3, 80]]
    # the pixels went through the same transform: bright exactly inside the box
    img = _unnorm(clip[:, 0]).permute(1, 2, 0).numpy()  # RGB (120, 100, 3)
    inside = img[int(y1) + 2 : int(y2) - 2, int(x1) + 2 : int(x2) - 2]
    assert inside.min() > 230
    mask = np.ones(img.shape[:2], bool)
    mask[int(y1) - 2 : int(y2) + 3, int(x1) - 2 : int(x2) + 3] = False
    assert img[mask].max() < 80
    # and match the step-by-step reference (resize, crop, flip applied one after the other)
    decoded_src = cv2.imread(frame_path(root, "vidA", 52))
    ref = cv2.resize(decoded_src, (192, 144), interpolation=cv2.INTER_LINEAR)[10:130, 30:130]
    if flip:
        ref = ref[:, ::-1]
    diff = np.abs(img[..., ::-1].astype(np.float32) - ref.astype(np.float32))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) < 8
    # left half of the source is dim red: on the right after a flip
    red_left = img[:, :10, 0].mean() > img[:, -10:, 0].mean()
    assert red_left != flip


def test_train_random_geometry_boxes_follow_pixels(tmp_path, registered):
    box = [0.3, 0.2, 0.6, 0.8]
    root, _ = _box_frames_root(tmp_path, box)
    registered("_tm_rand", root, "train")
    d = [x for x in DatasetCatalog.get("_tm_rand") if x["timestamp"] == 902][0]
    d["annotations"] = [{"bbox": box, "labels": [1], "person_id": 0}]
    augs = [
        T.ResizeShortestEdge((64, 160), max_size=10_000, sample_style="range"),
        T.RandomCrop("absolute", (56, 56)),
        T.RandomFlip(0.5),
    ]
    m = _mapper4(True, augs)
    np.random.seed(0)
    checked_inside = 0
    for _ in range(8):
        out = m(d)
        img = _unnorm(out["clip"][:, 1]).numpy()[0]  # red channel (56, 56)
        x1, y1, x2, y2 = out["instances"].proposal_boxes.tensor[0].tolist()
        assert out["instances"].image_size == (56, 56)
        inner = img[int(np.ceil(y1)) + 1 : int(y2) - 1, int(np.ceil(x1)) + 1 : int(x2) - 1]
        if inner.size:
            assert inner.min() > 200
            checked_inside += 1
        outside = np.ones_like(img, bool)
        outside[
            max(0, int(y1) - 2) : int(np.ceil(y2)) + 2, max(0, int(x1) - 2) : int(np.ceil(x2)) + 2
        ] = False
        assert not outside.any() or img[outside].max() < 120
    assert checked_inside >= 4


def test_reduced_decode_used_and_equivalent(tmp_path, registered, monkeypatch):
    root = make_ava_root(tmp_path / "big", videos=("vidA",), num_frames=80, size=(192, 256))
    registered("_tm_big", root, "val")
    d = [x for x in DatasetCatalog.get("_tm_big") if x["timestamp"] == 902][0]
    factors = []
    real = mapper_clips.read_frame
    monkeypatch.setattr(mapper_clips, "read_frame", lambda p, f=1: factors.append(f) or real(p, f))
    m_fast = _mapper4(False, [T.ResizeShortestEdge(48, max_size=10_000)])
    out = m_fast(d)
    assert set(factors) == {4} and len(factors) == 4
    factors.clear()
    out_full = _mapper4(False, [T.ResizeShortestEdge(48, max_size=10_000)], reduced_decode=False)(d)
    assert set(factors) == {1}
    assert out["clip"].shape == out_full["clip"].shape == (3, 4, 48, 64)
    assert (_unnorm(out["clip"]) - _unnorm(out_full["clip"])).abs().mean() < 2.0
    factors.clear()
    _mapper4(False, [T.ResizeShortestEdge(100, max_size=10_000)])(d)
    assert set(factors) == {1}  # 192 / 2 = 96 < 100: full-size decode
    factors.clear()
    _mapper4(False, [T.ResizeShortestEdge(96, max_size=10_000)])(d)
    assert set(factors) == {2}


def test_missing_and_unreadable_frames_replaced(fresh_ava_root, registered, caplog):
    root = fresh_ava_root
    registered("_tm_miss", root, "val")
    d = [x for x in DatasetCatalog.get("_tm_miss") if x["image_id"] == "vidA,0902"][0]
    os.remove(frame_path(root, "vidA", 54))  # clip position 1
    with open(frame_path(root, "vidA", 62), "wb") as f:  # position 5: not an image
        f.write(b"this is not a jpeg")
    open(frame_path(root, "vidA", 66), "wb").close()  # position 7: empty file
    m = _mapper(False, [T.ResizeShortestEdge(H, max_size=10_000)])
    with caplog.at_level(logging.WARNING, logger="slowfast_det.data.mapper"):
        out = m(d)
    assert out["data_issues"] == {"missing_frames": 3}
    assert "vidA_000055.jpg is missing or unreadable" in caplog.text
    blue = _unnorm(out["clip"][2]).mean(dim=(1, 2)).numpy()
    # nearest readable clip frame; ties go to the earlier one
    want = [52, 52, 56, 58, 60, 60, 64, 64]
    np.testing.assert_allclose(blue, [frame_value(i) for i in want], atol=2.5)


def test_clip_without_readable_frame_is_skipped_and_counted(fresh_ava_root, registered, caplog):
    root = fresh_ava_root
    registered("_tm_none", root, "val")
    by_id = {x["image_id"]: x for x in DatasetCatalog.get("_tm_none")}
    bad, good = by_id["vidA,0903"], by_id["vidA,0902"]
    for p in set(_mapper4(False, []).clip_frame_paths(bad)) | {bad["keyframe_path"]}:
        os.remove(p)
    m = _mapper4(False, [T.ResizeShortestEdge(H, max_size=10_000)])
    with caplog.at_level(logging.WARNING):
        assert m(bad) is None
    assert "Skipping clip vidA,0903" in caplog.text
    out = m(good)  # the count travels with the next sample of this worker
    assert out["data_issues"] == {"skipped_clips": 1}
    assert m(good)["data_issues"] == {}
    # Detectron2's MapDataset then serves another index instead
    ds = MapDataset(DatasetFromList([bad, good], copy=False), m)
    assert ds[0]["image_id"] == "vidA,0902"


def test_corrupt_keyframe_header_falls_back_to_other_frames(fresh_ava_root, registered):
    registered("_tm_hdr", fresh_ava_root, "val")
    d = [x for x in DatasetCatalog.get("_tm_hdr") if x["image_id"] == "vidA,0902"][0]
    with open(d["keyframe_path"], "wb") as f:
        f.write(b"\x00" * 10)
    out = _mapper4(False, [T.ResizeShortestEdge(H, max_size=10_000)])(d)
    assert (out["height"], out["width"]) == (H, W) and out["data_issues"] == {"missing_frames": 1}


def test_train_predicted_boxes_merge(dicts):
    d = dict(dicts["train"][("vidA", 902)])
    gt0 = d["annotations"][0]["bbox"]  # labels [12, 80]
    near = [gt0[0] + 0.005, gt0[1], gt0[2], gt0[3]]  # IoU ~0.99 with gt0
    far = [0.0, 0.0, 0.2, 0.2]
    d["proposals"] = {
        "boxes": np.array([near, far], np.float32),
        "scores": np.array([0.9, 0.99], np.float32),
    }
    identity = [T.ResizeShortestEdge(H, max_size=10_000)]
    boxes, labels = _mapper(True, identity, use_predicted_boxes=False).select_boxes(d)
    assert len(boxes) == 2
    boxes, labels = _mapper(
        True, identity, use_predicted_boxes=True, predicted_box_iou_thresh=0.9
    ).select_boxes(d)
    assert len(boxes) == 3 and labels[2] == [12, 80]
    np.testing.assert_allclose(boxes[2], near, rtol=1e-6)
    out = _mapper(True, identity, use_predicted_boxes=True)(d)
    acts = out["instances"].gt_actions
    assert acts.dtype == torch.int64 and acts.shape[0] == 3 and sorted(acts[2].tolist()) == [12, 80]


def test_test_boxes_score_threshold(dicts):
    d = dicts["val"][("vidA", 902)]  # scores 0.95, 0.30
    boxes, labels = _mapper(False, [], detection_score_thresh=0.3).select_boxes(d)
    assert len(boxes) == 2 and labels is None
    boxes, _ = _mapper(False, [], detection_score_thresh=0.96).select_boxes(d)
    assert len(boxes) == 0
    out = _mapper(False, [T.ResizeShortestEdge(H, max_size=10_000)], detection_score_thresh=0.96)(d)
    assert len(out["instances"]) == 0 and out["instances"].proposal_boxes.tensor.shape == (0, 4)


def test_gt_actions_are_zero_padded_ids(dicts):
    d = dict(dicts["train"][("vidA", 902)])
    d["annotations"] = [
        {"bbox": [0.1, 0.1, 0.5, 0.9], "labels": [12, 80], "person_id": 0},
        {"bbox": [0.5, 0.1, 0.9, 0.9], "labels": [5], "person_id": 1},
    ]
    out = _mapper(True, [T.ResizeShortestEdge(H, max_size=10_000)])(d)
    assert out["instances"].gt_actions.tolist() == [[12, 80], [5, 0]]


def test_training_clip_without_boxes_in_crop(dicts):
    d = dict(dicts["train"][("vidA", 902)])
    d["annotations"] = [{"bbox": [0.0, 0.0, 0.1, 0.1], "labels": [1], "person_id": 0}]
    m = _mapper(True, [T.CropTransform(40, 20, 24, 28)], max_crop_tries=3)  # box never inside
    assert m(d) is None
    d2 = dict(d, annotations=[{"bbox": [0.1, 0.1, 0.9, 0.9], "labels": [1], "person_id": 0}])
    assert m(d2)["data_issues"] == {"clips_without_boxes": 1}
    assert _mapper(True, [])(dict(d, annotations=[])) is None


def test_from_config_train_and_test(dicts, cfg):
    cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE = 8, 2
    cfg.INPUT.TRAIN_JITTER_SCALES, cfg.INPUT.TRAIN_CROP_SIZE, cfg.INPUT.TEST_SIZE = [40, 56], 32, 40
    cfg.INPUT.COLOR_JITTER = 0.4
    np.random.seed(1)
    out = AVADatasetMapper(cfg, is_train=True)(dicts["train"][("vidA", 902)])
    assert out["clip"].shape == (3, 8, 32, 32) and out["clip"].dtype == torch.uint8
    ops = out["color_jitter"]
    assert sorted(name for name, _ in ops) == ["brightness", "contrast", "saturation"]
    assert all(0.6 <= f <= 1.4 for _, f in ops)
    assert out["instances"].gt_actions.dtype == torch.int64
    out = AVADatasetMapper(cfg, is_train=False)(dicts["val"][("vidA", 902)])
    assert out["clip"].shape == (3, 8, 40, 53) and "color_jitter" not in out


def test_mapper_reads_no_model_key(dicts, cfg):
    """Slow-only and SlowFast differ only in the model config: the mapper gives the same sample."""
    cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE, cfg.INPUT.TEST_SIZE = 8, 2, 40
    d = dicts["val"][("vidA", 902)]
    ref = AVADatasetMapper(cfg, is_train=False)(d)
    cfg.MODEL.SLOWFAST.ARCH, cfg.MODEL.SLOWFAST.ALPHA, cfg.MODEL.ROI_HEADS.NUM_CLASSES = (
        "slow",
        8,
        3,
    )
    cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    out = AVADatasetMapper(cfg, is_train=False)(d)
    assert torch.equal(out["clip"], ref["clip"])
    assert set(AVADatasetMapper.from_config(cfg, is_train=True)) == set(
        AVADatasetMapper.from_config(cfg, is_train=False)
    )


def test_train_crop_size_zero_keeps_the_whole_resized_frame(dicts, cfg):
    cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE = 8, 2
    cfg.INPUT.TRAIN_JITTER_SCALES, cfg.INPUT.TRAIN_CROP_SIZE, cfg.INPUT.FLIP_PROB = [40, 40], 0, 0.0
    m = AVADatasetMapper(cfg, is_train=True)
    assert not any(isinstance(a, T.RandomCrop) for a in m.augmentations.augs)
    d = dicts["train"][("vidA", 902)]
    out = m(d)
    # Same geometry as the test mapper at the same size: the full frame, short side 40.
    assert out["clip"].shape[2:] == (40, 53)
    src = np.array([a["bbox"] for a in d["annotations"]], dtype=np.float64)
    scale = np.array([53.0, 40.0] * 2)  # annotations are normalised
    got = out["instances"].proposal_boxes.tensor.numpy()
    assert len(got) == len(src) and np.allclose(np.sort(got, 0), np.sort(src * scale, 0), atol=1e-3)


def test_color_jitter_is_drawn_here_and_applied_by_the_model(dicts):
    d = dicts["train"][("vidA", 902)]
    augs = [T.ResizeShortestEdge(H, max_size=10_000)]
    plain = _mapper(True, augs)(d)
    assert "color_jitter" not in plain
    np.random.seed(3)
    a = _mapper(True, augs, color_jitter=0.5)(d)
    np.random.seed(3)
    b = _mapper(True, augs, color_jitter=0.5)(d)
    assert torch.equal(a["clip"], plain["clip"])  # the pixels are left to the model
    assert a["color_jitter"] == b["color_jitter"]  # a function of the sample's seed
    assert sorted(n for n, _ in a["color_jitter"]) == ["brightness", "contrast", "saturation"]
    assert all(0.5 <= f <= 1.5 for _, f in a["color_jitter"])


def test_reduced_decode_with_crop_and_flip_matches_full_decode(tmp_path, registered):
    root, _ = _box_frames_root(tmp_path, [0.3, 0.2, 0.6, 0.8], size=(192, 256))
    registered("_tm_bigbox", root, "train")
    d = [x for x in DatasetCatalog.get("_tm_bigbox") if x["timestamp"] == 902][0]
    d["annotations"] = [{"bbox": [0.3, 0.2, 0.6, 0.8], "labels": [1], "person_id": 0}]
    # 256x192 -> 80x60 (factor 2 allowed: 96 >= 60) -> crop 48x40 at (17, 9) -> flip
    tfms = [
        T.ResizeTransform(192, 256, 60, 80),
        T.CropTransform(17, 9, 48, 40),
        T.HFlipTransform(48),
    ]
    reduced = _mapper4(True, tfms, reduced_decode=True)(d)
    full = _mapper4(True, tfms, reduced_decode=False)(d)
    assert reduced["clip"].shape == full["clip"].shape == (3, 4, 40, 48)
    torch.testing.assert_close(
        reduced["instances"].proposal_boxes.tensor, full["instances"].proposal_boxes.tensor
    )
    diff = (_unnorm(reduced["clip"]) - _unnorm(full["clip"])).abs()
    assert diff.mean() < 1.5, diff.mean()


def test_clip_planes_are_rgb_even_if_opencv_allocates_its_own(monkeypatch):
    frames = [
        np.random.default_rng(i).integers(0, 256, (6, 5, 3), dtype=np.uint8) for i in range(3)
    ]
    m = _mapper(False, [])
    want = [f.transpose(2, 0, 1)[::-1] for f in frames]
    clip = m.frames_to_clip(frames, (1.0, 0.0, 1.0, 0.0), (6, 5), 1, (6, 5))
    assert all(np.array_equal(clip[:, i].numpy(), want[i]) for i in range(3))
    real_split = cv2.split
    monkeypatch.setattr(
        warp_mod.cv2, "split", lambda img, mv=None: real_split(img)
    )  # ignores ``mv``
    clip = m.frames_to_clip(frames, (1.0, 0.0, 1.0, 0.0), (6, 5), 1, (6, 5))
    assert all(np.array_equal(clip[:, i].numpy(), want[i]) for i in range(3))


def test_decode_clip_equals_frames_to_clip_of_the_decoded_frames(fresh_ava_root, registered):
    """Streaming decode (one frame at a time into the planes) = decode all, replace, warp."""
    from slowfast_det.data.decode import read_frame

    root = fresh_ava_root
    registered("_tm_stream", root, "train")
    d = [x for x in DatasetCatalog.get("_tm_stream") if x["image_id"] == "vidA,0902"][0]
    os.remove(frame_path(root, "vidA", 56))  # clip position 2 missing
    m = _mapper(True, [])
    paths = m.clip_frame_paths(d)
    paths = paths[:1] + paths  # a repeated path (as at clamped clip ends)
    # a 2x reduced decode (64x48 -> 32x24), then a flipped 24x20 crop at scale 1 of the
    # decoded frame
    affine, out_hw = (-0.5, 30.0, 0.5, -3.0), (20, 24)
    clip, replaced = m.decode_clip(paths, 2, affine, (H, W), out_hw)
    decoded = {p: read_frame(p, 2) for p in dict.fromkeys(paths)}
    readable = [i for i, p in enumerate(paths) if decoded[p] is not None]
    frames = [
        decoded[p]
        if decoded[p] is not None
        else decoded[paths[min(readable, key=lambda j: (abs(j - i), j))]]
        for i, p in enumerate(paths)
    ]
    want = m.frames_to_clip(frames, affine, (H, W), 2, out_hw)
    assert replaced == 1 and clip.shape == want.shape == (3, len(paths), 20, 24)
    assert torch.equal(clip, want)
    all_missing = [p + ".missing" for p in paths[:3]]
    assert m.decode_clip(all_missing, 1, affine, (H, W), out_hw) == (None, 3)
