"""Minimal reproduction (torch alone) of a oneDNN heap overflow in the AVX2 kernel
``jit_avx2_1x1_convolution_bwd_weights_t``: the weight gradient of a strided 1x1 convolution
on a channels-last input with few channels.

The call::

    x = torch.randn(32, 4, 10, 10).contiguous(memory_format=torch.channels_last)
    #   shape (32, 4, 10, 10), strides (400, 1, 40, 4)
    w = torch.randn(8, 4, 1, 1, requires_grad=True)    # strides (4, 1, 1, 1)
    y = F.conv2d(x, w, stride=2)                       # forward is right
    y.backward(grad_channels_last)                     # backward (weights) is not

In slowfast_det this is the shortcut convolution of the first res3 block of the Fast pathway
in the test configs (Fast channels 4 -> 8, spatial stride 2), computed as a 2D convolution of
the N*T frames (``slowfast_det/modeling/fast_ops.py``). Observed with torch 2.14.1 (oneDNN 3.12):

* ``ONEDNN_MAX_CPU_ISA=AVX2`` (and on CPUs without AVX-512): the weight gradient is wrong in
  about half of the repetitions (errors of 10-60 against a float64 reference) and glibc aborts
  ("corrupted double-linked list", "free(): invalid size") in longer runs. Valgrind
  (``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 valgrind python this.py``) reports
  "Invalid write of size 8 ... in jit_avx2_1x1_convolution_bwd_weights_t::
  execute_backward_weights, 16 bytes after a block of size 528 alloc'd" by
  ``mkldnn_convolution_backward_weights``: the kernel writes past the end of a buffer.
* The input gradient and the forward are right. Stride 1, a contiguous (NCHW) input, or 8 or
  more input channels did not fail; even spatial sizes fail, odd ones did not.

slowfast_det avoids the call: a strided 1x1 convolution is computed as a stride-1 1x1
convolution of the subsampled input (an exact reformulation: the same products and sums),
see ``fast_ops.conv3d``. ``benchmarks/tests/test_conv_kernels.py`` stress-tests every fast-path
convolution shape of the shipped and test configs under ``MALLOC_CHECK_=3`` for both ISAs.

Run::

    ONEDNN_MAX_CPU_ISA=AVX2 MALLOC_CHECK_=3 python tools/repro_onednn_1x1_bwd_weights.py
    # exit 1 and "BAD" when the kernel is broken, exit 0 and "OK" otherwise
"""

import argparse
import sys

import torch
import torch.nn.functional as F


def run(n, c, h, w, c_out, stride, reps, subsample):
    torch.manual_seed(0)
    bad = 0
    for r in range(reps):
        x = torch.randn(n, c, h, w).contiguous(memory_format=torch.channels_last).requires_grad_()
        weight = torch.randn(c_out, c, 1, 1, requires_grad=True)
        if subsample:  # the workaround: subsample, then a stride-1 1x1 convolution
            xs = x[:, :, ::stride, ::stride].contiguous(memory_format=torch.channels_last)
            y = F.conv2d(xs, weight)
        else:
            y = F.conv2d(x, weight, None, stride)
        grad = torch.randn(y.shape).contiguous(memory_format=torch.channels_last)
        gx, gw = torch.autograd.grad(y, (x, weight), grad)
        x64, g64 = x.detach().double()[:, :, ::stride, ::stride], grad.double()
        gw_ref = torch.einsum("nchw,nohw->oc", x64, g64)
        gx_ref = torch.zeros(x.shape, dtype=torch.float64)
        gx_ref[:, :, ::stride, ::stride] = torch.einsum(
            "nohw,oc->nchw", g64, weight.detach().double()[:, :, 0, 0]
        )
        err_w = (gw.double()[:, :, 0, 0] - gw_ref).abs().max().item()
        err_x = (gx.double() - gx_ref).abs().max().item()
        bad += err_w > 1e-3 or err_x > 1e-3
        print(f"repetition {r}: max |dW - ref| = {err_w:.3g}, max |dX - ref| = {err_x:.3g}")
    return bad


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--shape", type=int, nargs=4, default=[32, 4, 10, 10], metavar=("N", "C", "H", "W")
    )
    p.add_argument("--out-channels", type=int, default=8)
    p.add_argument("--stride", type=int, default=2)
    p.add_argument("--reps", type=int, default=8)
    p.add_argument("--subsample", action="store_true", help="use the workaround (expected: OK)")
    a = p.parse_args(argv)
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    bad = run(*a.shape, a.out_channels, a.stride, a.reps, a.subsample)
    print(f"BAD: {bad} of {a.reps} repetitions wrong" if bad else f"OK: {a.reps} repetitions right")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
