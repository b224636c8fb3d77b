"""Model benchmark (``tools/benchmark.py --task model``): inference speed of our detector
against pytorchvideo's ``slowfast_r50_detection`` holding the same weights, the effect of
each speed lever, bf16 inference, and the memory saved by activation checkpointing.

    .venv/bin/python tools/benchmark.py --task model
    .venv/bin/python tools/benchmark.py --task model --parts compare --threads 1 --iters 10
    .venv/bin/python tools/benchmark.py --task model --parts batch --batch-size 4
    .venv/bin/python tools/benchmark.py --task model --device cuda        # where there is a GPU

Parts (``--parts``; default ``compare profile levers bf16 checkpoint``):

- ``compare``: SLOWFAST_32x2_R50 (``MODEL.ROI_ACTION_HEAD.ALIGNED False``, as pytorchvideo)
  on one 32x256x256 clip with 3 boxes, fp32, in eval mode, against pytorchvideo's
  ``slowfast_r50_detection`` in the same process with the same weights (a random
  pytorchvideo model, norm statistics randomised too, converted with
  ``convert_pytorchvideo``). Runs alternate (ours, theirs, fp32 matmul; the order flips
  every round) after ``--warmup`` rounds; each figure is the median of ``--iters`` rounds.
  GFLOP/s = 2 x the multiply-accumulates fvcore counts (as ``tools/analyze_model.py``) /
  median seconds; the matmul peak is a square fp32 matmul (``--matmul-size``) timed in
  the same rounds, 2 n^3 FLOPs per product. Also reports the max abs difference of the
  per-box scores (target <= 1e-4) and the throughput ratio (target >= 1.4).
- ``profile``: where our fp32 inference time goes: every ``Conv3d`` of the backbone is timed
  by forward hooks (convolution with its folded norm and ReLU), grouped into the Slow and Fast
  stems, the Slow and Fast pathway bottlenecks by kernel (pointwise ``1x1x1``, spatial
  ``1x3x3``, temporal ``3x1x1``) and the lateral fusions; the rest of the forward pass (pooling,
  residual adds, concatenations, packing, the head) is "other". Per group: share of the
  time, GFLOP/s and fraction of the matmul peak (both measured in the same rounds).
- ``levers``: our model with each speed lever switched off
  (``MODEL.SLOWFAST.FOLD_BN_FOR_INFERENCE``, ``MODEL.SLOWFAST.CHANNELS_LAST``), alternating
  with the default, same weights and clip: the measured effect of each.
- ``batch``: ours and pytorchvideo on ``--batch-size`` clips per call (clips/s).
- ``bf16``: ours under ``TEST.BF16`` (bfloat16 autocast) against ours in fp32: speed and
  max abs score difference.
- ``bf16-map``: the frame-mAP of ``--map-weights`` on the test set of ``--map-config``
  (default: the synthetic val set) with fp32 and with ``TEST.BF16`` inference, each through
  ``AVATrainer.test`` (the AVA evaluator), and the inference time of each.
- ``checkpoint``: training steps (forward, backward, SGD update) of ``--ckpt-config``
  (SLOWFAST_32x2_R101_50_50) on ``--ckpt-batch-size`` clips of ``--ckpt-input-size``, with
  and without ``MODEL.SLOWFAST.ACTIVATION_CHECKPOINT``, each in a fresh subprocess: after one
  warm-up step, the peak memory of the next step (CUDA: ``max_memory_allocated``; CPU: the
  process's peak resident set ``VmHWM``, reset before the step, with glibc's mmap threshold
  fixed so that freed buffers leave the resident set) and the median time of
  ``--ckpt-steps`` steps (on CPU in another process, with glibc's default allocator).
  The CPU process peak includes the Python / torch libraries and the weights; "step memory"
  is the peak minus the resident set just before the steps (activations, gradients,
  temporaries).
- ``export``: the detector exported to ONNX (``slowfast_det.export``, as ``tools/export_model.py``:
  uint8 clip and boxes in, normalisation and pathway split in the graph) and run by
  onnxruntime's CPU provider, against our PyTorch eager model (default speed levers) with the
  same random weights (norm statistics randomised), on one ``--input-size`` clip with
  ``--num-boxes`` boxes, alternating rounds as ``compare``, both on the CPU with the same
  thread count (onnxruntime without spin-waiting when ``OMP_WAIT_POLICY`` is PASSIVE). Reports
  both latencies, their ratio, the export time and the max abs score difference (target
  <= 1e-4), and the latency of PyTorch in the layout that is exported
  (``MODEL.SLOWFAST.CHANNELS_LAST False``: plain 3D convolutions, as in the graph).

The machine's load average is reported with the numbers; on a shared machine, compare only
figures from the same run. With more OpenMP threads than free cores, libgomp's default
spin-waiting makes every parallel region wait for a descheduled thread, so ``tools/benchmark.py``
sets ``OMP_WAIT_POLICY=PASSIVE`` before torch loads (unless the environment sets it; the value in
effect is reported).
"""

import os
import statistics

import torch
from detectron2.modeling import build_model

from benchmarks import REPO
from benchmarks.machine import load_avg, omp_row
from benchmarks.model_checkpoint import part_checkpoint
from benchmarks.model_export import part_export
from benchmarks.model_inputs import (
    TARGET_DIFF,
    alternate,
    make_inputs,
    matmul_fn,
    model_cfg,
    ours_call,
    theirs_call,
)
from benchmarks.model_precision import part_bf16, part_bf16_map
from benchmarks.model_profile import part_profile
from benchmarks.random_weights import randomize_
from slowfast_det.checkpoint import convert_pytorchvideo
from slowfast_det.modeling.analysis import analyze

CONFIGS = os.path.join(REPO, "configs", "AVA")
TARGET_RATIO = 1.4
PARTS = ("compare", "profile", "levers", "batch", "bf16", "bf16-map", "checkpoint", "export")


def add_arguments(parser):
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=["compare", "profile", "levers", "bf16", "checkpoint"],
    )
    parser.add_argument(
        "--config-file",
        default=os.path.join(CONFIGS, "SLOWFAST_32x2_R50.yaml"),
        help="our config matching pytorchvideo's slowfast_r50_detection",
    )
    parser.add_argument(
        "--input-size",
        nargs=3,
        type=int,
        default=[32, 256, 256],
        metavar=("T", "H", "W"),
        help="Fast-pathway clip (the Slow pathway gets T / ALPHA frames)",
    )
    parser.add_argument("--num-boxes", type=int, default=3, help="person boxes per clip")
    parser.add_argument(
        "--batch-size", type=int, default=4, help="clips per call in the 'batch' part"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed rounds before the timed ones"
    )
    parser.add_argument("--iters", type=int, default=10, help="timed rounds; medians are reported")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's default)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument(
        "--ckpt-config", default=os.path.join(CONFIGS, "SLOWFAST_32x2_R101_50_50.yaml")
    )
    parser.add_argument(
        "--ckpt-input-size", nargs=3, type=int, default=[32, 224, 224], metavar=("T", "H", "W")
    )
    parser.add_argument("--ckpt-batch-size", type=int, default=1)
    parser.add_argument(
        "--ckpt-steps", type=int, default=3, help="measured training steps (after one warm-up step)"
    )
    parser.add_argument(
        "--ckpt-opts",
        nargs="*",
        default=[],
        help="extra KEY VALUE overrides for the checkpoint part",
    )
    parser.add_argument(
        "--map-config",
        default=os.path.join(REPO, "configs", "synthetic", "SLOWFAST_synthetic.yaml"),
        help="bf16-map part: config whose DATASETS.TEST is evaluated",
    )
    parser.add_argument(
        "--map-weights",
        default=None,
        help="bf16-map part: trained weights (MODEL.WEIGHTS), required",
    )
    parser.add_argument(
        "--opts", nargs="*", default=[], help="extra KEY VALUE overrides for our model"
    )


# ----------------------------------------------------------------------------- helpers


def count_gmacs(cfg, t: int, h: int, w: int, num_boxes: int) -> float:
    """fvcore's multiply-accumulate count (G) of the detector, as tools/analyze_model.py."""
    c = cfg.clone()
    c.MODEL.DEVICE = "cpu"
    return analyze(c, t, h, w, num_boxes, False)["gflops"]


def _build_pair(args):
    """Our model (config + opts, ALIGNED False) and pytorchvideo's slowfast_r50_detection
    with the same (random) weights."""
    from pytorchvideo.models.hub.slowfast import (
        slowfast_r50_detection,
    )  # optional: only these parts need it

    t = args.input_size[0]
    cfg = model_cfg(
        args.config_file, ["MODEL.ROI_ACTION_HEAD.ALIGNED", "False"] + list(args.opts), args.device
    )
    alpha = cfg.MODEL.SLOWFAST.ALPHA
    theirs = randomize_(
        slowfast_r50_detection(
            pretrained=False, head_pool_kernel_sizes=((t // alpha, 1, 1), (t, 1, 1))
        )
    )
    state_dict = convert_pytorchvideo(theirs.state_dict())

    def build(extra_opts=()):
        c = cfg.clone()
        c.merge_from_list(list(extra_opts))
        m = build_model(c)
        # every converted name must fit; the clip statistics stay the config's
        # (not in the conversion)
        missing, unexpected = m.load_state_dict(state_dict, strict=False)
        if unexpected or sorted(missing) != ["pixel_mean", "pixel_std"]:
            raise RuntimeError(
                f"converted weights do not fit: missing {missing}, unexpected {unexpected}"
            )
        return m.eval().to(args.device), c

    return build, theirs.to(args.device), cfg


# ----------------------------------------------------------------------------- parts


def part_compare(args, build, theirs, cfg, rows):
    ours, _ = build()
    t, h, w = args.input_size
    clips, slow, fast, boxes = make_inputs(
        1, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, args.num_boxes, args.device
    )
    gmacs = count_gmacs(cfg, t, h, w, args.num_boxes)
    mm, mm_flops = matmul_fn(args.matmul_size, args.device)
    with torch.no_grad():
        diff = (
            (ours_call(ours, clips, boxes) - theirs_call(theirs, slow, fast, boxes))
            .abs()
            .max()
            .item()
        )
        cpu = {}
        times = alternate(
            {
                "ours": lambda: ours_call(ours, clips, boxes),
                "pytorchvideo": lambda: theirs_call(theirs, slow, fast, boxes),
                "matmul": mm,
            },
            args.warmup,
            args.iters,
            args.device,
            cpu_times=cpu,
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    peak = mm_flops / med["matmul"] / 1e9
    size = f"{t}x{h}x{w}, {args.num_boxes} boxes"
    for name in ("ours", "pytorchvideo"):
        gflops = 2 * gmacs / med[name]
        rows += [
            [
                f"compare: {name} latency (median of {args.iters}; min {min(times[name]):.3f})",
                med[name],
                "s",
            ],
            [
                f"compare: {name} GFLOP/s ({2 * gmacs:.1f} GFLOP = 2 x {gmacs:.2f} GMAC, {size})",
                gflops,
                "GFLOP/s",
            ],
            [f"compare: {name} fraction of the fp32 matmul peak", gflops / peak, "ratio"],
        ]
    rows += [
        [f"compare: fp32 matmul peak ({args.matmul_size}^3, median)", peak, "GFLOP/s"],
        [
            f"compare: throughput ours / pytorchvideo (target >= {TARGET_RATIO})",
            med["pytorchvideo"] / med["ours"],
            "ratio",
        ],
        [
            "compare: best-call throughput ours / pytorchvideo (min / min)",
            min(times["pytorchvideo"]) / min(times["ours"]),
            "ratio",
        ],
        [
            "compare: CPU time (process, all threads) per call, pytorchvideo / ours (median; "
            "grows less with the machine's load than the latency)",
            cpu_med["pytorchvideo"] / cpu_med["ours"],
            "ratio",
        ],
        [
            f"compare: max abs score difference ours vs pytorchvideo (target <= {TARGET_DIFF:g})",
            diff,
            "abs",
        ],
    ]


def part_levers(args, build, cfg, rows):
    t, h, w = args.input_size
    clips, slow, fast, boxes = make_inputs(
        1, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, args.num_boxes, args.device
    )
    variants = {
        "default (fold BN + channels_last)": [],
        "without BN folding": ["MODEL.SLOWFAST.FOLD_BN_FOR_INFERENCE", "False"],
        "without channels_last / 2D convs": ["MODEL.SLOWFAST.CHANNELS_LAST", "False"],
        "without either": [
            "MODEL.SLOWFAST.FOLD_BN_FOR_INFERENCE",
            "False",
            "MODEL.SLOWFAST.CHANNELS_LAST",
            "False",
        ],
    }
    models = {name: build(opts)[0] for name, opts in variants.items()}
    with torch.no_grad():
        ref = ours_call(models["without either"], clips, boxes)
        diffs = {
            n: (ours_call(m, clips, boxes) - ref).abs().max().item() for n, m in models.items()
        }
        times = alternate(
            {n: (lambda m=m: ours_call(m, clips, boxes)) for n, m in models.items()},
            args.warmup,
            args.iters,
            args.device,
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["default (fold BN + channels_last)"]
    for name in variants:
        rows.append([f"levers: {name} latency (median of {args.iters})", med[name], "s"])
        if name != "default (fold BN + channels_last)":
            rows.append([f"levers: default speed-up over '{name}'", med[name] / base, "ratio"])
        rows.append([f"levers: {name} max abs score diff vs no levers", diffs[name], "abs"])


def part_batch(args, build, theirs, cfg, rows):
    ours, _ = build()
    t, h, w = args.input_size
    b = args.batch_size
    clips, slow, fast, boxes = make_inputs(
        b, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, args.num_boxes, args.device
    )
    with torch.no_grad():
        diff = (
            (ours_call(ours, clips, boxes) - theirs_call(theirs, slow, fast, boxes))
            .abs()
            .max()
            .item()
        )
        times = alternate(
            {
                "ours": lambda: ours_call(ours, clips, boxes),
                "pytorchvideo": lambda: theirs_call(theirs, slow, fast, boxes),
            },
            args.warmup,
            args.iters,
            args.device,
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    for name in ("ours", "pytorchvideo"):
        rows.append(
            [f"batch {b}: {name} clips/s (median of {args.iters})", b / med[name], "clips/s"]
        )
    rows += [
        [f"batch {b}: throughput ours / pytorchvideo", med["pytorchvideo"] / med["ours"], "ratio"],
        [f"batch {b}: max abs score difference ours vs pytorchvideo", diff, "abs"],
    ]


# ----------------------------------------------------------------------------- main


def main(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [
        [
            "device",
            args.device if not args.device.startswith("cuda") else torch.cuda.get_device_name(),
            "",
        ],
        ["torch threads", torch.get_num_threads(), ""],
        omp_row(),
        ["load average (1, 5, 15 min) at start", load_avg(), ""],
    ]
    needs_pair = {"compare", "profile", "levers", "batch", "bf16"} & set(args.parts)
    if needs_pair:
        build, theirs, cfg = _build_pair(args)
    for part in args.parts:
        print(f"[benchmark_model] {part} ...", flush=True)
        if part == "compare":
            part_compare(args, build, theirs, cfg, rows)
        elif part == "profile":
            part_profile(args, build, cfg, rows)
        elif part == "levers":
            part_levers(args, build, cfg, rows)
        elif part == "batch":
            part_batch(args, build, theirs, cfg, rows)
        elif part == "bf16":
            part_bf16(args, build, cfg, rows)
        elif part == "bf16-map":
            part_bf16_map(args, rows)
        elif part == "checkpoint":
            part_checkpoint(args, rows)
        elif part == "export":
            part_export(args, rows)
    rows.append(["load average (1, 5, 15 min) at end", load_avg(), ""])
    return rows
