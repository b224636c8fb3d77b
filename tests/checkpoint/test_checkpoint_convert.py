"""Conversion round trips for the three source formats.

A source checkpoint is written in the source's own naming (from a real pytorchvideo model,
or from our model's tensors renamed with the reference naming, which is written out here
independently of the converter), converted with tools/convert_checkpoint.py and loaded
through SlowFastCheckpointer into a freshly initialised model, which must then hold exactly
the original tensors."""

import logging
import os
import pickle
import pickletools
import re

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from script_modules import load_tool

from slowfast_det.checkpoint import (
    CheckpointConversionError,
    SlowFastCheckpointer,
    convert_pyslowfast,
    convert_pyslowfast_caffe2,
    convert_pytorchvideo,
)
from slowfast_det.config import load_slowfast_cfg

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


@pytest.fixture(scope="module")
def convert_cli():
    return load_tool("convert_checkpoint").main


# ----------------------------------------------------------------------------- reference naming
_ABC = {"1": "a", "2": "b", "3": "c"}
_PSF_STAGE = {"stem": 1, "res2": 2, "res3": 3, "res4": 4, "res5": 5}


def to_pyslowfast(name):
    """Our name -> PySlowFast's (slowfast/models/{video_model_builder,resnet_helper,...}.py)."""
    rules = [
        (
            r"backbone\.stem\.pathway(\d)\.conv\.weight",
            lambda m: f"s1.pathway{m[1]}_stem.conv.weight",
        ),
        (
            r"backbone\.stem\.pathway(\d)\.conv\.norm\.(\w+)",
            lambda m: f"s1.pathway{m[1]}_stem.bn.{m[2]}",
        ),
        (
            r"backbone\.(stem|res\d)\.fuse\.conv\.weight",
            lambda m: f"s{_PSF_STAGE[m[1]]}_fuse.conv_f2s.weight",
        ),
        (
            r"backbone\.(stem|res\d)\.fuse\.conv\.norm\.(\w+)",
            lambda m: f"s{_PSF_STAGE[m[1]]}_fuse.bn.{m[2]}",
        ),
        (
            r"backbone\.res(\d)\.pathway(\d)\.(\d+)\.shortcut\.weight",
            lambda m: f"s{m[1]}.pathway{m[2]}_res{m[3]}.branch1.weight",
        ),
        (
            r"backbone\.res(\d)\.pathway(\d)\.(\d+)\.shortcut\.norm\.(\w+)",
            lambda m: f"s{m[1]}.pathway{m[2]}_res{m[3]}.branch1_bn.{m[4]}",
        ),
        (
            r"backbone\.res(\d)\.pathway(\d)\.(\d+)\.conv(\d)\.weight",
            lambda m: f"s{m[1]}.pathway{m[2]}_res{m[3]}.branch2.{_ABC[m[4]]}.weight",
        ),
        (
            r"backbone\.res(\d)\.pathway(\d)\.(\d+)\.conv(\d)\.norm\.(\w+)",
            lambda m: f"s{m[1]}.pathway{m[2]}_res{m[3]}.branch2.{_ABC[m[4]]}_bn.{m[5]}",
        ),
        (
            r"backbone\.res(\d)\.pathway(\d)\.nonlocal(\d+)\.conv_out\.norm\.(\w+)",
            lambda m: f"s{m[1]}.pathway{m[2]}_nonlocal{m[3]}.bn.{m[4]}",
        ),
        (
            r"backbone\.res(\d)\.pathway(\d)\.nonlocal(\d+)\.(conv_\w+)\.(weight|bias)",
            lambda m: f"s{m[1]}.pathway{m[2]}_nonlocal{m[3]}.{m[4]}.{m[5]}",
        ),
        (r"roi_heads\.predictor\.(weight|bias)", lambda m: f"head.projection.{m[1]}"),
    ]
    for pattern, fn in rules:
        m = re.fullmatch(pattern, name)
        if m:
            return fn(m)
    raise AssertionError(f"no PySlowFast name for {name}")


_C2_BN = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
_C2_P = {"weight": "w", "bias": "b"}


def to_caffe2(psf_name, last_fast_block):
    """PySlowFast name -> Caffe2 blob name (inverse of slowfast/utils/c2_model_loading.py).
    Returns None for tensors Caffe2 does not store (num_batches_tracked)."""
    if psf_name.endswith("num_batches_tracked"):
        return None
    rules = [
        (
            r"s1\.pathway(\d)_stem\.conv\.weight",
            lambda m: ("t_" if m[1] == "1" else "") + "conv1_w",
        ),
        (
            r"s1\.pathway(\d)_stem\.bn\.(\w+)",
            lambda m: ("t_" if m[1] == "1" else "") + f"res_conv1_bn_{_C2_BN[m[2]]}",
        ),
        (r"s1_fuse\.conv_f2s\.weight", lambda m: "t_pool1_subsample_w"),
        (r"s1_fuse\.bn\.(\w+)", lambda m: f"t_pool1_subsample_bn_{_C2_BN[m[1]]}"),
        (
            r"s(\d)_fuse\.conv_f2s\.weight",
            lambda m: f"t_res{m[1]}_{last_fast_block[int(m[1])]}_branch2c_bn_subsample_w",
        ),
        (
            r"s(\d)_fuse\.bn\.(\w+)",
            lambda m: (
                f"t_res{m[1]}_{last_fast_block[int(m[1])]}_branch2c_bn_subsample_bn_{_C2_BN[m[2]]}"
            ),
        ),
        (
            r"s(\d)\.pathway(\d)_res(\d+)\.branch2\.([abc])\.weight",
            lambda m: ("t_" if m[2] == "1" else "") + f"res{m[1]}_{m[3]}_branch2{m[4]}_w",
        ),
        (
            r"s(\d)\.pathway(\d)_res(\d+)\.branch2\.([abc])_bn\.(\w+)",
            lambda m: (
                ("t_" if m[2] == "1" else "") + f"res{m[1]}_{m[3]}_branch2{m[4]}_bn_{_C2_BN[m[5]]}"
            ),
        ),
        (
            r"s(\d)\.pathway(\d)_res(\d+)\.branch1\.weight",
            lambda m: ("t_" if m[2] == "1" else "") + f"res{m[1]}_{m[3]}_branch1_w",
        ),
        (
            r"s(\d)\.pathway(\d)_res(\d+)\.branch1_bn\.(\w+)",
            lambda m: ("t_" if m[2] == "1" else "") + f"res{m[1]}_{m[3]}_branch1_bn_{_C2_BN[m[4]]}",
        ),
        (
            r"s(\d)\.pathway0_nonlocal(\d+)\.conv_(\w+)\.(weight|bias)",
            lambda m: f"nonlocal_conv{m[1]}_{m[2]}_{m[3]}_{_C2_P[m[4]]}",
        ),
        (
            r"s(\d)\.pathway0_nonlocal(\d+)\.bn\.(\w+)",
            lambda m: f"nonlocal_conv{m[1]}_{m[2]}_bn_{_C2_BN[m[3]]}",
        ),
        (r"head\.projection\.(weight|bias)", lambda m: f"pred_{_C2_P[m[1]]}"),
    ]
    for pattern, fn in rules:
        m = re.fullmatch(pattern, psf_name)
        if m:
            return fn(m)
    raise AssertionError(f"no Caffe2 name for {psf_name}")


class Py2Pickler(pickle._Pickler):
    """Writes str / bytes as Python 2 'str' opcodes (BINSTRING), as Python 2 pickled them."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + len(data).to_bytes(4, "little") + data)
        self.memoize(obj)

    dispatch[str] = _save_py2_str
    dispatch[bytes] = _save_py2_str


def py2_pickle(obj, path):
    import io

    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    # Python 2 / numpy 1 module name of the array reconstructor.
    data = buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    ops = {op.name for op, _, _ in pickletools.genops(data)}
    assert "BINUNICODE" not in ops and "SHORT_BINSTRING" in ops and b"numpy.core.multiarray" in data
    with open(path, "wb") as f:
        f.write(data)


# ----------------------------------------------------------------------------- helpers
def network_state(model):
    """The model's state dict without the clip statistics (no other project has them)."""
    return {k: v for k, v in model.state_dict().items() if k not in ("pixel_mean", "pixel_std")}


def assert_same_tensors(model, reference_sd, skip=()):
    sd = model.state_dict()
    compared = 0
    for k, v in reference_sd.items():
        if any(s in k for s in skip):
            continue
        assert torch.equal(sd[k], v), k
        compared += 1
    assert compared > 0


def load(model, path):
    SlowFastCheckpointer(model).load(str(path))
    return model


# ----------------------------------------------------------------------------- pytorchvideo
def test_pytorchvideo_roundtrip_real_model(tmp_path, convert_cli):
    slowfast = pytest.importorskip("pytorchvideo.models.slowfast")
    # pytorchvideo's depth 18 is one block per stage; stem widths (8, 1) = our width 8.
    ref = slowfast.create_slowfast_with_roi_head(
        model_depth=18,
        stem_dim_outs=(8, 1),
        model_num_class=5,
        head_pool_kernel_sizes=((2, 1, 1), (8, 1, 1)),
    )
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for t in list(ref.parameters()) + [b for n, b in ref.named_buffers() if "running" in n]:
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    ref.eval()
    src, dst = tmp_path / "ptv.pyth", tmp_path / "ours.pth"
    torch.save({"model_state": ref.state_dict()}, src)
    assert convert_cli(["--from", "pytorchvideo", str(src), str(dst)]) == 0
    cfg = load_slowfast_cfg(
        freeze=False,
        values={
            "MODEL.DEVICE": "cpu",
            "MODEL.SLOWFAST.STAGE_BLOCKS": [1, 1, 1, 1],
            "MODEL.SLOWFAST.WIDTH_PER_GROUP": 8,
            "MODEL.SLOWFAST.STEM_OUT_CHANNELS": 8,
            "MODEL.ROI_HEADS.NUM_CLASSES": 5,
            "MODEL.ROI_ACTION_HEAD.ALIGNED": False,
        },
    )
    model = load(build_model(cfg).eval(), dst)
    converted = torch.load(dst, weights_only=True)
    assert converted["matching_heuristics"] is False and "pytorchvideo" in converted["__author__"]
    assert len(converted["model"]) == len(ref.state_dict())
    raw = torch.randint(0, 256, (3, 8, 64, 64), dtype=torch.uint8)
    fast = ((raw.float() - 0.45 * 255) / (0.225 * 255))[None]  # the model normalises the uint8 clip
    slow = fast[:, :, torch.linspace(0, 7, 2).long()].contiguous()
    boxes = torch.tensor([[3.0, 4, 40, 50], [10, 10, 60, 62]])
    with torch.no_grad():
        expected = ref([slow.clone(), fast.clone()], torch.cat([torch.zeros(2, 1), boxes], 1))
        out = model([{"clip": raw, "instances": Instances((64, 64), proposal_boxes=Boxes(boxes))}])
    assert (out[0]["instances"].scores - expected).abs().max() <= 1e-5


def test_pytorchvideo_unknown_names_fail_listing_them():
    sd = {
        "blocks.0.multipathway_blocks.0.conv.weight": torch.zeros(1),
        "blocks.1.multipathway_blocks.0.res_blocks.0.branch2.conv_d.weight": torch.zeros(1),
        "blocks.9.something": torch.zeros(1),
    }
    with pytest.raises(CheckpointConversionError) as e:
        convert_pytorchvideo(sd)
    assert "2 name(s) match no conversion rule" in str(e.value)
    assert "branch2.conv_d.weight" in str(e.value) and "blocks.9.something" in str(e.value)


# ----------------------------------------------------------------------------- PySlowFast
def test_pyslowfast_roundtrip(tmp_path, tiny_model, convert_cli):
    source_model = tiny_model(seed=1)
    ours = network_state(source_model)
    psf = {to_pyslowfast(k): v for k, v in ours.items()}
    assert "s4.pathway0_nonlocal2.conv_theta.weight" in psf and "s1_fuse.conv_f2s.weight" in psf
    src, dst = tmp_path / "SLOWFAST.pyth", tmp_path / "ours.pth"
    torch.save(
        {
            "epoch": 20,
            "model_state": psf,
            "optimizer_state": {},
            "cfg": "MODEL:\n  ARCH: slowfast\n",
        },
        src,
    )
    assert convert_cli(["--from", "pyslowfast", str(src), str(dst)]) == 0
    model = load(tiny_model(seed=2), dst)
    assert_same_tensors(model, ours)


def test_pyslowfast_kinetics_head_is_dropped(tmp_path, tiny_model, caplog):
    source_model = tiny_model(seed=1)
    psf = {to_pyslowfast(k): v for k, v in network_state(source_model).items()}
    psf["head.projection.weight"] = torch.randn(400, psf["head.projection.weight"].shape[1])
    psf["head.projection.bias"] = torch.randn(400)
    with caplog.at_level(logging.INFO, logger="slowfast_det.checkpoint.convert"):
        sd = convert_pyslowfast(psf, source="k400.pyth")
    assert (
        "k400.pyth: dropped the classification head (head.projection.bias, "
        "head.projection.weight, 400 classes)" in caplog.text
    )
    assert not any(k.startswith("roi_heads") for k in sd)
    path = tmp_path / "k400.pth"
    torch.save({"model": sd, "matching_heuristics": False}, path)
    fresh = tiny_model(seed=5)
    head_before = fresh.roi_heads.predictor.weight.clone()
    with caplog.at_level(logging.INFO, logger="slowfast_det.checkpoint.checkpointer"):
        load(fresh, path)
    assert (
        "has no action head (roi_heads.predictor.bias, roi_heads.predictor.weight)" in caplog.text
    )
    assert torch.equal(fresh.roi_heads.predictor.weight, head_before)
    assert_same_tensors(fresh, network_state(source_model), skip=("roi_heads",))


def test_pyslowfast_unmatched_names_fail_and_write_nothing(
    tmp_path, tiny_model, convert_cli, capsys
):
    psf = {to_pyslowfast(k): v for k, v in network_state(tiny_model()).items()}
    psf["s4.pathway0_res0.branch2.a_bn_sub.weight"] = torch.zeros(3)
    psf["s6.pathway0_res0.branch1.weight"] = torch.zeros(3)
    src, dst = tmp_path / "bad.pyth", tmp_path / "out.pth"
    torch.save({"model_state": psf}, src)
    assert convert_cli(["--from", "pyslowfast", str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert "2 name(s) match no conversion rule" in err and str(src) in err
    assert (
        "s4.pathway0_res0.branch2.a_bn_sub.weight" in err
        and "s6.pathway0_res0.branch1.weight" in err
    )
    assert not dst.exists() and os.listdir(tmp_path) == ["bad.pyth"]


# ----------------------------------------------------------------------------- Caffe2
def caffe2_blobs(model):
    last_fast_block = {
        int(s[3]): len(getattr(model.backbone, s).pathway1) - 1 for s in ("res2", "res3", "res4")
    }
    blobs = {}
    for k, v in network_state(model).items():
        name = to_caffe2(to_pyslowfast(k), last_fast_block)
        if name is not None:
            blobs[name] = v.numpy().copy()
    return blobs


def test_caffe2_roundtrip_python2_pickle(tmp_path, tiny_model, convert_cli, caplog):
    source_model = tiny_model(seed=1)
    blobs = caffe2_blobs(source_model)
    assert {
        "t_pool1_subsample_w",
        "t_res2_0_branch2c_bn_subsample_w",
        "t_res4_2_branch2c_bn_subsample_bn_riv",
        "nonlocal_conv4_2_theta_w",
        "res_conv1_bn_s",
        "t_res_conv1_bn_rm",
        "pred_w",
    } <= set(blobs)
    blobs["pred_w"] = blobs["pred_w"].reshape(
        *blobs["pred_w"].shape, 1, 1, 1
    )  # conv-style classifier
    for name in list(blobs)[:5]:
        blobs[name + "_momentum"] = np.zeros_like(blobs[name])
    blobs["lr"] = np.array(0.1, dtype=np.float32)
    blobs["model_iter"] = np.array(1000, dtype=np.int64)
    src, dst = tmp_path / "SLOWFAST.pkl", tmp_path / "ours.pth"
    py2_pickle({"blobs": blobs}, src)
    with caplog.at_level(logging.INFO, logger="slowfast_det.checkpoint.convert"):
        assert convert_cli(["--from", "pyslowfast-caffe2", str(src), str(dst)]) == 0
    assert "skipped 7 Caffe2 solver blob(s)" in caplog.text
    model = load(tiny_model(seed=2), dst)
    assert_same_tensors(model, network_state(source_model), skip=("num_batches_tracked",))


def test_caffe2_unmatched_blob_names_are_listed():
    blobs = {
        "conv1_w": np.zeros((8, 3, 1, 7, 7), np.float32),
        "res2_0_branch2a_bn_x": np.zeros(2, np.float32),
        "t_res9_branch1_w": np.zeros(2, np.float32),
    }
    with pytest.raises(CheckpointConversionError) as e:
        convert_pyslowfast_caffe2({"blobs": blobs}, source="x.pkl")
    msg = str(e.value)
    assert "x.pkl: 2 blob name(s) match no conversion rule" in msg
    assert "res2_0_branch2a_bn_x" in msg and "t_res9_branch1_w" in msg
