#!/usr/bin/env python
"""Export the action detector (backbone + ROIAlign head) to ONNX and check it with onnxruntime.

    python tools/export_model.py --config-file configs/AVA/SLOWFAST_32x2_R50.yaml \\
        --output output/slowfast_r50.onnx MODEL.WEIGHTS model_final.pth

The graph takes what the data mapper gives, stacked: ``clips`` uint8 ``(N, 3, T, H, W)`` RGB,
not normalised (``--input-dtype float32`` for float clips in 0-255 units), and the person
boxes ``rois`` float32 ``(R, 5)`` (clip index, x1, y1, x2, y2 in clip pixels); it returns
``scores`` ``(R, K)``. Normalisation and the Slow/Fast split are inside; T is fixed to
``INPUT.NUM_FRAMES``, N, H, W and R are free. Run it with
``slowfast_det.export.OnnxActionPredictor(cfg, path)`` (the ``ActionPredictor`` call).

``MODEL.WEIGHTS`` must name trained weights; ``--allow-random-weights`` exports an untrained
model on purpose (the file records it, and ``OnnxActionPredictor`` refuses it unless allowed).
After writing, onnxruntime's CPU scores are compared with PyTorch's on a random clip of
``--size`` (default: ``INPUT.TEST_SIZE`` square) and ``--num-boxes`` boxes; the run fails
(exit status 1) when they differ by more than ``--tolerance``.
"""

import argparse
import logging
import sys

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from detectron2.utils.logger import setup_logger

from slowfast_det.config import load_slowfast_cfg
from slowfast_det.engine.predictor import RandomWeightsError
from slowfast_det.export import build_exportable, export_onnx
from slowfast_det.export.check import compare_onnx
from slowfast_det.export.onnx_export import model_metadata

logger = logging.getLogger("slowfast_det.export_model")


def get_parser():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config-file", required=True, metavar="FILE", help="SlowFast config")
    p.add_argument("--output", required=True, help="the .onnx file to write")
    p.add_argument(
        "--input-dtype",
        choices=["uint8", "float32"],
        default="uint8",
        help="type of the graph's clips input (default: %(default)s, the mapper's)",
    )
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, >= 16 (default: %(default)s)")
    p.add_argument(
        "--dynamo", action="store_true", help="torch.export-based exporter (needs onnxscript)"
    )
    p.add_argument(
        "--size",
        nargs=2,
        type=int,
        default=None,
        metavar=("H", "W"),
        help="clip size traced and checked (default: INPUT.TEST_SIZE square)",
    )
    p.add_argument(
        "--num-boxes", type=int, default=3, help="boxes in the check (default: %(default)s)"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="max abs score difference (default: %(default)g)",
    )
    p.add_argument(
        "--no-check", action="store_true", help="skip the onnxruntime vs PyTorch comparison"
    )
    p.add_argument(
        "--allow-random-weights",
        action="store_true",
        help="export even though MODEL.WEIGHTS is empty (an untrained model; for tests)",
    )
    p.add_argument(
        "opts", nargs=argparse.REMAINDER, default=[], help="config overrides: KEY VALUE ..."
    )
    return p


def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logger(name="slowfast_det")
    cfg = load_slowfast_cfg(args.config_file, args.opts)
    try:
        module = build_exportable(cfg, allow_random_weights=args.allow_random_weights)
    except RandomWeightsError as e:
        logger.error("%s", e)
        return 2
    size = args.size or (cfg.INPUT.TEST_SIZE, cfg.INPUT.TEST_SIZE)
    export_onnx(
        module,
        args.output,
        num_frames=cfg.INPUT.NUM_FRAMES,
        size=size,
        input_dtype=args.input_dtype,
        opset=args.opset,
        dynamo=args.dynamo,
        metadata=dict(model_metadata(cfg), config_file=args.config_file),
    )
    if args.no_check:
        return 0
    diff = compare_onnx(module, args.output, cfg.INPUT.NUM_FRAMES, size, args.num_boxes)
    logger.info(
        "onnxruntime CPU vs PyTorch: max abs score difference %.3g (%d boxes, %dx%dx%d clip)",
        diff,
        args.num_boxes,
        cfg.INPUT.NUM_FRAMES,
        size[0],
        size[1],
    )
    if not diff <= args.tolerance:
        logger.error(
            "%s: scores differ from PyTorch's by %.3g > --tolerance %g",
            args.output,
            diff,
            args.tolerance,
        )
        return 1
    print(f"wrote {args.output} (onnxruntime vs PyTorch max abs score difference {diff:.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
