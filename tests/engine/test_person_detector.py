"""The one person-detector wrapper (slowfast_det.engine.person_boxes): a model-zoo name or a
config file + weights, one zoo resolution, random weights refused; a tiny detector made here."""

import logging
import os

import numpy as np
import pytest
import torch

from slowfast_det.engine.person_boxes import (
    DEMO_OPTIONS,
    TOOL_OPTIONS,
    PersonDetector,
    check_detector_weights,
    detector_config,
)
from slowfast_det.engine.predictor import RandomWeightsError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYNTHETIC = os.path.join(ROOT, "configs", "person_detector", "faster_rcnn_R18_FPN_synthetic.yaml")
ZOO_NAME = "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"
ZOO_URL = (
    "https://dl.fbaipublicfiles.com/detectron2/COCO-Detection/faster_rcnn_R_50_FPN_3x/137849458/"
    "model_final_280758.pkl"
)
TINY = [
    "MODEL.FPN.OUT_CHANNELS",
    "16",
    "MODEL.ROI_BOX_HEAD.FC_DIM",
    "32",
    "INPUT.MIN_SIZE_TEST",
    "48",
    "MODEL.RPN.POST_NMS_TOPK_TEST",
    "20",
    "TEST.DETECTIONS_PER_IMAGE",
    "10",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny detector config file (no weights in it) and a fixed random weights file."""
    from detectron2.modeling import build_model

    root = tmp_path_factory.mktemp("detector")
    dcfg = detector_config(SYNTHETIC, opts=TINY + ["MODEL.WEIGHTS", ""])
    (root / "det.yaml").write_text(dcfg.dump())
    torch.manual_seed(0)
    torch.save({"model": build_model(dcfg).state_dict()}, root / "det.pth")
    return root


def frames(n=2):
    rng = np.random.default_rng(0)
    return [
        np.kron(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
        for _ in range(n)
    ]


def test_zoo_name_resolves_config_and_weights_through_the_model_zoo():
    model_zoo = pytest.importorskip("detectron2.model_zoo")
    dcfg = detector_config(ZOO_NAME, device="cpu", score_thresh=0.3)
    assert (
        dcfg.MODEL.WEIGHTS == ZOO_URL == model_zoo.get_checkpoint_url(ZOO_NAME)
    )  # not the ImageNet init
    assert dcfg.MODEL.RESNETS.DEPTH == 50 and dcfg.MODEL.DEVICE == "cpu"
    assert dcfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST == dcfg.MODEL.RETINANET.SCORE_THRESH_TEST == 0.3
    assert "SLOWFAST" not in dcfg.MODEL  # a plain Detectron2 config
    # opts and weights override the zoo's weights, weights last
    assert detector_config(ZOO_NAME, opts=["MODEL.WEIGHTS", "a.pth"]).MODEL.WEIGHTS == "a.pth"
    assert (
        detector_config(ZOO_NAME, "b.pth", opts=["MODEL.WEIGHTS", "a.pth"]).MODEL.WEIGHTS == "b.pth"
    )
    with pytest.raises(FileNotFoundError, match="neither a file nor a Detectron2 model-zoo name"):
        detector_config("COCO-Detection/no_such_model.yaml")


def test_config_file_and_weights_equal_the_prebuilt_config_path(tiny):
    cfg_file, weights = str(tiny / "det.yaml"), str(tiny / "det.pth")
    by_file = PersonDetector(cfg_file, weights, score_thresh=0.0)
    dcfg = detector_config(cfg_file, weights, device="cpu", score_thresh=0.0)
    by_cfg = PersonDetector.from_config(dcfg, check_detector_weights(dcfg), score_thresh=0.0)
    assert by_file.cfg.MODEL.WEIGHTS == by_cfg.cfg.MODEL.WEIGHTS == weights
    imgs = frames()
    batch = by_cfg.detect([by_cfg.prepare(f) for f in imgs])
    for img, (boxes, scores) in zip(imgs, batch):
        one_boxes, one_scores = by_file(img)
        assert (
            one_boxes.dtype == np.float32
            and one_boxes.shape == (len(one_scores), 4)
            and len(one_scores) > 0
        )
        # a batch of two against one frame at a time: the same up to float rounding
        np.testing.assert_allclose(one_boxes, boxes, atol=1e-3)
        np.testing.assert_allclose(one_scores, scores, atol=1e-5)
        assert (np.diff(scores) <= 0).all()  # by descending score
    assert PersonDetector(cfg_file, weights, score_thresh=1.01)(imgs[0])[0].shape == (0, 4)


def test_random_weights_are_refused_unless_allowed(tiny, caplog):
    cfg_file = str(tiny / "det.yaml")
    with pytest.raises(RandomWeightsError) as e:
        PersonDetector(cfg_file)  # the demo's message: its flags, no --allow-random-weights
    msg = str(e.value)
    assert msg.startswith("the person detector has no weights") and "--detector-weights" in msg
    assert "--allow-random-weights" not in msg and DEMO_OPTIONS["allow"] is None
    with pytest.raises(
        RandomWeightsError, match="--weights FILE.*--detector-config.*--allow-random-weights"
    ):
        check_detector_weights(detector_config(cfg_file), options=TOOL_OPTIONS)
    with caplog.at_level(logging.WARNING, logger="slowfast_det"):
        boxes, scores = PersonDetector(cfg_file, allow_random_weights=True, score_thresh=0.0)(
            frames(1)[0]
        )
    assert any("RANDOM weights" in r.getMessage() for r in caplog.records) and boxes.shape == (
        len(scores),
        4,
    )
    with pytest.raises(
        FileNotFoundError, match=r"person detector weights not found: .*absent.pth \(--weights"
    ):
        check_detector_weights(detector_config(cfg_file, str(tiny / "absent.pth")))
