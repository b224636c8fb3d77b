"""Classifier weights: pytorchvideo Kinetics classifiers (``create_slowfast``, the architecture
of its ``slowfast_r50``, and ``create_resnet``, its ``slow_r50``), built here with random
weights and random BN statistics, converted with ``tools/convert_checkpoint.py --target
classifier``, loaded through ``MODEL.WEIGHTS``'s checkpointer into the shipped Kinetics configs
and compared on one clip: softmax probabilities within 1e-4 at the training crop (where
pytorchvideo's head, an average pool and an adaptive average of the logits, computes PySlowFast's),
and the fully convolutional path at a larger crop against a hand computation on pytorchvideo's
own features and projection. PySlowFast and Caffe2 names of the head round-trip exactly.

The clips are small (8 frames, 64 pixels; the configs' pool kernel follows
``INPUT.TRAIN_CROP_SIZE 64``) so that the full-width R50 models run in about a second.
"""

import logging
import os
import pickle

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from script_modules import load_tool

import slowfast_det.modeling  # noqa: F401  (registers the model components)
from benchmarks.random_weights import randomize_
from slowfast_det.checkpoint import (
    SlowFastCheckpointer,
    convert_pyslowfast,
    convert_pyslowfast_caffe2,
)
from slowfast_det.config import load_slowfast_cfg

pv_slowfast = pytest.importorskip("pytorchvideo.models.slowfast")
pv_resnet = pytest.importorskip("pytorchvideo.models.resnet")

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
T, CROP = 8, 64
MEAN, STD = 0.45 * 255, 0.225 * 255


def check_close(got, expected, what):
    """Max abs difference <= 1e-4 and, since 400 probabilities are small, relative <= 1e-3;
    the measured values are printed (pytest -s)."""
    diff = (got - expected).abs().max().item()
    rel = ((got - expected).abs() / expected.abs()).max().item()
    print(f"{what}: max abs probability difference {diff:.1e}, max relative {rel:.1e}")
    assert diff <= 1e-4 and rel <= 1e-3


@pytest.fixture(scope="module")
def convert_cli():
    return load_tool("convert_checkpoint").main


def raw_clip(t, h, w, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, t, h, w), generator=g, dtype=torch.uint8)


def reference_input(raw, pathways):
    """pytorchvideo's input: the normalised clip, split as PySlowFast / pytorchvideo; batch of 1."""
    fast = ((raw.float() - MEAN) / STD)[None]
    if pathways == 1:
        return [fast]
    slow = fast[:, :, torch.linspace(0, raw.shape[1] - 1, raw.shape[1] // 4).long()]
    return [slow.contiguous(), fast]


def converted_classifier(reference, config, tmp_path, convert_cli, caplog):
    """reference -> .pyth -> tools/convert_checkpoint.py --target classifier -> MODEL.WEIGHTS."""
    src, dst = tmp_path / "kinetics.pyth", tmp_path / "converted.pth"
    torch.save({"model_state": reference.state_dict()}, src)
    args = ["--from", "pytorchvideo", "--target", "classifier", str(src), str(dst)]
    with caplog.at_level(logging.INFO):
        assert convert_cli(args) == 0
    assert "the classification head (blocks." in caplog.text
    assert "400 classes) becomes cls_head.predictor" in caplog.text
    opts = [
        "INPUT.NUM_FRAMES",
        str(T),
        "INPUT.TRAIN_CROP_SIZE",
        str(CROP),
        "MODEL.WEIGHTS",
        str(dst),
    ]
    cfg = load_slowfast_cfg(os.path.join(CONFIGS, "Kinetics", config), opts)
    model = build_model(cfg)
    head_init = model.cls_head.predictor.weight.clone()
    SlowFastCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    assert not torch.equal(model.cls_head.predictor.weight, head_init)
    return model.eval()


def scores(model, raw):
    with torch.no_grad():
        return model([{"clip": raw}])[0]["scores"]


def hand_fully_convolutional(features, pools, proj):
    """PySlowFast's test-time head by hand on the reference's features: per pathway the mean
    over every ``pool`` window (stride 1), concatenation, the reference's projection, softmax
    per window, mean over windows."""
    pooled = []
    for f, (kt, kh, kw) in zip(features, pools):
        f = f[0].double()
        windows = [
            f[:, t : t + kt, i : i + kh, j : j + kw].mean(dim=(1, 2, 3))
            for t in range(f.shape[1] - kt + 1)
            for i in range(f.shape[2] - kh + 1)
            for j in range(f.shape[3] - kw + 1)
        ]
        pooled.append(torch.stack(windows))
    logits = torch.cat(pooled, 1) @ proj.weight.double().T + proj.bias.double()
    return logits.softmax(1).mean(0).float(), logits.shape[0]


def trunk(blocks, x):
    with torch.no_grad():
        for i in range(5):
            x = blocks[i](x)
    return x if isinstance(x, list) else [x]


def test_slowfast_r50_classifier_matches_pytorchvideo(tmp_path, convert_cli, caplog):
    ref = randomize_(
        pv_slowfast.create_slowfast(
            model_depth=50,
            slowfast_fusion_conv_kernel_size=(7, 1, 1),
            model_num_class=400,
            head_pool_kernel_sizes=((T // 4, CROP // 32, CROP // 32), (T, CROP // 32, CROP // 32)),
        )
    )
    model = converted_classifier(ref, "SLOWFAST_8x8_R50.yaml", tmp_path, convert_cli, caplog)
    assert model.cls_head.pool_sizes == [(2, 2, 2), (8, 2, 2)]
    raw = raw_clip(T, CROP, CROP)
    with torch.no_grad():
        expected = ref([t.clone() for t in reference_input(raw, 2)]).softmax(dim=1)[0]
    got = scores(model, raw)
    assert expected.shape == got.shape == (400,)
    assert expected.max() > 5 * expected.min() and expected.max() < 0.5  # not flat, not saturated
    check_close(got, expected, "slowfast_r50, training crop")
    # fully convolutional at a larger crop: 96 x 128 pixels, 3 x 4 features, 2 x 3 positions
    raw = raw_clip(T, 96, 128, seed=2)
    want, positions = hand_fully_convolutional(
        trunk(ref.blocks, reference_input(raw, 2)), [(2, 2, 2), (8, 2, 2)], ref.blocks[6].proj
    )
    assert positions == 6
    check_close(scores(model, raw), want, "slowfast_r50, 96x128 crop, fully convolutional")


def test_slow_r50_classifier_matches_pytorchvideo(tmp_path, convert_cli, caplog):
    ref = randomize_(
        pv_resnet.create_resnet(
            stem_conv_kernel_size=(1, 7, 7),
            model_depth=50,
            model_num_class=400,
            head_pool_kernel_size=(T, CROP // 32, CROP // 32),
        )
    )
    model = converted_classifier(ref, "SLOW_8x8_R50.yaml", tmp_path, convert_cli, caplog)
    raw = raw_clip(T, CROP, CROP, seed=3)
    with torch.no_grad():
        expected = ref(reference_input(raw, 1)[0]).softmax(dim=1)[0]
    got = scores(model, raw)
    assert expected.max() > 5 * expected.min() and expected.max() < 0.5
    check_close(got, expected, "slow_r50, training crop")
    raw = raw_clip(T, 128, 96, seed=4)
    want, positions = hand_fully_convolutional(
        trunk(ref.blocks, reference_input(raw, 1)[0]), [(8, 2, 2)], ref.blocks[5].proj
    )
    assert positions == 6
    check_close(scores(model, raw), want, "slow_r50, 128x96 crop, fully convolutional")


# ----------------------------------------------------------------------------- head names
K, C = 157, 48


def head_tensors(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(K, C, generator=g), torch.randn(K, generator=g)


def test_pyslowfast_head_names_round_trip():
    w, b = head_tensors()
    psf = {"head.projection.weight": w.clone(), "head.projection.bias": b.clone()}
    out = convert_pyslowfast(psf, target="classifier")
    assert list(out) == ["cls_head.predictor.weight", "cls_head.predictor.bias"]
    assert torch.equal(out["cls_head.predictor.weight"], w)
    assert torch.equal(out["cls_head.predictor.bias"], b)
    # for a detector, a 157-output projection is an action head; a Kinetics-size one is dropped
    assert set(convert_pyslowfast(psf)) == {
        "roi_heads.predictor.weight",
        "roi_heads.predictor.bias",
    }
    kinetics = {
        "head.projection.weight": torch.zeros(400, C),
        "head.projection.bias": torch.zeros(400),
        "s1.pathway0_stem.conv.weight": torch.zeros(8, 3, 1, 7, 7),
    }
    assert list(convert_pyslowfast(kinetics)) == ["backbone.stem.pathway0.conv.weight"]
    assert "cls_head.predictor.weight" in convert_pyslowfast(kinetics, target="classifier")
    with pytest.raises(ValueError, match="unknown conversion target 'ava'"):
        convert_pyslowfast(psf, target="ava")


def test_caffe2_head_names_round_trip_through_the_tool(tmp_path, convert_cli, caplog):
    w, b = head_tensors(1)
    blobs = {
        "pred_w": w.numpy().reshape(K, C, 1, 1, 1).copy(),
        "pred_b": b.numpy().copy(),
        "pred_w_momentum": np.zeros((K, C, 1, 1, 1), np.float32),
        "lr": np.array(0.1, np.float32),
    }
    assert set(convert_pyslowfast_caffe2({"blobs": blobs}, target="classifier")) == {
        "cls_head.predictor.weight",
        "cls_head.predictor.bias",
    }
    src, dst = tmp_path / "charades.pkl", tmp_path / "head.pth"
    with open(src, "wb") as f:
        pickle.dump({"blobs": blobs}, f, protocol=2)
    with caplog.at_level(logging.INFO):
        args = ["--from", "pyslowfast-caffe2", "--target", "classifier", str(src), str(dst)]
        assert convert_cli(args) == 0
    assert "skipped 2 Caffe2 solver blob(s)" in caplog.text
    saved = torch.load(dst, weights_only=True)
    assert saved["__author__"].endswith("--target classifier")
    assert torch.equal(saved["model"]["cls_head.predictor.weight"], w)  # (K, C, 1, 1, 1) -> (K, C)
    assert torch.equal(saved["model"]["cls_head.predictor.bias"], b)
    with pytest.raises(SystemExit):
        convert_cli(["--from", "pyslowfast-caffe2", "--target", "ava", str(src), str(dst)])


def test_help_documents_the_target(convert_cli, capsys):
    with pytest.raises(SystemExit):
        convert_cli(["--help"])
    out = capsys.readouterr().out
    assert "--target {detector,classifier}" in out and "cls_head.predictor" in out
