"""Model benchmark, part ``profile`` (``tools/benchmark.py --task model --parts profile``):
where our fp32 inference time goes, every backbone ``Conv3d`` timed by forward hooks and
grouped by pathway and kernel, with the GFLOP/s and fraction of the matmul peak of each group."""

import statistics
import time

import torch

from benchmarks.model_inputs import alternate, make_inputs, matmul_fn, ours_call, sync
from slowfast_det.modeling import Conv3d

__all__ = ["part_profile"]


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
