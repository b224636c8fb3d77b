"""Classifier checkpoints through ``SlowFastCheckpointer`` (``MODEL.WEIGHTS``): from classifier
to detector (the AVA detector starts from a classification checkpoint: every backbone tensor
loaded strictly, the classification head listed once as unused, the action head left at its
initialisation, res5 dilated as the AVA configs do), from detector to classifier, and from
Kinetics to Charades (a classification head of another class count: a listed warning).
Tiny models with random tensors everywhere, built here."""

import logging

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances

import slowfast_det.modeling  # noqa: F401  (registers the model components)
from slowfast_det.checkpoint import (
    CheckpointMismatchError,
    SlowFastCheckpointer,
    convert_pytorchvideo,
)
from slowfast_det.config import add_slowfast_config

LOGGER = "slowfast_det.checkpoint"  # the checkpointer's and heads.py's


def tiny(kind, *, num_classes=5, nonlocal_=True, seed=0, stage_blocks=(1, 2, 2, 1)):
    """A tiny classifier (res5 stride 2) or detector (the AVA setting: res5 stride 1, dilation 2)
    with the same backbone architecture and random values in every tensor."""
    cfg = get_cfg()
    add_slowfast_config(cfg)
    cfg.MODEL.DEVICE = "cpu"
    sf = cfg.MODEL.SLOWFAST
    sf.STAGE_BLOCKS = list(stage_blocks)
    sf.WIDTH_PER_GROUP = sf.STEM_OUT_CHANNELS = 8
    if nonlocal_:
        sf.NONLOCAL_LOCATIONS = [[[], []], [[], []], [[1], []], [[], []]]
    if kind == "classifier":
        cfg.MODEL.META_ARCHITECTURE = "VideoClassifier"
        sf.SPATIAL_STRIDES, sf.SPATIAL_DILATIONS = [1, 2, 2, 2], [1, 1, 1, 1]
        cfg.MODEL.VIDEO_HEAD.NUM_CLASSES = num_classes
        cfg.INPUT.TRAIN_CROP_SIZE = 64
    else:
        # the AVA setting (the defaults): res5 stride 1, dilation 2
        assert (sf.SPATIAL_STRIDES, sf.SPATIAL_DILATIONS) == ([1, 2, 2, 1], [1, 1, 1, 2])
        cfg.MODEL.ROI_HEADS.NUM_CLASSES = num_classes
    torch.manual_seed(seed)
    model = build_model(cfg)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.fill_(int(torch.randint(1, 100, (1,), generator=g)))
    return model.eval()


def snapshot(model, prefix):
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith(prefix)}


def assert_equal_tensors(a, b):
    assert a.keys() == b.keys() and len(a) > 0
    for k in a:
        assert torch.equal(a[k], b[k]), k


def saved(model, tmp_path, name="model_final"):
    SlowFastCheckpointer(model, str(tmp_path)).save(name)  # this project's own checkpoint
    return str(tmp_path / f"{name}.pth")


def test_detector_starts_from_a_classifier_checkpoint(tmp_path, caplog):
    classifier = tiny("classifier", num_classes=7, seed=1)
    path = saved(classifier, tmp_path)
    detector = tiny("detector", seed=2)
    assert detector.backbone.output_shape()["pathway0"] == ShapeSpec(channels=256, stride=16)
    assert detector.backbone.res5.pathway0[0].conv2.dilation == (1, 2, 2)
    head_before = snapshot(detector, "roi_heads.")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        SlowFastCheckpointer(detector).load(path)
    assert_equal_tensors(snapshot(detector, "backbone."), snapshot(classifier, "backbone."))
    assert_equal_tensors(snapshot(detector, "roi_heads."), head_before)  # keeps its initialisation
    torch.testing.assert_close(detector.pixel_mean, classifier.pixel_mean)
    unused = [r.getMessage() for r in caplog.records if "unused" in r.getMessage()]
    assert unused == [
        f"{path}: unused classification head (cls_head.predictor.bias (7,), "
        "cls_head.predictor.weight (7, 288); the model has none): not loaded"
    ]
    assert (
        f"{path} has no action head (roi_heads.predictor.bias, roi_heads.predictor.weight)"
        in caplog.text
    )
    with torch.no_grad():  # and it runs: a dilated res5 on the classifier's weights
        clip = torch.randint(0, 256, (3, 8, 64, 64), dtype=torch.uint8)
        boxes = Boxes(torch.tensor([[4.0, 4, 40, 60]]))
        out = detector([{"clip": clip, "instances": Instances((64, 64), proposal_boxes=boxes)}])
    assert out[0]["instances"].scores.shape == (1, 5)


def test_detector_starts_from_a_converted_classifier(tmp_path, caplog):
    """pytorchvideo's Kinetics classifier (depth 18: one block per stage; width 8), converted
    for a classifier, starts a detector in the same way."""
    pv_slowfast = pytest.importorskip("pytorchvideo.models.slowfast")
    ref = pv_slowfast.create_slowfast(
        model_depth=18,
        stem_dim_outs=(8, 1),
        model_num_class=7,
        head_pool_kernel_sizes=((2, 2, 2), (8, 2, 2)),
    )
    state_dict = convert_pytorchvideo(ref.state_dict(), target="classifier")
    path = str(tmp_path / "converted.pth")
    torch.save({"model": state_dict, "matching_heuristics": False}, path)
    detector = tiny("detector", nonlocal_=False, stage_blocks=(1, 1, 1, 1))
    head_before = snapshot(detector, "roi_heads.")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        SlowFastCheckpointer(detector).load(path)
    backbone = {k: v for k, v in state_dict.items() if k.startswith("backbone.")}
    assert_equal_tensors(snapshot(detector, "backbone."), backbone)
    assert_equal_tensors(snapshot(detector, "roi_heads."), head_before)
    assert caplog.text.count("unused classification head (cls_head.predictor.bias (7,)") == 1


def test_backbone_is_still_loaded_strictly(tmp_path):
    path = saved(tiny("classifier", nonlocal_=False), tmp_path)
    detector = tiny("detector")  # has a non-local block the checkpoint lacks
    before = snapshot(detector, "")
    with pytest.raises(CheckpointMismatchError) as e:
        SlowFastCheckpointer(detector).load(path)
    assert "backbone.res4.pathway0.nonlocal1.conv_theta.weight" in str(e.value)
    assert "cls_head" not in str(e.value)  # the unused head is not an error
    assert_equal_tensors(snapshot(detector, ""), before)  # untouched


def test_classifier_starts_from_a_detector_checkpoint(tmp_path, caplog):
    detector = tiny("detector", seed=3)
    path = saved(detector, tmp_path)
    classifier = tiny("classifier", seed=4)
    head_before = snapshot(classifier, "cls_head.")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        SlowFastCheckpointer(classifier).load(path)
    assert_equal_tensors(snapshot(classifier, "backbone."), snapshot(detector, "backbone."))
    assert_equal_tensors(snapshot(classifier, "cls_head."), head_before)
    assert (
        "unused action head (roi_heads.predictor.bias (5,), roi_heads.predictor.weight (5, 288)"
        in caplog.text
    )
    assert (
        "has no classification head (cls_head.predictor.bias, cls_head.predictor.weight)"
        in caplog.text
    )


def test_classifier_to_classifier_loads_the_head(tmp_path, caplog):
    source = tiny("classifier", seed=5)
    target = tiny("classifier", seed=6)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        SlowFastCheckpointer(target).load(saved(source, tmp_path))
    assert_equal_tensors(snapshot(target, ""), snapshot(source, ""))
    assert "head" not in caplog.text


def test_kinetics_head_into_a_charades_classifier_is_a_listed_warning(tmp_path, caplog):
    kinetics = tiny("classifier", num_classes=7, seed=7)
    path = saved(kinetics, tmp_path)
    charades = tiny("classifier", num_classes=5, seed=8)
    head_before = snapshot(charades, "cls_head.")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        SlowFastCheckpointer(charades).load(path)
    assert_equal_tensors(snapshot(charades, "backbone."), snapshot(kinetics, "backbone."))
    assert_equal_tensors(snapshot(charades, "cls_head."), head_before)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].getMessage() == (
        f"{path}: the classification head does not fit the model's (cls_head.predictor.bias: "
        "checkpoint (7,) vs model (5,), cls_head.predictor.weight: checkpoint (7, 288) vs model "
        "(5, 288)): not loaded; the model's classification head keeps its initialisation "
        "(fine-tuning to another label set)"
    )


def test_action_head_of_another_size_stays_an_error(tmp_path):
    path = saved(tiny("detector", num_classes=7), tmp_path)
    match = r"roi_heads.predictor.weight: checkpoint \(7, 288\) vs model \(5, 288\)"
    with pytest.raises(CheckpointMismatchError, match=match):
        SlowFastCheckpointer(tiny("detector")).load(path)
