"""The bare training step (forward, backward, SGD update) on a preloaded batch, for
``tools/benchmark.py --task train --parts step levers shapes`` (:mod:`benchmarks.train`); the
``peer`` and ``bf16`` parts (:mod:`benchmarks.train_peer`, :mod:`benchmarks.train_bf16`) use its
batch, step and row helpers.

- ``step``: our detector built from ``--step-config`` (default: the synthetic config README
  line 1 trains, at its clip length and batch, on ``TRAIN_CROP_SIZE`` squares, or without a
  crop on 4:3 clips of ``TEST_SIZE`` rows: 8 x 16x120x160 there), with and without
  ``MODEL.SLOWFAST.CHANNELS_LAST`` (same weights, same batch), steps alternating (the order
  flips every round) after ``--warmup-steps``; median, min and max seconds of each. Then a
  ``torch.profiler`` table of one channels-last step: the share of the step in each group of
  operators (convolution forward / backward, batch norm forward / backward, matrix products
  (the small convolutions computed as products, :func:`slowfast_det.modeling.fast_ops.
  gemm_conv3d`), the SGD update, everything else).
- ``levers``: the channels-last step with every CPU training lever on and with each one off
  (the Fast stem as one 2D convolution over its temporal taps, the column-sum batch norm of
  narrow maps); alternating steps, the ratio of each to all-on.
- ``shapes``: one model trained on batches of whole 4:3 frames at every short side of
  ``INPUT.TRAIN_JITTER_SCALES`` (what ``INPUT.TRAIN_JITTER_PER_BATCH`` gives the trainer), in a
  seeded random order, ``--shape-steps`` steps: the mean and median step of the second half.
  oneDNN builds its primitives per input shape and keeps ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` of
  them (the machine rows report the value in effect): run it with the capacity set both ways
  (``slowfast_det.utils.cpu_env``) to see what evicting them costs.
Each uses every torch thread the benchmark was given (``--threads``).
"""

import contextlib
import os
import random
import statistics
import time
from typing import Callable, Dict, List
from unittest import mock

import torch
from detectron2.layers import ROIAlign
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from torch.profiler import ProfilerActivity, profile

from benchmarks import REPO
from benchmarks.model_inputs import make_inputs, model_cfg
from slowfast_det.modeling import batch_norm, fast_ops
from slowfast_det.modeling.roi_align import MatrixROIAlign

__all__ = [
    "add_step_arguments",
    "part_levers",
    "part_shapes",
    "part_step",
    "profile_groups",
    "same_weight_models",
]

#: torch.profiler operator name -> group (first matching substring wins).
PROFILE_GROUPS = (
    ("convolution_backward", "convolution backward"),
    ("conv_depthwise", "convolution backward"),
    ("mkldnn_convolution", "convolution forward"),
    ("slow_conv", "convolution forward"),
    ("batch_norm_backward", "batch norm backward"),
    ("batch_norm", "batch norm forward"),
    ("addmm", "matrix products (gemm_conv3d, head)"),
    ("aten::mm", "matrix products (gemm_conv3d, head)"),
    ("bmm", "matrix products (gemm_conv3d, head)"),
    ("Optimizer.step", "SGD update"),
    ("_foreach_", "SGD update"),
)


def add_step_arguments(parser):
    parser.add_argument(
        "--step-config",
        default=None,
        help="step part: the config (default: --config-file, the synthetic one)",
    )
    parser.add_argument("--steps", type=int, default=8, help="step / peer: timed steps each")
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps before")
    parser.add_argument(
        "--peer-input-size",
        nargs=3,
        type=int,
        default=[16, 128, 128],
        metavar=("T", "H", "W"),
        help="peer part: Fast-pathway clip (the Slow pathway gets T / ALPHA frames)",
    )
    parser.add_argument("--peer-batch-size", type=int, default=2)
    parser.add_argument(
        "--peer-config",
        default=os.path.join(REPO, "configs", "AVA", "SLOWFAST_32x2_R50.yaml"),
        help="peer part: our config matching pytorchvideo's slowfast_r50_detection",
    )
    parser.add_argument("--num-boxes", type=int, default=3, help="boxes per clip (step, peer)")
    parser.add_argument(
        "--shape-steps", type=int, default=100, help="shapes part: steps (the second half timed)"
    )


def _batch(cfg, batch: int, t: int, h: int, w: int, num_boxes: int, device: str, seed=0):
    """Our input dicts (uint8 clips, boxes, multi-hot labels), the same clips normalised and
    split for pytorchvideo, its rois (B * R, 5) and the labels (B * R, K)."""
    clips, slow, fast, boxes = make_inputs(
        batch, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, num_boxes, device, seed=seed
    )
    k = cfg.MODEL.ROI_HEADS.NUM_CLASSES
    g = torch.Generator().manual_seed(seed + 1)
    labels = (torch.rand(batch * num_boxes, k, generator=g) < 0.1).float().to(device)
    inputs = []
    for i in range(batch):
        inst = Instances((h, w), proposal_boxes=Boxes(boxes[i]))
        inst.gt_labels = labels[i * num_boxes : (i + 1) * num_boxes]
        inputs.append({"clip": clips[i], "instances": inst})
    idx = torch.arange(batch, device=device, dtype=boxes.dtype).repeat_interleave(num_boxes)
    rois = torch.cat([idx[:, None], boxes.reshape(-1, 4)], dim=1)
    return inputs, [slow, fast], rois, labels


def _sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def ours_step(model, inputs) -> Callable[[], None]:
    """One training step of our detector: loss, backward, SGD."""
    opt = _sgd(model)

    def step():
        loss = sum(model(inputs).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def alternate_steps(fns: Dict[str, Callable[[], None]], warmup: int, iters: int):
    """Wall seconds and process CPU seconds (all threads) of each step, alternating (order
    reversed every other round): ``({name: [wall, ...]}, {name: [cpu, ...]})``."""
    names = list(fns)
    wall, cpu = {n: [] for n in names}, {n: [] for n in names}
    for r in range(warmup + iters):
        for n in names if r % 2 == 0 else names[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            fns[n]()
            if r >= warmup:
                wall[n].append(time.perf_counter() - t0)
                cpu[n].append(time.process_time() - c0)
    return wall, cpu


def _spread_rows(prefix: str, wall: Dict[str, List[float]], cpu, unit_batch: int):
    rows = []
    for name, ts in wall.items():
        med = statistics.median(ts)
        rows += [
            [
                f"{prefix}: {name} step time, median of {len(ts)} "
                f"(min {min(ts):.3f}, max {max(ts):.3f})",
                med,
                "s",
            ],
            [
                f"{prefix}: {name} clips/s (batch {unit_batch} / median)",
                unit_batch / med,
                "clips/s",
            ],
            [
                f"{prefix}: {name} CPU time per step, all threads (median; grows less with the "
                "machine's load than the wall time)",
                statistics.median(cpu[name]),
                "CPU-s",
            ],
        ]
    return rows


def _ratio_row(label: str, times: Dict[str, List[float]], slower: str, faster: str):
    """``[label, median(times[slower]) / median(times[faster]), "ratio"]``."""
    return [label, statistics.median(times[slower]) / statistics.median(times[faster]), "ratio"]


def profile_groups(step: Callable[[], None], steps: int = 1) -> Dict[str, float]:
    """Share of the self CPU time of ``steps`` calls of ``step`` per :data:`PROFILE_GROUPS`
    group (the rest: "other")."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    spent: Dict[str, float] = {}
    for ev in prof.key_averages():
        group = next((g for key, g in PROFILE_GROUPS if key in ev.key), "other")
        spent[group] = spent.get(group, 0.0) + ev.self_cpu_time_total
    total = sum(spent.values()) or 1.0
    return {g: v / total for g, v in sorted(spent.items(), key=lambda kv: -kv[1])}


def _step_setup(args):
    """The step part's config, batch description and input dicts."""
    config = args.step_config or args.config_file
    base = model_cfg(config, list(args.opts), args.device)
    t, batch = base.INPUT.NUM_FRAMES, base.SOLVER.IMS_PER_BATCH
    h = w = base.INPUT.TRAIN_CROP_SIZE
    if not h:  # no crop (the synthetic config): its 4:3 frames at the test short side
        h, w = base.INPUT.TEST_SIZE, round(base.INPUT.TEST_SIZE * 4 / 3)
    inputs, _, _, _ = _batch(base, batch, t, h, w, args.num_boxes, args.device)
    what = f"{os.path.basename(config)}, {batch} x {t}x{h}x{w}, {args.num_boxes} boxes"
    return base, what, inputs


def same_weight_models(base, variants: Dict[str, Callable]) -> Dict[str, torch.nn.Module]:
    """Training-mode models built from copies of ``base``, each changed by its variant's
    ``set(cfg)``, all holding the first one's weights (the parts' A/B pairs)."""
    models = {}
    for name, set_option in variants.items():
        cfg = base.clone()
        set_option(cfg)
        torch.manual_seed(0)
        models[name] = build_model(cfg).train()
    first = next(iter(models.values()))
    for m in models.values():
        if m is not first:
            m.load_state_dict(first.state_dict())
    return models


def part_step(args, rows):
    base, what, inputs = _step_setup(args)
    batch = base.SOLVER.IMS_PER_BATCH
    models = same_weight_models(
        base,
        {
            "channels-last": lambda c: setattr(c.MODEL.SLOWFAST, "CHANNELS_LAST", True),
            "contiguous": lambda c: setattr(c.MODEL.SLOWFAST, "CHANNELS_LAST", False),
        },
    )
    steps = {}
    for name, m in models.items():
        steps[name] = ours_step(m, inputs)
    times, cpu = alternate_steps(steps, args.warmup_steps, args.steps)
    rows.append(["step: model and batch", what, ""])
    rows += _spread_rows("step", times, cpu, batch)
    rows.append(
        _ratio_row(
            "step: speed-up of channels-last (median contiguous / channels-last)",
            times,
            "contiguous",
            "channels-last",
        )
    )
    for group, share in profile_groups(steps["channels-last"]).items():
        rows.append([f"step: profile (channels-last, 1 step): {group}", share, "share"])


def _lever_patch(name: str):
    """``(object, attribute, replacement)`` that turns one CPU training lever off:
    "Fast stem as F.conv3d" (no :func:`~slowfast_det.modeling.fast_ops.taps_conv3d`),
    "PyTorch batch norm" (no :func:`~slowfast_det.modeling.batch_norm.batch_norm_nthwc`),
    "pointwise as products" (the inference size rule of
    :func:`~slowfast_det.modeling.fast_ops.gemm_fits` in training too), "torchvision ROIAlign"
    (no :func:`~slowfast_det.modeling.roi_align.roi_align_matrix`)."""
    if name == "Fast stem as F.conv3d":
        choose = fast_ops.choose_algorithm
        return (
            fast_ops,
            "choose_algorithm",
            lambda *a: "conv3d" if choose(*a) == "taps" else choose(*a),
        )
    if name == "PyTorch batch norm":
        return batch_norm, "NTHWC_MAX_CHANNELS", 0
    if name == "pointwise as products":
        fits = fast_ops.gemm_fits
        return fast_ops, "gemm_fits", lambda *a, backward=False: fits(*a)
    if name == "torchvision ROIAlign":
        return MatrixROIAlign, "forward", ROIAlign.forward
    raise ValueError(f"unknown lever {name!r}; expected one of {LEVERS[1:]}")


@contextlib.contextmanager
def _lever_off(name: str):
    """Within the block, the lever ``name`` is off (:func:`_lever_patch`); "" changes
    nothing."""
    if not name:
        yield
        return
    with mock.patch.object(*_lever_patch(name)):
        yield


LEVERS = (
    "all on",
    "Fast stem as F.conv3d",
    "PyTorch batch norm",
    "pointwise as products",
    "torchvision ROIAlign",
)


def part_levers(args, rows):
    """The channels-last step with every CPU training lever on, and with each one off (same
    model, weights and batch; alternating). On CUDA and AVX-512 CPUs the stem lever is off
    anyway (:func:`~slowfast_det.modeling.fast_ops.choose_algorithm`)."""
    base, what, inputs = _step_setup(args)
    torch.manual_seed(0)
    model = build_model(base).train()
    step = ours_step(model, inputs)

    def variant(name):
        def run():
            with _lever_off("" if name == "all on" else name):
                step()

        return run

    times, cpu = alternate_steps({n: variant(n) for n in LEVERS}, args.warmup_steps, args.steps)
    rows.append(["levers: model and batch", what, ""])
    rows += _spread_rows("levers", times, cpu, base.SOLVER.IMS_PER_BATCH)
    for name in LEVERS[1:]:
        rows.append(
            _ratio_row(f"levers: step time with {name} / all on (median)", times, name, "all on")
        )


def part_shapes(args, rows):
    config = args.step_config or args.config_file
    base = model_cfg(config, list(args.opts), args.device)
    low, high = base.INPUT.TRAIN_JITTER_SCALES
    t, batch = base.INPUT.NUM_FRAMES, base.SOLVER.IMS_PER_BATCH
    steps = {}
    torch.manual_seed(0)
    model = build_model(base).train()
    for size in range(low, high + 1):
        inputs = _batch(base, batch, t, size, round(size * 4 / 3), args.num_boxes, args.device)[0]
        steps[size] = ours_step(model, inputs)
    order = random.Random(0).choices(sorted(steps), k=args.shape_steps)
    times = []
    for size in order:
        t0 = time.perf_counter()
        steps[size]()
        times.append(time.perf_counter() - t0)
    timed = times[len(times) // 2 :]
    rows += [
        [
            "shapes: model and batches",
            f"{os.path.basename(config)}, {batch} x {t}x<s>x<4s/3>, s in {low}..{high} "
            f"({len(steps)} shapes, seeded random order), {args.num_boxes} boxes",
            "",
        ],
        [
            f"shapes: mean step of the last {len(timed)} of {len(times)} "
            f"(median {statistics.median(timed):.3f}, min {min(timed):.3f}, "
            f"max {max(timed):.3f})",
            statistics.mean(timed),
            "s",
        ],
    ]
