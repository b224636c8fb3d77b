"""Model benchmark, parts ``bf16`` and ``bf16-map`` (``tools/benchmark.py --task model``):
bfloat16 inference (``TEST.BF16``) against fp32, its speed and score difference on one clip, and
the frame-mAP of trained weights on a test set with each."""

import os
import statistics
import tempfile
import time

import torch
from detectron2.modeling import build_model

from benchmarks.model_inputs import alternate, make_inputs, model_cfg, ours_call
from slowfast_det.checkpoint import SlowFastCheckpointer
from slowfast_det.engine.process_setup import prepare_data
from slowfast_det.engine.trainer import METRIC_NAME, AVATrainer

__all__ = ["part_bf16", "part_bf16_map"]


def part_bf16(args, build, cfg, rows):
    fp32, _ = build()
    bf16, _ = build(["TEST.BF16", "True"])
    t, h, w = args.input_size
    clips, slow, fast, boxes = make_inputs(
        1, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, args.num_boxes, args.device
    )
    with torch.no_grad():
        s32 = ours_call(fp32, clips, boxes)
        s16 = ours_call(bf16, clips, boxes)
        times = alternate(
            {
                "fp32": lambda: ours_call(fp32, clips, boxes),
                "bf16": lambda: ours_call(bf16, clips, boxes),
            },
            args.warmup,
            args.iters,
            args.device,
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    rows += [
        [f"bf16: ours fp32 latency (median of {args.iters})", med["fp32"], "s"],
        [f"bf16: ours TEST.BF16 latency (median of {args.iters})", med["bf16"], "s"],
        ["bf16: speed-up bf16 / fp32", med["fp32"] / med["bf16"], "ratio"],
        ["bf16: max abs score difference bf16 vs fp32", (s16 - s32).abs().max().item(), "abs"],
        ["bf16: scores dtype returned", str(s16.dtype).replace("torch.", ""), ""],
    ]


def part_bf16_map(args, rows):
    if not args.map_weights:
        raise ValueError(
            "the bf16-map part needs --map-weights (a model trained with --map-config)"
        )
    results = {}
    with tempfile.TemporaryDirectory(prefix="benchmark_bf16_map_") as out:
        for bf16 in (False, True):
            cfg = model_cfg(
                args.map_config,
                list(args.opts)
                + [
                    "TEST.BF16",
                    str(bf16),
                    "AVA.EVAL_PLOTS",
                    "False",
                    "OUTPUT_DIR",
                    os.path.join(out, str(bf16)),
                ],
                args.device,
            )
            cfg.freeze()
            prepare_data(cfg)
            model = build_model(cfg)
            SlowFastCheckpointer(model).load(args.map_weights)
            t0 = time.perf_counter()
            res = AVATrainer.test(cfg, model)
            elapsed = time.perf_counter() - t0
            res = res.get("ava", res)  # one dataset: flattened by DefaultTrainer.test
            if METRIC_NAME not in res:
                res = next(iter(res.values()))["ava"]
            results[bf16] = (res[METRIC_NAME], elapsed)
    name = f"{os.path.basename(args.map_config)} test set ({', '.join(cfg.DATASETS.TEST)})"
    rows += [
        [f"bf16-map: frame-mAP fp32, {name}", results[False][0], "mAP"],
        ["bf16-map: frame-mAP TEST.BF16", results[True][0], "mAP"],
        ["bf16-map: frame-mAP change bf16 - fp32", results[True][0] - results[False][0], "mAP"],
        ["bf16-map: inference + evaluation time fp32", results[False][1], "s"],
        ["bf16-map: inference + evaluation time bf16", results[True][1], "s"],
    ]
