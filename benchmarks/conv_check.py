"""Stress check of the fast-path convolutions (:func:`fast_ops.conv3d`) against ``F.conv3d``.

oneDNN picks its convolution kernels by CPU ISA, so a fast path that is right on one machine
can corrupt the heap on another (``tools/repro_onednn_1x1_bwd_weights.py``). This module
lists the convolutions a model really runs (:func:`conv_cases`, from forward pre-hooks) and
runs each one forward and backward through the fast path and through ``F.conv3d`` on
contiguous copies, comparing outputs and both gradients (:func:`check_cases`). Run it in a
fresh process with ``MALLOC_CHECK_=3`` (glibc then aborts on heap corruption instead of
hiding it) and ``ONEDNN_MAX_CPU_ISA=AVX2`` or unset, as ``benchmarks/tests/test_conv_kernels.py``
does::

    MALLOC_CHECK_=3 ONEDNN_MAX_CPU_ISA=AVX2 python -m benchmarks.conv_check cases.json
"""

import argparse
import json
import sys
from typing import Dict, Iterable, List, Optional, Sequence

import torch
import torch.nn.functional as F

from slowfast_det.modeling import fast_ops
from slowfast_det.modeling.layers import Conv3d

__all__ = ["conv_cases", "config_conv_cases", "check_cases", "main"]


def conv_cases(model: torch.nn.Module, inputs: Iterable) -> List[Dict]:
    """The distinct convolutions ``model`` runs on each of ``inputs`` (called as
    ``model(x)`` under no_grad, in eval mode).

    Returns:
        dicts with ``input`` (N, C, T, H, W), ``weight`` (C', C/g, kt, kh, kw), ``stride``,
        ``padding``, ``dilation`` (3-lists) and ``groups``. (Whether the input was
        ``channels_last_3d`` is not recorded: :func:`check_cases` always takes the fast path,
        and the ``meta`` device that :func:`config_conv_cases` uses does not keep formats.)
    """
    cases: List[Dict] = []

    def record(module, args):
        x = args[0]
        case = {
            "input": list(x.shape),
            "weight": list(module.weight.shape),
            "stride": list(module.stride),
            "padding": list(module.padding),
            "dilation": list(module.dilation),
            "groups": module.groups,
        }
        if case not in cases:
            cases.append(case)

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, Conv3d)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            for x in inputs:
                model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return cases


def _clip_sizes(cfg) -> Dict[tuple, bool]:
    """{(H, W): trained at} of the clips the config trains and tests on: square crops, or 4:3
    frames at the short-side jitter bounds when there is no crop (trained at: True); 4:3
    frames at the test size (False, unless also trained at)."""
    inp = cfg.INPUT
    if inp.TRAIN_CROP_SIZE > 0:
        train = [(inp.TRAIN_CROP_SIZE, inp.TRAIN_CROP_SIZE)]
    else:
        train = [
            (s, round(s * 4 / 3))
            for s in (min(inp.TRAIN_JITTER_SCALES), max(inp.TRAIN_JITTER_SCALES))
        ]
    sizes = {(inp.TEST_SIZE, round(inp.TEST_SIZE * 4 / 3)): False}
    sizes.update({hw: True for hw in train})
    return sizes


def config_conv_cases(cfg, num_frames: Optional[int] = None) -> List[Dict]:
    """:func:`conv_cases` of ``cfg``'s backbone on one clip per size the config trains and
    tests at, each case with ``backward``: whether it runs in training (at a training size).

    The backbone is built and run on the ``meta`` device (shapes only, no compute).
    ``num_frames`` overrides ``INPUT.NUM_FRAMES``: fewer frames keep every kernel, stride,
    dilation, channel count and spatial size and make the check cheaper.
    """
    from detectron2.modeling import build_backbone  # the registry; kept out of this module's import

    with torch.device("meta"):
        backbone = build_backbone(cfg)
    t = num_frames or cfg.INPUT.NUM_FRAMES
    alpha = cfg.MODEL.SLOWFAST.ALPHA
    frames = [t // alpha, t] if cfg.MODEL.SLOWFAST.ARCH == "slowfast" else [t]
    cases: List[Dict] = []
    for (h, w), trained in _clip_sizes(cfg).items():
        inputs = [[torch.zeros(1, 3, f, h, w, device="meta") for f in frames]]
        for case in conv_cases(backbone, inputs):
            case["backward"] = trained
            if trained and dict(case, backward=False) in cases:
                cases.remove(dict(case, backward=False))
            if case not in cases and dict(case, backward=True) not in cases:
                cases.append(case)
    return cases


def _max_rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-12)).item()


def check_cases(
    cases: Sequence[Dict],
    reps: int = 2,
    tol: float = 1e-4,
    seed: int = 0,
    small_reps: int = 8,
    small_numel: int = 200_000,
) -> List[str]:
    """Run each case ``reps`` times forward (and backward where ``case["backward"]``, the
    default) through :func:`fast_ops.conv3d` on a ``channels_last_3d`` input and through
    ``F.conv3d`` on contiguous copies: with oneDNN's 2D kernels ("conv2d") every repetition,
    whatever :func:`fast_ops.choose_algorithm` picks on this machine, once as each formulation
    of matrix products ("gemm", "im2col") where its size rule (:func:`fast_ops.gemm_fits`)
    allows them, and once
    as one 2D convolution over the temporal taps ("taps") for a kernel with temporal and
    spatial extent and temporal stride 1 (the Fast stem).

    Cases whose input has at most ``small_numel`` elements run ``max(reps, small_reps)``
    times: they cost little, and a kernel that corrupts memory does not give a wrong value
    every time (the AVX2 1x1 kernel: about half the repetitions).
    The upstream gradient is ``channels_last_3d`` (as the next fast-path layer gives it).
    Returns one message per output / gradient whose largest error relative to the reference's
    largest magnitude exceeds ``tol``; empty when all agree.
    """
    g = torch.Generator().manual_seed(seed)
    failures = []
    for case in cases:
        stride, padding, dilation, groups = (
            case["stride"],
            case["padding"],
            case["dilation"],
            case["groups"],
        )
        backward = case.get("backward", True)
        numel = 1
        for d in case["input"]:
            numel *= d
        runs = [
            (rep, "conv2d")
            for rep in range(max(reps, small_reps) if numel <= small_numel else reps)
        ]
        if fast_ops.gemm_fits(case["input"], case["weight"], stride, groups):
            runs += [(0, "gemm"), (0, "im2col")]
        kt, kh, kw = case["weight"][2:]
        if kt != 1 and (kh != 1 or kw != 1) and groups == 1 and stride[0] == 1:
            runs.append((0, "taps"))  # the Fast stem's training formulation
        for rep, algorithm in runs:
            x = torch.randn(case["input"], generator=g).contiguous(
                memory_format=torch.channels_last_3d
            )
            w = torch.randn(case["weight"], generator=g)
            x_ref = x.contiguous().requires_grad_(backward)
            w_ref = w.clone().requires_grad_(backward)
            x.requires_grad_(backward)
            w.requires_grad_(backward)
            with torch.set_grad_enabled(backward):
                y = fast_ops.conv3d(
                    x, w, None, stride, padding, dilation, groups, algorithm=algorithm
                )
                y_ref = F.conv3d(x_ref, w_ref, None, stride, padding, dilation, groups)
            pairs = [("output", y, y_ref)]
            if backward:
                grad = torch.randn(y.shape, generator=g).contiguous(
                    memory_format=torch.channels_last_3d
                )
                pairs += zip(
                    ("input grad", "weight grad"),
                    torch.autograd.grad(y, (x, w), grad),
                    torch.autograd.grad(y_ref, (x_ref, w_ref), grad.contiguous()),
                )
            for name, got, ref in pairs:
                if got.shape != ref.shape:
                    failures.append(
                        f"{case}: {algorithm}, repetition {rep}: {name} shape {tuple(got.shape)} "
                        f"!= {tuple(ref.shape)}"
                    )
                    continue
                err = _max_rel_err(got, ref)
                if not err <= tol:
                    failures.append(
                        f"{case}: {algorithm}, repetition {rep}: {name} differs from F.conv3d by "
                        f"{err:.3g} (relative)"
                    )
    return failures


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Check fast-path convolutions against F.conv3d.")
    p.add_argument("cases", help="JSON file with a list of cases (see conv_cases)")
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--tol", type=float, default=1e-4)
    a = p.parse_args(argv)
    with open(a.cases) as f:
        cases = json.load(f)
    failures = check_cases(cases, reps=a.reps, tol=a.tol)
    for msg in failures:
        print("MISMATCH", msg)
    print(
        f"conv_check: {len(cases)} cases (at least {a.reps} repetitions each), "
        f"{len(failures)} mismatches "
        f"(CPU capability {torch.backends.cpu.get_cpu_capability()})"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
