#!/usr/bin/env python
"""Convert existing SlowFast weights into a file that ``MODEL.WEIGHTS`` accepts.

    .venv/bin/python tools/convert_checkpoint.py --from pytorchvideo SLOWFAST_8x8_R50_DETECTION.pyth out.pth
    .venv/bin/python tools/convert_checkpoint.py --from pyslowfast SLOWFAST_32x2_R50_SHORT.pyth out.pth
    .venv/bin/python tools/convert_checkpoint.py --from pyslowfast-caffe2 SLOWFAST_32x2_R101_50_50.pkl out.pth

Sources are read safely (``torch.load(weights_only=True)``; Caffe2 pickles with an unpickler
that only rebuilds numpy arrays). A Kinetics classification head is dropped with a log line;
any other name without a conversion rule stops the conversion with every such name listed.
DST is written atomically (complete or absent).
"""
import argparse
import logging
import pickle
import sys

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from slowfast_det.checkpoint.convert import SOURCE_FORMATS, convert_checkpoint_file


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="fmt", choices=SOURCE_FORMATS, required=True, help="source format")
    parser.add_argument("src", help="source checkpoint (.pyth / .pth / Caffe2 .pkl)")
    parser.add_argument("dst", help="output file for MODEL.WEIGHTS (.pth)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        state_dict = convert_checkpoint_file(args.src, args.dst, args.fmt)
    except (ValueError, OSError, pickle.UnpicklingError) as e:  # errors name the file
        print(f"error: {e}", file=sys.stderr)
        return 1
    n = sum(v.numel() for v in state_dict.values())
    has_head = any(k.startswith("roi_heads.") for k in state_dict)
    print(f"wrote {args.dst}: {len(state_dict)} tensors, {n:,} values, "
          f"{'with' if has_head else 'without'} an action head")
    return 0


if __name__ == "__main__":
    sys.exit(main())
