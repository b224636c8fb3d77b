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
import tempfile
import time

import torch
from detectron2.modeling import build_model

from benchmarks import REPO
from benchmarks.machine import load_avg, omp_policy
from benchmarks.model_checkpoint import part_checkpoint
from benchmarks.model_inputs import alternate, make_inputs, model_cfg, ours_call, sync, theirs_call
from benchmarks.random_weights import randomize_
from slowfast_det.checkpoint import SlowFastCheckpointer, convert_pytorchvideo
from slowfast_det.engine.process_setup import prepare_data
from slowfast_det.engine.trainer import METRIC_NAME, AVATrainer
from slowfast_det.export import OnnxActionDetector, build_exportable, export_onnx
from slowfast_det.modeling import Conv3d
from slowfast_det.modeling.analysis import analyze

CONFIGS = os.path.join(REPO, "configs", "AVA")
TARGET_RATIO = 1.4
TARGET_DIFF = 1e-4
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


def matmul_fn(n: int, device: str, reps: int = 3):
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)

    def run():
        for _ in range(reps):
            torch.mm(a, b)

    return run, 2.0 * n**3 * reps


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


def _conv_group(name: str, conv) -> str:
    """Profile group of a backbone Conv3d from its module name and kernel."""
    if ".fuse." in name:
        return "lateral fusions (k x 1 x 1, stride alpha)"
    pathway = "Slow" if ".pathway0" in name else "Fast"
    if name.startswith("stem."):
        return f"{pathway} stem ({'x'.join(map(str, conv.kernel_size))})"
    if "nonlocal" in name:
        return "non-local blocks"
    kt, kh, kw = conv.kernel_size
    kind = (
        "pointwise 1x1x1"
        if (kt, kh, kw) == (1, 1, 1)
        else ("temporal kx1x1" if kh == kw == 1 else "spatial 1xkxk")
    )
    return f"{pathway} bottlenecks, {kind}"


def part_profile(args, build, cfg, rows):
    ours, _ = build()
    t, h, w = args.input_size
    clips, slow, fast, boxes = make_inputs(
        1, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, args.num_boxes, args.device
    )
    spent, flops, starts = {}, {}, {}

    def pre(name):
        def hook(module, inputs):
            sync(args.device)
            starts[name] = time.perf_counter()

        return hook

    def post(name, group):
        def hook(module, inputs, output):
            sync(args.device)
            spent[group] = spent.get(group, 0.0) + time.perf_counter() - starts.pop(name)
            k = module.weight[0].numel()  # (C_in / groups) * kt * kh * kw multiply-adds per output
            flops[group] = flops.get(group, 0.0) + 2.0 * output.numel() * k

        return hook

    handles = []
    for name, m in ours.backbone.named_modules():
        if isinstance(m, Conv3d):
            group = _conv_group(name, m)
            handles += [
                m.register_forward_pre_hook(pre(name)),
                m.register_forward_hook(post(name, group)),
            ]
    mm, mm_flops = matmul_fn(args.matmul_size, args.device)
    per_round, totals = [], []
    try:
        with torch.no_grad():

            def run():
                spent.clear()
                flops.clear()
                t0 = time.perf_counter()
                ours_call(ours, clips, boxes)
                sync(args.device)
                totals.append(time.perf_counter() - t0)
                per_round.append((dict(spent), dict(flops)))

            times = alternate({"ours": run, "matmul": mm}, args.warmup, args.iters, args.device)
    finally:
        for hd in handles:
            hd.remove()
    per_round, totals = per_round[args.warmup :], totals[args.warmup :]
    i = sorted(range(len(totals)), key=totals.__getitem__)[len(totals) // 2]  # the median round
    spent, flops, total = per_round[i][0], per_round[i][1], totals[i]
    peak = mm_flops / statistics.median(times["matmul"]) / 1e9
    conv_time = sum(spent.values())
    rows.append(
        [
            f"profile: forward time of the median round (hooks on; matmul peak {peak:.1f} GFLOP/s)",
            total,
            "s",
        ]
    )
    for group in sorted(spent, key=spent.get, reverse=True):
        gf = flops[group] / spent[group] / 1e9
        rows += [
            [f"profile: {group}: share of time", spent[group] / total, "ratio"],
            [
                f"profile: {group}: GFLOP/s ({flops[group] / 1e9:.1f} GFLOP; "
                f"fraction of peak {gf / peak:.2f})",
                gf,
                "GFLOP/s",
            ],
        ]
    rows += [
        ["profile: all convolutions: share of time", conv_time / total, "ratio"],
        ["profile: all convolutions: GFLOP/s", sum(flops.values()) / conv_time / 1e9, "GFLOP/s"],
        [
            "profile: other (pooling, residual adds, concatenation, packing, head): share of time",
            (total - conv_time) / total,
            "ratio",
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
        ["OMP_WAIT_POLICY", omp_policy(), ""],
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
