#!/usr/bin/env python
"""Convert existing SlowFast weights into a file that ``MODEL.WEIGHTS`` accepts.

    .venv/bin/python tools/convert_checkpoint.py --from pytorchvideo \
        SLOWFAST_8x8_R50_DETECTION.pyth out.pth
    .venv/bin/python tools/convert_checkpoint.py --from pyslowfast \
        SLOWFAST_32x2_R50_SHORT.pyth out.pth
    .venv/bin/python tools/convert_checkpoint.py --from pyslowfast-caffe2 \
        SLOWFAST_32x2_R101_50_50.pkl out.pth
    .venv/bin/python tools/convert_checkpoint.py --target classifier --from pytorchvideo \
        SLOWFAST_8x8_R50.pyth out.pth
    .venv/bin/python tools/convert_checkpoint.py --target classifier --from pyslowfast-caffe2 \
        SLOWFAST_8x8_R50.pkl out.pth

--target says which model the weights are for:

  detector (default)  the AVA detector (configs/AVA): a Kinetics classification head
                      (pytorchvideo blocks.N.proj; a PySlowFast head.projection / Caffe2 pred_w
                      with 400, 600 or 700 outputs) is dropped with a log line; the action head
                      keeps its initialisation.
  classifier          the video classifier (configs/Kinetics, configs/Charades): the
                      classification head becomes cls_head.predictor (pytorchvideo blocks.N.proj,
                      PySlowFast head.projection, Caffe2 pred_w / pred_b, any class count).

A classifier file also starts a detector: MODEL.WEIGHTS loads its backbone strictly and lists
its classification head once in the log as unused (see slowfast_det.checkpoint.checkpointer).

Sources are read safely (``torch.load(weights_only=True)``; Caffe2 pickles with an unpickler
that only rebuilds numpy arrays). Any name without a conversion rule stops the conversion
with every such name listed. DST is written atomically (complete or absent).
"""

import argparse
import logging
import pickle
import sys

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

from slowfast_det.checkpoint.convert import SOURCE_FORMATS, TARGETS, convert_checkpoint_file


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--from", dest="fmt", choices=SOURCE_FORMATS, required=True, help="source format"
    )
    parser.add_argument(
        "--target",
        choices=TARGETS,
        default="detector",
        help="model the weights are for: the AVA detector (drops a Kinetics head) "
        "or the video classifier (keeps it as cls_head.predictor); default: "
        "detector",
    )
    parser.add_argument("src", help="source checkpoint (.pyth / .pth / Caffe2 .pkl)")
    parser.add_argument("dst", help="output file for MODEL.WEIGHTS (.pth)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        state_dict = convert_checkpoint_file(args.src, args.dst, args.fmt, target=args.target)
    except (ValueError, OSError, pickle.UnpicklingError) as e:  # errors name the file
        print(f"error: {e}", file=sys.stderr)
        return 1
    n = sum(v.numel() for v in state_dict.values())
    heads = [
        name
        for prefix, name in (
            ("roi_heads.", "an action head"),
            ("cls_head.", "a classification head"),
        )
        if any(k.startswith(prefix) for k in state_dict)
    ]
    with_heads = "with " + " and ".join(heads) if heads else "without a head"
    print(
        f"wrote {args.dst}: {len(state_dict)} tensors, {n:,} values, {with_heads} "
        f"(--target {args.target})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
