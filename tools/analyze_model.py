#!/usr/bin/env python
"""Parameters and FLOPs of slowfast_det models, counted by fvcore on the whole detector
(backbone and ROI head, traced through Detectron2's TracingAdapter).

    .venv/bin/python tools/analyze_model.py --config-file configs/AVA/SLOWFAST_32x2_R50.yaml
    .venv/bin/python tools/analyze_model.py --config-file configs/AVA/*.yaml \\
        --input-size 32 256 256 --num-boxes 3
    # the Kinetics classification trunk (res5 stride 2, no dilation, backbone only), e.g. 4x16 R50:
    .venv/bin/python tools/analyze_model.py --config-file configs/AVA/SLOWFAST_32x2_R50.yaml \\
        --classification-trunk --input-size 32 224 224 \\
        MODEL.SLOWFAST.ALPHA 8 MODEL.SLOWFAST.FUSION_KERNEL_SZ 5

FLOPs are fvcore's count of multiply-accumulates in convolutions, linear layers, matrix
products and einsums (the convention of the SlowFast paper and PySlowFast); norms,
activations, pooling and ROIAlign are not counted; every operator fvcore skipped is
logged. ``--input-size T H W`` is the Fast pathway's clip (the Slow pathway gets T / ALPHA
frames; a Slow-only model gets T frames). Default: INPUT.NUM_FRAMES x TEST_SIZE x TEST_SIZE.
"""

import argparse
import logging
import os

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

import torch
from tabulate import tabulate

from slowfast_det.config import load_slowfast_cfg
from slowfast_det.modeling.analysis import CLASSIFICATION_TRUNK, analyze


def setup_cfg(config_file, opts, classification_trunk):
    """The config counted: ``config_file`` and ``opts`` (:func:`load_slowfast_cfg`), on the CPU,
    with the classification trunk's strides and dilations if ``classification_trunk``."""
    values = {"MODEL.DEVICE": "cpu", **(CLASSIFICATION_TRUNK if classification_trunk else {})}
    return load_slowfast_cfg(config_file, opts, values=values)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", nargs="+", required=True, help="one or more config files")
    parser.add_argument(
        "--input-size",
        nargs=3,
        type=int,
        metavar=("T", "H", "W"),
        default=None,
        help="Fast-pathway clip size (default: INPUT.NUM_FRAMES, TEST_SIZE, TEST_SIZE)",
    )
    parser.add_argument(
        "--num-boxes", type=int, default=3, help="person boxes per clip (detector only)"
    )
    parser.add_argument(
        "--classification-trunk",
        action="store_true",
        help="count the backbone alone with res5 stride 2 and no dilation (Kinetics trunk)",
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides KEY VALUE ...")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(max(1, min(16, os.cpu_count() or 1)))
    rows = []
    for config_file in args.config_file:
        cfg = setup_cfg(config_file, args.opts, args.classification_trunk)
        if args.input_size is not None:
            t, h, w = args.input_size
        else:
            t, h, w = cfg.INPUT.NUM_FRAMES, cfg.INPUT.TEST_SIZE, cfg.INPUT.TEST_SIZE
        r = analyze(cfg, t, h, w, args.num_boxes, args.classification_trunk)
        what = (
            "backbone (classification trunk)"
            if args.classification_trunk
            else f"detector, {args.num_boxes} boxes"
        )
        rows.append(
            [
                os.path.basename(config_file),
                what,
                f"{t}x{h}x{w}",
                f"{r['params_M']:.2f}",
                f"{r['gflops']:.1f}",
            ]
            + (
                [f"{r['backbone_gflops']:.1f}", f"{r['head_gflops']:.4f}"]
                if "head_gflops" in r
                else ["", ""]
            )
        )
    print(
        tabulate(
            rows,
            headers=[
                "config",
                "model",
                "input TxHxW",
                "params (M)",
                "GFLOPs",
                "backbone GFLOPs",
                "head GFLOPs",
            ],
            tablefmt="github",
        )
    )
    return rows


if __name__ == "__main__":
    main()
