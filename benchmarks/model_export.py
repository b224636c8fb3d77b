"""Model benchmark, part ``export`` (``tools/benchmark.py --task model --parts export``): the
detector exported to ONNX and run by onnxruntime's CPU provider against our PyTorch eager model
with the same weights: latencies, export time, file size and score difference."""

import os
import statistics
import tempfile
import time

import torch
from detectron2.modeling import build_model

from benchmarks.model_inputs import TARGET_DIFF, alternate, make_inputs, model_cfg, ours_call
from benchmarks.random_weights import randomize_
from slowfast_det.export import OnnxActionDetector, build_exportable, export_onnx

__all__ = ["part_export"]


def part_export(args, rows):
    t, h, w = args.input_size
    cfg = model_cfg(args.config_file, ["INPUT.NUM_FRAMES", str(t)] + list(args.opts), "cpu")
    module = randomize_(build_exportable(cfg, allow_random_weights=True))
    eager = build_model(cfg).eval()
    eager.load_state_dict(module.model.state_dict())
    clips, _, _, boxes = make_inputs(1, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, args.num_boxes, "cpu")
    rois = torch.cat([torch.zeros(args.num_boxes, 1), boxes[0]], dim=1).numpy()
    clips_np = clips.numpy()
    with tempfile.TemporaryDirectory(prefix="benchmark_export_") as out:
        path = os.path.join(out, "model.onnx")
        t0 = time.perf_counter()
        export_onnx(module, path, num_frames=t, size=(h, w))
        export_s = time.perf_counter() - t0
        size_mb = os.path.getsize(path) / 2**20
        ort_model = OnnxActionDetector(
            path,
            num_threads=torch.get_num_threads(),
            allow_spinning=os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE",
        )
        with torch.no_grad():
            ref = ours_call(eager, clips, boxes)
            diff = float(abs(ort_model.run(clips_np, rois) - ref.numpy()).max())
            rois_t = torch.from_numpy(rois)
            times = alternate(
                {
                    "PyTorch eager": lambda: ours_call(eager, clips, boxes),
                    "PyTorch contiguous": lambda: module(clips, rois_t),
                    "onnxruntime": lambda: ort_model.run(clips_np, rois),
                },
                args.warmup,
                args.iters,
                "cpu",
            )
    import onnxruntime  # optional: only this part needs it (its version goes into the rows)

    med = {k: statistics.median(v) for k, v in times.items()}
    what = f"{os.path.basename(args.config_file)}, {t}x{h}x{w}, {args.num_boxes} boxes, CPU"
    rows += [
        [
            f"export: PyTorch eager latency ({what}; median of {args.iters}, "
            f"min {min(times['PyTorch eager']):.3f})",
            med["PyTorch eager"],
            "s",
        ],
        [
            f"export: onnxruntime {onnxruntime.__version__} CPU latency (median of {args.iters}, "
            f"min {min(times['onnxruntime']):.3f})",
            med["onnxruntime"],
            "s",
        ],
        [
            f"export: PyTorch in the exported layout (MODEL.SLOWFAST.CHANNELS_LAST False) "
            f"latency (median of {args.iters})",
            med["PyTorch contiguous"],
            "s",
        ],
        [
            "export: speed ratio onnxruntime / PyTorch eager (> 1: onnxruntime faster)",
            med["PyTorch eager"] / med["onnxruntime"],
            "ratio",
        ],
        [
            "export: speed ratio onnxruntime / PyTorch in the exported layout",
            med["PyTorch contiguous"] / med["onnxruntime"],
            "ratio",
        ],
        [
            f"export: max abs score difference onnxruntime vs PyTorch (target <= {TARGET_DIFF:g})",
            diff,
            "abs",
        ],
        ["export: ONNX export time (TorchScript-based exporter, opset 17)", export_s, "s"],
        ["export: ONNX file size", size_mb, "MiB"],
    ]
