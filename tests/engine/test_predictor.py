"""ActionPredictor: same scores as the test loader path, weights loading, input checks."""

import logging
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from slowfast_det.engine.predictor import ActionPredictor, RandomWeightsError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H, W, T = 48, 64, 8
K = 5


def tiny(cfg):
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SLOWFAST.STAGE_BLOCKS = [1, 1, 1, 1]
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    cfg.MODEL.SLOWFAST.STEM_OUT_CHANNELS = 8
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = K
    cfg.INPUT.NUM_FRAMES = T
    cfg.INPUT.SAMPLING_RATE = 2
    cfg.INPUT.TEST_SIZE = 56
    return cfg


def random_clip(seed=0):
    rng = np.random.default_rng(seed)
    # smooth random frames (a blurred noise field per frame) so that resizing matters
    frames = rng.integers(0, 256, size=(T, H // 4, W // 4, 3), dtype=np.uint8)
    return np.stack([cv2.resize(f, (W, H), interpolation=cv2.INTER_CUBIC) for f in frames])


BOXES = np.array([[4.0, 2.0, 36.0, 44.0], [30.0, 10.0, 62.0, 40.0], [0.0, 0.0, 64.0, 48.0]])


@pytest.fixture
def predictor(cfg):
    torch.manual_seed(0)
    return ActionPredictor(tiny(cfg), allow_random_weights=True)


def test_scores_shape_and_range(predictor):
    scores = predictor(random_clip(), BOXES)
    assert scores.shape == (3, K) and scores.dtype == torch.float32
    assert ((scores > 0) & (scores < 1)).all()
    assert predictor(random_clip(), np.zeros((0, 4))).shape == (0, K)


def test_same_scores_as_test_loader_path(predictor, tmp_path):
    """Frames written losslessly and read back by AVADatasetMapper give the same scores."""
    from slowfast_det.data import AVADatasetMapper, FrameTable, frames_source

    frames = random_clip(1)
    paths = []
    for i, f in enumerate(frames):
        p = tmp_path / f"f{i:03d}.png"
        assert cv2.imwrite(str(p), f)
        paths.append(str(p))
    scale = np.array([W, H, W, H])
    sr = predictor.cfg.INPUT.SAMPLING_RATE
    # a video whose every sr-th frame is one of the clip's frames, keyframe at frame T * sr / 2
    table = FrameTable([paths[j // sr] for j in range(T * sr)])
    d = {
        "video_id": "v",
        "timestamp": 902,
        "image_id": "v,0902",
        "frame_source": frames_source(table, fps=1, start_second=902 - T * sr // 2),
        "keyframe_path": paths[T // 2],
        "annotations": [],
        "proposals": {
            "boxes": (BOXES / scale).astype(np.float32),
            "scores": np.ones(3, np.float32),
        },
    }
    sample = AVADatasetMapper(predictor.cfg, is_train=False)(d)
    with torch.no_grad():
        expected = predictor.model([sample])[0]["instances"].scores
    got = predictor(frames, BOXES)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    # the boxes matter and their order is kept
    torch.testing.assert_close(predictor(frames, BOXES[::-1].copy()), got.flip(0))
    assert not torch.allclose(got[0], got[1])


def test_loads_model_weights(cfg, predictor, tmp_path):
    weights = tmp_path / "w.pth"
    torch.save({"model": predictor.model.state_dict()}, weights)
    c = predictor.cfg.clone()
    c.defrost()
    c.MODEL.WEIGHTS = str(weights)
    torch.manual_seed(123)  # a different initialisation, overwritten by the weights
    loaded = ActionPredictor(c)
    frames = random_clip(2)
    torch.testing.assert_close(loaded(frames, BOXES), predictor(frames, BOXES))
    c.MODEL.WEIGHTS = ""
    torch.manual_seed(123)
    assert not torch.allclose(
        ActionPredictor(c, allow_random_weights=True)(frames, BOXES), predictor(frames, BOXES)
    )


def test_refuses_random_weights(cfg, caplog):
    c = tiny(cfg)
    assert c.MODEL.WEIGHTS == ""
    with pytest.raises(
        RandomWeightsError,
        match=r"MODEL.WEIGHTS is empty.*MODEL.WEIGHTS output/model_final.pth "
        r"\(tools/train_ava.py\).*--allow-random-weights \(ActionPredictor\(cfg, ",
    ):
        ActionPredictor(c)
    # allowed on purpose: it runs, and says so
    logging.getLogger("slowfast_det.engine.predictor").addHandler(caplog.handler)
    try:
        ActionPredictor(c, allow_random_weights=True)
    finally:
        logging.getLogger("slowfast_det.engine.predictor").removeHandler(caplog.handler)
    assert "RANDOM weights" in caplog.text


def test_rejects_bad_input(predictor):
    frames = random_clip()
    with pytest.raises(ValueError, match="INPUT.NUM_FRAMES"):
        predictor(frames[:4], BOXES)
    with pytest.raises(ValueError, match="uint8"):
        predictor(frames.astype(np.float32), BOXES)
    with pytest.raises(ValueError, match="x2 < x1"):
        predictor(frames, [[10, 10, 5, 20]])
    with pytest.raises(ValueError, match="NaN"):
        predictor(frames, [[10, 10, np.nan, 20]])


_UNSET_POLICY_CHILD = """
import logging, sys
import torch
from detectron2.config import get_cfg
from slowfast_det.config import add_slowfast_config
from slowfast_det.engine.predictor import ActionPredictor
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(message)s")
torch.set_num_threads(2)
cfg = get_cfg()
add_slowfast_config(cfg)
cfg.MODEL.DEVICE = "cpu"
cfg.MODEL.SLOWFAST.STAGE_BLOCKS = [1, 1, 1, 1]
cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
cfg.MODEL.SLOWFAST.STEM_OUT_CHANNELS = 8
for _ in range(2):
    ActionPredictor(cfg, allow_random_weights=True)
"""


@pytest.mark.parametrize("policy,warnings", [(None, 1), ("PASSIVE", 0)])
def test_warns_once_on_the_cpu_when_omp_wait_policy_is_unset(policy, warnings):
    """OpenMP reads OMP_WAIT_POLICY when torch loads: a library user who did not set it (nor
    call configure_cpu_threads) is told once; with it set, never. A fresh interpreter each."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    path = [REPO] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    out = subprocess.run(
        [sys.executable, "-c", _UNSET_POLICY_CHILD],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert out.stdout.count("RANDOM weights") == 2, out.stdout  # the child's warnings are seen
    assert out.stdout.count("OMP_WAIT_POLICY is not set") == warnings, out.stdout
    if warnings:
        assert "configure_cpu_threads()" in out.stdout


_BF16_CHILD = """
import functools, logging, sys
import torch
from detectron2.config import get_cfg
from slowfast_det.config import add_slowfast_config
from slowfast_det.engine import predictor
from slowfast_det.utils import cpu_features
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(message)s")
predictor.bf16_cpu_warning = functools.partial(cpu_features.bf16_cpu_warning, cpuinfo=sys.argv[1])
cfg = get_cfg()
add_slowfast_config(cfg)
cfg.MODEL.DEVICE = "cpu"
cfg.MODEL.SLOWFAST.STAGE_BLOCKS = [1, 1, 1, 1]
cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
cfg.MODEL.SLOWFAST.STEM_OUT_CHANNELS = 8
cfg.TEST.BF16 = sys.argv[2] == "True"
for _ in range(2):
    predictor.ActionPredictor(cfg, allow_random_weights=True)
"""


@pytest.mark.parametrize(
    "flags,bf16,warnings",
    [("avx2 fma", "True", 1), ("avx2 fma", "False", 0), ("avx512f avx512_bf16", "True", 0)],
)
def test_warns_once_about_bf16_on_a_cpu_without_it(tmp_path, flags, bf16, warnings):
    """TEST.BF16 on a CPU whose flags (a cpuinfo file made here) lack native bfloat16: one
    warning per process, however many predictors; none with bf16 off or on a bf16 CPU."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\n")
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    env["PYTHONPATH"] = os.pathsep.join(
        [REPO] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    out = subprocess.run(
        [sys.executable, "-c", _BF16_CHILD, str(cpuinfo), bf16],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert out.stdout.count("RANDOM weights") == 2, out.stdout
    assert out.stdout.count("no native bfloat16") == warnings, out.stdout
