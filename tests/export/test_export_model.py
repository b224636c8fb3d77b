"""ONNX export (slowfast_det.export, tools/export_model.py): onnxruntime's CPU scores equal
PyTorch's within 1e-4 for the synthetic SlowFast with randomised weights and norm statistics;
the ONNX predictor equals ActionPredictor; random weights are refused unless allowed."""

import os

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from script_modules import load_tool

from benchmarks.random_weights import randomize_
from slowfast_det.config import load_slowfast_cfg
from slowfast_det.engine.predictor import ActionPredictor, RandomWeightsError
from slowfast_det.export import (
    OnnxActionDetector,
    OnnxActionPredictor,
    build_exportable,
    export_onnx,
    read_metadata,
)
from slowfast_det.export.check import random_clip_and_rois
from slowfast_det.export.onnx_export import model_metadata

try:  # the only reason to skip: the pinned wheels do not install / load on this platform
    import onnx
    import onnxruntime  # noqa: F401
except ImportError as e:
    pytest.skip(
        f"onnxruntime / onnx cannot be imported on this platform ({e}); both are pinned in "
        "requirements.txt (tools/setup_env.sh installs them)",
        allow_module_level=True,
    )

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, "configs", "synthetic", "SLOWFAST_synthetic.yaml")
TOL = 1e-4
T = 16  # INPUT.NUM_FRAMES of the synthetic config


def synthetic_cfg(*opts):
    return load_slowfast_cfg(CONFIG, ["MODEL.DEVICE", "cpu", "INPUT.TEST_SIZE", "64", *opts])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The synthetic detector with random weights and norm statistics, exported (uint8 clips)."""
    torch.manual_seed(0)
    module = randomize_(build_exportable(synthetic_cfg(), allow_random_weights=True), seed=1)
    path = str(tmp_path_factory.mktemp("onnx") / "synthetic.onnx")
    export_onnx(module, path, num_frames=T, size=(64, 80))
    return module, path


def model_scores(model, clips, rois):
    """The detector's own forward on mapper-style dicts: one uint8 clip and its boxes each."""
    h, w = clips.shape[-2:]
    inputs = [
        {
            "clip": clips[i],
            "instances": Instances((h, w), proposal_boxes=Boxes(rois[rois[:, 0] == i, 1:])),
        }
        for i in range(clips.shape[0])
    ]
    with torch.no_grad():
        return torch.cat([o["instances"].scores for o in model(inputs)])


def test_onnxruntime_equals_pytorch_batch_and_other_size(exported):
    module, path = exported
    detector = OnnxActionDetector(path)
    assert (
        detector.input_dtype == np.uint8 and detector.num_frames == T and detector.num_classes == 9
    )
    # two clips at a size other than the traced one, boxes sorted by clip (as the pooler format)
    clips, rois = random_clip_and_rois(T, (72, 96), 3, batch=2, seed=3)
    ref = model_scores(module.model, clips, rois)
    with torch.no_grad():
        assert torch.allclose(
            module(clips, rois), ref, atol=1e-6, rtol=0
        )  # the wrapper is the model
    out = detector.run(clips.numpy(), rois.numpy())
    assert out.shape == (6, 9) and out.dtype == np.float32
    diff = np.abs(out - ref.numpy()).max()
    assert diff <= TOL, diff
    assert 0 < ref.min() and ref.max() < 1 and ref.std() > 1e-3  # real scores, not a constant
    assert detector.run(clips.numpy(), np.zeros((0, 5))).shape == (0, 9)
    with pytest.raises(ValueError, match="uint8"):  # no silent truncation of float clips
        detector.run(clips.float().numpy() + 0.5, rois.numpy())


def test_model_interface_rescales_boxes(exported):
    module, path = exported
    detector = OnnxActionDetector(path)
    clips, rois = random_clip_and_rois(T, (64, 80), 2, seed=4)
    boxes = rois[:, 1:]
    inputs = [
        {
            "clip": clips[0],
            "instances": Instances((64, 80), proposal_boxes=Boxes(boxes)),
            "height": 128,
            "width": 160,
        }
    ]
    with torch.no_grad():
        ref = module.model(inputs)[0]["instances"]
    out = detector(inputs)[0]["instances"]
    assert out.image_size == (128, 160)
    assert torch.allclose(out.pred_boxes.tensor, ref.pred_boxes.tensor)
    assert (out.scores - ref.scores).abs().max() <= TOL


def test_float_input_graph(exported, tmp_path):
    module, _ = exported
    path = str(tmp_path / "float.onnx")
    export_onnx(module, path, num_frames=T, size=(64, 64), input_dtype="float32")
    detector = OnnxActionDetector(path)
    assert detector.input_dtype == np.float32
    clips, rois = random_clip_and_rois(T, (64, 64), 2, seed=5)
    with torch.no_grad():
        ref = module(clips, rois).numpy()
    assert np.abs(detector.run(clips.float().numpy(), rois.numpy()) - ref).max() <= TOL


def test_metadata_and_random_weights_refused(exported, tmp_path):
    _, path = exported
    cfg = synthetic_cfg()
    meta = read_metadata({p.key: p.value for p in onnx.load(path).metadata_props})
    assert meta["num_frames"] == T and meta["num_classes"] == 9 and meta["input_dtype"] == "uint8"
    with pytest.raises(RandomWeightsError):
        build_exportable(cfg)
    assert meta["random_weights"] is True and meta["weights"] == ""
    with pytest.raises(RandomWeightsError, match="random weights"):
        OnnxActionPredictor(cfg, path)
    with pytest.raises(ValueError, match="INPUT.NUM_FRAMES"):
        OnnxActionPredictor(synthetic_cfg("INPUT.NUM_FRAMES", "8"), path, allow_random_weights=True)
    with pytest.raises(FileNotFoundError, match="export_model"):
        OnnxActionDetector(str(tmp_path / "missing.onnx"))


def test_onnx_predictor_equals_action_predictor(tmp_path):
    """Trained-weights path: MODEL.WEIGHTS -> build_exportable -> ONNX -> OnnxActionPredictor gives
    ActionPredictor's scores for the same frames and boxes (same test-time resize)."""
    torch.manual_seed(0)
    weights = str(tmp_path / "weights.pth")
    torch.save({"model": randomize_(build_model(synthetic_cfg()), seed=2).state_dict()}, weights)
    cfg = synthetic_cfg("MODEL.WEIGHTS", weights)
    path = str(tmp_path / "trained.onnx")
    export_onnx(
        build_exportable(cfg), path, num_frames=T, size=(64, 80), metadata=model_metadata(cfg)
    )
    assert OnnxActionDetector(path).metadata["weights"] == weights
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(T, 90, 120, 3), dtype=np.uint8)
    boxes = np.array([[5.0, 4.0, 60.0, 85.0], [50.0, 10.0, 118.0, 80.0]])
    ref = ActionPredictor(cfg)(frames, boxes)
    onnx_predictor = OnnxActionPredictor(cfg, path)
    out = onnx_predictor(frames, boxes)
    assert out.shape == ref.shape == (2, 9) and out.dtype == torch.float32
    assert (out - ref).abs().max() <= TOL
    assert onnx_predictor(frames, np.zeros((0, 4))).shape == (0, 9)
    with pytest.raises(ValueError, match="frames"):
        onnx_predictor(frames[:4], boxes)


def _load_tool():
    return load_tool("export_model")


def test_tool_refuses_random_weights_then_exports_and_checks(tmp_path, caplog):
    tool = _load_tool()
    out = str(tmp_path / "tool.onnx")
    common = ["--config-file", CONFIG, "--output", out, "--size", "64", "80", "MODEL.DEVICE", "cpu"]
    assert tool.main(common) == 2 and not os.path.exists(out)
    assert tool.main(common[:-2] + ["--allow-random-weights"] + common[-2:]) == 0
    cfg = synthetic_cfg()
    with pytest.raises(RandomWeightsError, match="random weights"):
        OnnxActionPredictor(cfg, out)
    frames = np.zeros((T, 48, 64, 3), np.uint8)
    assert OnnxActionPredictor(cfg, out, allow_random_weights=True)(
        frames, [[1, 2, 30, 40]]
    ).shape == (1, 9)


def test_dynamo_exporter_same_scores(exported, tmp_path):
    pytest.importorskip(
        "onnxscript", reason="the torch.export-based exporter needs onnxscript (not pinned)"
    )
    module, _ = exported
    path = str(tmp_path / "dynamo.onnx")
    export_onnx(module, path, num_frames=T, size=(64, 80), dynamo=True, opset=18)
    clips, rois = random_clip_and_rois(T, (72, 96), 2, batch=2, seed=6)
    with torch.no_grad():
        ref = module(clips, rois).numpy()
    assert np.abs(OnnxActionDetector(path).run(clips.numpy(), rois.numpy()) - ref).max() <= TOL


@pytest.mark.parametrize("aligned", [True, False])
def test_roialign_coordinate_mode_follows_aligned(exported, tmp_path, aligned):
    """ROIAlign(aligned=True) must become RoiAlign half_pixel (opset >= 16), aligned=False
    output_half_pixel (pytorchvideo's head); scores equal either way."""
    if aligned:
        module, path = exported
    else:
        torch.manual_seed(0)
        module = randomize_(
            build_exportable(
                synthetic_cfg("MODEL.ROI_ACTION_HEAD.ALIGNED", "False"), allow_random_weights=True
            ),
            seed=1,
        )
        path = str(tmp_path / "unaligned.onnx")
        export_onnx(module, path, num_frames=T, size=(64, 80))
        clips, rois = random_clip_and_rois(T, (64, 80), 3, seed=7)
        with torch.no_grad():
            ref = model_scores(module.model, clips, rois).numpy()
        assert np.abs(OnnxActionDetector(path).run(clips.numpy(), rois.numpy()) - ref).max() <= TOL
    nodes = [n for n in onnx.load(path).graph.node if n.op_type == "RoiAlign"]
    assert len(nodes) == 2  # one per pathway
    for node in nodes:
        mode = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}[
            "coordinate_transformation_mode"
        ]
        assert mode == (b"half_pixel" if aligned else b"output_half_pixel")


def test_demo_runs_the_exported_model(tmp_path):
    """tools/demo.py --onnx FILE writes the scores ActionPredictor gives for the same weights."""
    import cv2

    demo = load_tool("demo")  # tools/demo.py, loaded by path

    torch.manual_seed(0)
    weights = str(tmp_path / "weights.pth")
    torch.save({"model": randomize_(build_model(synthetic_cfg()), seed=3).state_dict()}, weights)
    cfg = synthetic_cfg("MODEL.WEIGHTS", weights)
    path = str(tmp_path / "demo.onnx")
    export_onnx(
        build_exportable(cfg), path, num_frames=T, size=(64, 80), metadata=model_metadata(cfg)
    )
    (tmp_path / "cfg.yaml").write_text(cfg.dump())
    video = str(tmp_path / "clip.mp4")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 30, (80, 64))
    for i in range(70):
        f = np.full((64, 80, 3), 60, np.uint8)
        cv2.rectangle(f, (5 + i // 3, 8), (25 + i // 3, 60), (40, 200, 40), -1)
        writer.write(f)
    writer.release()
    (tmp_path / "boxes.csv").write_text(
        "clip,0001,0.05,0.1,0.5,0.95,,0.99\nclip,0002,0.2,0.1,0.7,0.95,,0.99\n"
    )
    rows = {}
    for name, extra in (("torch", []), ("onnx", ["--onnx", path])):
        out = tmp_path / name / "out.mp4"
        demo.main(
            [
                "--config-file",
                str(tmp_path / "cfg.yaml"),
                "--input",
                video,
                "--output",
                str(out),
                "--boxes",
                str(tmp_path / "boxes.csv"),
                "--no-progress",
                *extra,
            ]
        )
        rows[name] = [
            line.split(",") for line in (tmp_path / name / "out.csv").read_text().splitlines()
        ]
    assert len(rows["torch"]) == len(rows["onnx"]) == 2 * 9
    for a, b in zip(rows["torch"], rows["onnx"]):
        assert a[:7] == b[:7] and abs(float(a[7]) - float(b[7])) <= TOL
