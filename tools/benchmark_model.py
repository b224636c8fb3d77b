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

The machine's load average is reported with the numbers; on a shared machine, compare only
figures from the same run. With more OpenMP threads than free cores, libgomp's default
spin-waiting makes every parallel region wait for a descheduled thread, so this module sets
``OMP_WAIT_POLICY=PASSIVE`` before torch loads (unless the environment sets it; the value in
effect is reported).
"""
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_env import load_avg, omp_policy  # noqa: E402  (before torch: sets OMP_WAIT_POLICY)

import torch  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs", "AVA")
TARGET_RATIO = 1.4
TARGET_DIFF = 1e-4
TARGET_CKPT_MEMORY = 0.5
PARTS = ("compare", "profile", "levers", "batch", "bf16", "bf16-map", "checkpoint")


def add_arguments(parser):
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=["compare", "profile", "levers", "bf16", "checkpoint"])
    parser.add_argument("--config-file", default=os.path.join(CONFIGS, "SLOWFAST_32x2_R50.yaml"),
                        help="our config matching pytorchvideo's slowfast_r50_detection")
    parser.add_argument("--input-size", nargs=3, type=int, default=[32, 256, 256], metavar=("T", "H", "W"),
                        help="Fast-pathway clip (the Slow pathway gets T / ALPHA frames)")
    parser.add_argument("--num-boxes", type=int, default=3, help="person boxes per clip")
    parser.add_argument("--batch-size", type=int, default=4, help="clips per call in the 'batch' part")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds before the timed ones")
    parser.add_argument("--iters", type=int, default=10, help="timed rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--ckpt-config", default=os.path.join(CONFIGS, "SLOWFAST_32x2_R101_50_50.yaml"))
    parser.add_argument("--ckpt-input-size", nargs=3, type=int, default=[32, 224, 224], metavar=("T", "H", "W"))
    parser.add_argument("--ckpt-batch-size", type=int, default=1)
    parser.add_argument("--ckpt-steps", type=int, default=3, help="measured training steps (after one warm-up step)")
    parser.add_argument("--ckpt-opts", nargs="*", default=[], help="extra KEY VALUE overrides for the checkpoint part")
    parser.add_argument("--map-config", default=os.path.join(REPO, "configs", "synthetic", "SLOWFAST_synthetic.yaml"),
                        help="bf16-map part: config whose DATASETS.TEST is evaluated")
    parser.add_argument("--map-weights", default=None, help="bf16-map part: trained weights (MODEL.WEIGHTS), required")
    parser.add_argument("--opts", nargs="*", default=[], help="extra KEY VALUE overrides for our model")


# ----------------------------------------------------------------------------- helpers


def _cfg(config_file: str, opts: List[str], device: str):
    from detectron2.config import get_cfg

    from slowfast_det.config import add_slowfast_config

    cfg = get_cfg()
    add_slowfast_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    cfg.MODEL.DEVICE = device
    return cfg


def make_inputs(batch: int, t: int, h: int, w: int, alpha: int, num_boxes: int, device: str, seed: int = 0,
                pixel_mean: float = 0.45 * 255, pixel_std: float = 0.225 * 255):
    """uint8 clips ``(B, 3, T, H, W)`` (our model's input, as the data mapper gives them), the
    same clips normalised and split for pytorchvideo, ``slow (B, 3, T/alpha, H, W)``,
    ``fast (B, 3, T, H, W)``, and ``boxes (B, R, 4)`` in pixels."""
    g = torch.Generator().manual_seed(seed)
    clips = torch.randint(0, 256, (batch, 3, t, h, w), generator=g, dtype=torch.uint8)
    fast = (clips.float() - pixel_mean) / pixel_std
    slow = fast[:, :, torch.linspace(0, t - 1, t // alpha).long()].contiguous()
    xy = torch.rand(batch, num_boxes, 2, generator=g) * torch.tensor([w * 0.5, h * 0.5])
    wh = (0.2 + 0.3 * torch.rand(batch, num_boxes, 2, generator=g)) * torch.tensor([w, h])
    boxes = torch.cat([xy, xy + wh], dim=2)
    return clips.to(device), slow.to(device), fast.to(device), boxes.to(device)


def ours_call(model, clips, boxes):
    """Our detector on the batch (one input dict per uint8 clip, as the data mapper gives them;
    the model normalises and splits them); returns the scores of all boxes, (B * R, K)."""
    from detectron2.structures import Boxes, Instances

    h, w = clips.shape[-2:]
    inputs = [
        {"clip": clips[i], "instances": Instances((h, w), proposal_boxes=Boxes(boxes[i]))}
        for i in range(clips.shape[0])
    ]
    return torch.cat([o["instances"].scores for o in model(inputs)])


def theirs_call(model, slow, fast, boxes):
    """pytorchvideo's detector: ``model([slow, fast], rois)``, rois (B * R, 5) = batch index + box."""
    idx = torch.arange(fast.shape[0], device=fast.device, dtype=boxes.dtype).repeat_interleave(boxes.shape[1])
    rois = torch.cat([idx[:, None], boxes.reshape(-1, 4)], dim=1)
    return model([slow, fast], rois)


def _sync(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def alternate(fns: Dict[str, Callable[[], object]], warmup: int, iters: int, device: str) -> Dict[str, List[float]]:
    """Run the callables in turn (order reversed every other round), ``warmup`` untimed rounds
    then ``iters`` timed ones; returns the seconds of each call per name."""
    names = list(fns)
    times = {n: [] for n in names}
    for r in range(warmup + iters):
        for n in names if r % 2 == 0 else names[::-1]:
            _sync(device)
            t0 = time.perf_counter()
            fns[n]()
            _sync(device)
            if r >= warmup:
                times[n].append(time.perf_counter() - t0)
    return times


def matmul_fn(n: int, device: str, reps: int = 3):
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)

    def run():
        for _ in range(reps):
            torch.mm(a, b)

    return run, 2.0 * n ** 3 * reps


def count_gmacs(cfg, t: int, h: int, w: int, num_boxes: int) -> float:
    """fvcore's multiply-accumulate count (G) of the detector, as tools/analyze_model.py."""
    from analyze_model import analyze

    c = cfg.clone()
    c.MODEL.DEVICE = "cpu"
    return analyze(c, t, h, w, num_boxes, False)["gflops"]


def _build_pair(args):
    """Our model (config + opts, ALIGNED False) and pytorchvideo's slowfast_r50_detection
    with the same (random) weights."""
    from detectron2.modeling import build_model
    from pytorchvideo.models.hub.slowfast import slowfast_r50_detection

    from slowfast_det.checkpoint import convert_pytorchvideo
    from slowfast_det.utils.testing import randomize_

    t = args.input_size[0]
    cfg = _cfg(args.config_file, ["MODEL.ROI_ACTION_HEAD.ALIGNED", "False"] + list(args.opts), args.device)
    alpha = cfg.MODEL.SLOWFAST.ALPHA
    theirs = randomize_(slowfast_r50_detection(pretrained=False, head_pool_kernel_sizes=((t // alpha, 1, 1), (t, 1, 1))))
    state_dict = convert_pytorchvideo(theirs.state_dict())

    def build(extra_opts=()):
        c = cfg.clone()
        c.merge_from_list(list(extra_opts))
        m = build_model(c)
        # every converted name must fit; the clip statistics stay the config's (not in the conversion)
        missing, unexpected = m.load_state_dict(state_dict, strict=False)
        if unexpected or sorted(missing) != ["pixel_mean", "pixel_std"]:
            raise RuntimeError(f"converted weights do not fit: missing {missing}, unexpected {unexpected}")
        return m.eval().to(args.device), c

    return build, theirs.to(args.device), cfg


# ----------------------------------------------------------------------------- parts


def part_compare(args, build, theirs, cfg, rows):
    ours, _ = build()
    t, h, w = args.input_size
    clips, slow, fast, boxes = make_inputs(1, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, args.num_boxes, args.device)
    gmacs = count_gmacs(cfg, t, h, w, args.num_boxes)
    mm, mm_flops = matmul_fn(args.matmul_size, args.device)
    with torch.no_grad():
        diff = (ours_call(ours, clips, boxes) - theirs_call(theirs, slow, fast, boxes)).abs().max().item()
        times = alternate({"ours": lambda: ours_call(ours, clips, boxes),
                           "pytorchvideo": lambda: theirs_call(theirs, slow, fast, boxes),
                           "matmul": mm}, args.warmup, args.iters, args.device)
    med = {k: statistics.median(v) for k, v in times.items()}
    peak = mm_flops / med["matmul"] / 1e9
    size = f"{t}x{h}x{w}, {args.num_boxes} boxes"
    for name in ("ours", "pytorchvideo"):
        gflops = 2 * gmacs / med[name]
        rows += [
            [f"compare: {name} latency (median of {args.iters}; min {min(times[name]):.3f})", med[name], "s"],
            [f"compare: {name} GFLOP/s ({2 * gmacs:.1f} GFLOP = 2 x {gmacs:.2f} GMAC, {size})", gflops, "GFLOP/s"],
            [f"compare: {name} fraction of the fp32 matmul peak", gflops / peak, "ratio"],
        ]
    rows += [
        [f"compare: fp32 matmul peak ({args.matmul_size}^3, median)", peak, "GFLOP/s"],
        [f"compare: throughput ours / pytorchvideo (target >= {TARGET_RATIO})", med["pytorchvideo"] / med["ours"], "ratio"],
        [f"compare: max abs score difference ours vs pytorchvideo (target <= {TARGET_DIFF:g})", diff, "abs"],
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
    kind = "pointwise 1x1x1" if (kt, kh, kw) == (1, 1, 1) else ("temporal kx1x1" if kh == kw == 1 else "spatial 1xkxk")
    return f"{pathway} bottlenecks, {kind}"


def part_profile(args, build, cfg, rows):
    from slowfast_det.modeling import Conv3d

    ours, _ = build()
    t, h, w = args.input_size
    clips, slow, fast, boxes = make_inputs(1, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, args.num_boxes, args.device)
    spent, flops, starts = {}, {}, {}

    def pre(name):
        def hook(module, inputs):
            _sync(args.device)
            starts[name] = time.perf_counter()
        return hook

    def post(name, group):
        def hook(module, inputs, output):
            _sync(args.device)
            spent[group] = spent.get(group, 0.0) + time.perf_counter() - starts.pop(name)
            k = module.weight[0].numel()  # (C_in / groups) * kt * kh * kw multiply-adds per output
            flops[group] = flops.get(group, 0.0) + 2.0 * output.numel() * k
        return hook

    handles = []
    for name, m in ours.backbone.named_modules():
        if isinstance(m, Conv3d):
            group = _conv_group(name, m)
            handles += [m.register_forward_pre_hook(pre(name)), m.register_forward_hook(post(name, group))]
    mm, mm_flops = matmul_fn(args.matmul_size, args.device)
    per_round, totals = [], []
    try:
        with torch.no_grad():
            def run():
                spent.clear()
                flops.clear()
                t0 = time.perf_counter()
                ours_call(ours, clips, boxes)
                _sync(args.device)
                totals.append(time.perf_counter() - t0)
                per_round.append((dict(spent), dict(flops)))
            times = alternate({"ours": run, "matmul": mm}, args.warmup, args.iters, args.device)
    finally:
        for hd in handles:
            hd.remove()
    per_round, totals = per_round[args.warmup:], totals[args.warmup:]
    i = sorted(range(len(totals)), key=totals.__getitem__)[len(totals) // 2]  # the median round
    spent, flops, total = per_round[i][0], per_round[i][1], totals[i]
    peak = mm_flops / statistics.median(times["matmul"]) / 1e9
    conv_time = sum(spent.values())
    rows.append([f"profile: forward time of the median round (hooks on; matmul peak {peak:.1f} GFLOP/s)", total, "s"])
    for group in sorted(spent, key=spent.get, reverse=True):
        gf = flops[group] / spent[group] / 1e9
        rows += [[f"profile: {group}: share of time", spent[group] / total, "ratio"],
                 [f"profile: {group}: GFLOP/s ({flops[group] / 1e9:.1f} GFLOP; fraction of peak {gf / peak:.2f})", gf, "GFLOP/s"]]
    rows += [["profile: all convolutions: share of time", conv_time / total, "ratio"],
             ["profile: all convolutions: GFLOP/s", sum(flops.values()) / conv_time / 1e9, "GFLOP/s"],
             ["profile: other (pooling, residual adds, concatenation, packing, head): share of time",
              (total - conv_time) / total, "ratio"]]


def part_levers(args, build, cfg, rows):
    t, h, w = args.input_size
    clips, slow, fast, boxes = make_inputs(1, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, args.num_boxes, args.device)
    variants = {
        "default (fold BN + channels_last)": [],
        "without BN folding": ["MODEL.SLOWFAST.FOLD_BN_FOR_INFERENCE", "False"],
        "without channels_last / 2D convs": ["MODEL.SLOWFAST.CHANNELS_LAST", "False"],
        "without either": ["MODEL.SLOWFAST.FOLD_BN_FOR_INFERENCE", "False", "MODEL.SLOWFAST.CHANNELS_LAST", "False"],
    }
    models = {name: build(opts)[0] for name, opts in variants.items()}
    with torch.no_grad():
        ref = ours_call(models["without either"], clips, boxes)
        diffs = {n: (ours_call(m, clips, boxes) - ref).abs().max().item() for n, m in models.items()}
        times = alternate({n: (lambda m=m: ours_call(m, clips, boxes)) for n, m in models.items()},
                          args.warmup, args.iters, args.device)
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
    clips, slow, fast, boxes = make_inputs(b, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, args.num_boxes, args.device)
    with torch.no_grad():
        diff = (ours_call(ours, clips, boxes) - theirs_call(theirs, slow, fast, boxes)).abs().max().item()
        times = alternate({"ours": lambda: ours_call(ours, clips, boxes),
                           "pytorchvideo": lambda: theirs_call(theirs, slow, fast, boxes)},
                          args.warmup, args.iters, args.device)
    med = {k: statistics.median(v) for k, v in times.items()}
    for name in ("ours", "pytorchvideo"):
        rows.append([f"batch {b}: {name} clips/s (median of {args.iters})", b / med[name], "clips/s"])
    rows += [[f"batch {b}: throughput ours / pytorchvideo", med["pytorchvideo"] / med["ours"], "ratio"],
             [f"batch {b}: max abs score difference ours vs pytorchvideo", diff, "abs"]]


def part_bf16(args, build, cfg, rows):
    fp32, _ = build()
    bf16, _ = build(["TEST.BF16", "True"])
    t, h, w = args.input_size
    clips, slow, fast, boxes = make_inputs(1, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, args.num_boxes, args.device)
    with torch.no_grad():
        s32 = ours_call(fp32, clips, boxes)
        s16 = ours_call(bf16, clips, boxes)
        times = alternate({"fp32": lambda: ours_call(fp32, clips, boxes),
                           "bf16": lambda: ours_call(bf16, clips, boxes)}, args.warmup, args.iters, args.device)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows += [
        [f"bf16: ours fp32 latency (median of {args.iters})", med["fp32"], "s"],
        [f"bf16: ours TEST.BF16 latency (median of {args.iters})", med["bf16"], "s"],
        ["bf16: speed-up bf16 / fp32", med["fp32"] / med["bf16"], "ratio"],
        ["bf16: max abs score difference bf16 vs fp32", (s16 - s32).abs().max().item(), "abs"],
        ["bf16: scores dtype returned", str(s16.dtype).replace("torch.", ""), ""],
    ]


def part_bf16_map(args, rows):
    import tempfile

    from detectron2.modeling import build_model

    from slowfast_det.checkpoint import SlowFastCheckpointer
    from slowfast_det.engine.trainer import METRIC_NAME, AVATrainer

    if not args.map_weights:
        raise ValueError("the bf16-map part needs --map-weights (a model trained with --map-config)")
    from train_ava import prepare_data

    results = {}
    with tempfile.TemporaryDirectory(prefix="benchmark_bf16_map_") as out:
        for bf16 in (False, True):
            cfg = _cfg(args.map_config, list(args.opts) + ["TEST.BF16", str(bf16), "AVA.EVAL_PLOTS", "False",
                                                          "OUTPUT_DIR", os.path.join(out, str(bf16))], args.device)
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


def _ckpt_child_run(args, ckpt: bool, steps: int, fixed_mmap: bool) -> dict:
    """Run :func:`ckpt_child` in a fresh process; returns its result dict."""
    cmd = [sys.executable, os.path.abspath(__file__), "--ckpt-child", "1" if ckpt else "0",
           "--config-file", args.ckpt_config, "--device", args.device,
           "--batch-size", str(args.ckpt_batch_size), "--input-size", *map(str, args.ckpt_input_size),
           "--steps", str(steps), "--threads", str(torch.get_num_threads()), "--opts", *args.ckpt_opts]
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    if fixed_mmap:
        # Buffers >= 64 KiB are mmap'ed and given back when freed, so the resident set
        # follows the live tensors (glibc's dynamic threshold would keep freed ones).
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("CKPT_RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"checkpoint measurement (ACTIVATION_CHECKPOINT={ckpt}) failed, exit code "
                           f"{proc.returncode}:\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len("CKPT_RESULT "):])


def part_checkpoint(args, rows):
    cuda = args.device.startswith("cuda")
    mem, tim = {}, {}
    for ckpt in (False, True):
        if cuda:  # max_memory_allocated does not depend on the host allocator: one process
            mem[ckpt] = tim[ckpt] = _ckpt_child_run(args, ckpt, args.ckpt_steps, fixed_mmap=False)
        else:
            # Memory with the fixed mmap threshold; time with glibc's defaults (with the fixed
            # threshold every step page-faults its buffers afresh, which slows the variant
            # that holds more memory).
            mem[ckpt] = _ckpt_child_run(args, ckpt, 1, fixed_mmap=True)
            tim[ckpt] = _ckpt_child_run(args, ckpt, args.ckpt_steps, fixed_mmap=False)
    what = (f"{os.path.basename(args.ckpt_config)} train step, batch {args.ckpt_batch_size} x "
            f"{'x'.join(map(str, args.ckpt_input_size))}, {mem[False]['measure']}")
    gib = 1024 ** 3
    rows += [
        [f"checkpoint: peak memory without ({what})", mem[False]["peak"] / gib, "GiB"],
        ["checkpoint: peak memory with ACTIVATION_CHECKPOINT", mem[True]["peak"] / gib, "GiB"],
        [f"checkpoint: peak ratio with / without (target <= {TARGET_CKPT_MEMORY})",
         mem[True]["peak"] / mem[False]["peak"], "ratio"],
        ["checkpoint: step memory above the model without (peak - before step)", mem[False]["step"] / gib, "GiB"],
        ["checkpoint: step memory above the model with", mem[True]["step"] / gib, "GiB"],
        ["checkpoint: step memory ratio with / without", mem[True]["step"] / mem[False]["step"], "ratio"],
        [f"checkpoint: step time without (median of {args.ckpt_steps})", tim[False]["time"], "s"],
        [f"checkpoint: step time with (median of {args.ckpt_steps})", tim[True]["time"], "s"],
        ["checkpoint: time cost with / without", tim[True]["time"] / tim[False]["time"], "ratio"],
    ]


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line")


def ckpt_child(argv=None):
    """Training steps of a fresh model after a warm-up step: peak memory over them and their
    median time (run as a subprocess by :func:`part_checkpoint`); prints ``CKPT_RESULT {json}``."""
    import argparse

    from detectron2.modeling import build_model

    p = argparse.ArgumentParser()
    p.add_argument("--ckpt-child", type=int, required=True)
    p.add_argument("--config-file", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--input-size", nargs=3, type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--opts", nargs="*", default=[])
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    import slowfast_det  # noqa: F401  (registers the model)
    from detectron2.structures import Boxes, Instances

    cfg = _cfg(a.config_file, ["MODEL.SLOWFAST.ACTIVATION_CHECKPOINT", str(bool(a.ckpt_child))] + a.opts, a.device)
    model = build_model(cfg).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    t, h, w = a.input_size
    clips, slow, fast, boxes = make_inputs(a.batch_size, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, 3, a.device)
    k = cfg.MODEL.ROI_HEADS.NUM_CLASSES
    inputs = []
    for i in range(a.batch_size):
        inst = Instances((h, w), proposal_boxes=Boxes(boxes[i]))
        inst.gt_labels = (torch.arange(3 * k, device=a.device).reshape(3, k) % 7 == 0).float()
        inputs.append({"clip": clips[i], "instances": inst})
    cuda = a.device.startswith("cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(inputs)["loss_action"]
        loss.backward()
        opt.step()

    step()  # warm-up: one-off allocations (gradients, library caches)
    opt.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        before = _status_kib("VmRSS") * 1024
        with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to the current RSS
            f.write("5")
    elapsed = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        elapsed.append(time.perf_counter() - t0)
    elapsed = statistics.median(elapsed)
    peak = torch.cuda.max_memory_allocated() if cuda else _status_kib("VmHWM") * 1024
    measure = "torch.cuda.max_memory_allocated" if cuda else "process peak RSS (VmHWM)"
    print("CKPT_RESULT " + json.dumps({"peak": peak, "step": peak - before, "time": elapsed, "measure": measure}),
          flush=True)


# ----------------------------------------------------------------------------- main


def main(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    import slowfast_det  # noqa: F401  (registers the model)

    rows = [
        ["device", args.device if not args.device.startswith("cuda") else torch.cuda.get_device_name(), ""],
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
    rows.append(["load average (1, 5, 15 min) at end", load_avg(), ""])
    return rows


if __name__ == "__main__":
    ckpt_child()
