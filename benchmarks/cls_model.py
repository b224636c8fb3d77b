"""Classifier benchmark (``tools/benchmark.py --task cls_model``): our
:class:`~slowfast_det.modeling.VideoClassifier` against pytorchvideo's Kinetics ``slowfast_r50``
holding the same weights, in inference and in training steps.

    .venv/bin/python tools/benchmark.py --task cls_model
    .venv/bin/python tools/benchmark.py --task cls_model --parts compare --iters 10
    .venv/bin/python tools/benchmark.py --task cls_model --parts train --train-batch-size 2

The model: ``configs/Kinetics/SLOWFAST_8x8_R50.yaml`` with ``INPUT.NUM_FRAMES`` and
``INPUT.TRAIN_CROP_SIZE`` set to ``--input-size`` (the head pools the whole feature map, as
pytorchvideo's with ``head_pool_kernel_sizes`` for that size); pytorchvideo 0.1.5's
``slowfast_r50(pretrained=False)`` with random weights and random norm statistics
(:func:`benchmarks.random_weights.randomize_`), converted with ``convert_pytorchvideo(...,
target="classifier")`` (the path of ``tools/convert_checkpoint.py --target classifier``) and
loaded strictly into ours.

Parts (``--parts``; default both):

- ``compare``: one ``--input-size`` clip, fp32, eval mode; ours takes the uint8 clip (it
  normalises and splits it itself), pytorchvideo the normalised, split clip, then a softmax.
  Runs alternate (:func:`benchmarks.model_inputs.alternate`: the order flips every round)
  after ``--warmup`` rounds; medians of ``--iters``. Reports both latencies, the throughput
  ratio (target >= 1.4) and the max abs probability difference (target <= 1e-4).
- ``train``: training steps (forward, cross-entropy, backward, SGD update) on
  ``--train-batch-size`` random clips of ``--train-input-size`` for both models, alternating,
  from the same weights (each model keeps its own updates), medians of ``--train-iters``:
  clips/s of each and their ratio. Ours trains as ``VideoClassificationTrainer`` calls it
  (``model(batched_inputs)["loss_cls"]``).

The training loop with its data (``tools/train_net.py``'s trainer and loader) is timed by
``--task train --config-file configs/synthetic/SLOWFAST_cls_synthetic.yaml``.
"""

import os
import statistics

import torch
import torch.nn.functional as F
from detectron2.modeling import build_model

from benchmarks import REPO
from benchmarks.machine import load_avg, omp_row
from benchmarks.model_inputs import alternate, make_inputs, model_cfg
from benchmarks.random_weights import randomize_
from slowfast_det.checkpoint import convert_pytorchvideo

__all__ = ["add_arguments", "main"]

CONFIG = os.path.join(REPO, "configs", "Kinetics", "SLOWFAST_8x8_R50.yaml")
TARGET_RATIO = 1.4
TARGET_DIFF = 1e-4
PARTS = ("compare", "train")


def add_arguments(parser):
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--config-file", default=CONFIG, help="matches pytorchvideo's slowfast_r50")
    size = dict(nargs=3, type=int, metavar=("T", "H", "W"))
    parser.add_argument("--input-size", default=[32, 224, 224], help="Fast-pathway clip", **size)
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds")
    parser.add_argument("--iters", type=int, default=10, help="timed rounds; medians reported")
    parser.add_argument("--train-input-size", default=[32, 224, 224], **size)
    parser.add_argument("--train-batch-size", type=int, default=1)
    parser.add_argument("--train-iters", type=int, default=3, help="timed training rounds")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")


def build_pair(args, t, h, w):
    """(ours, theirs, cfg): our classifier for a ``t x h x w`` training clip and pytorchvideo's
    ``slowfast_r50`` for the same clip, with the same random weights, both in eval mode."""
    from pytorchvideo.models.hub import slowfast_r50  # optional: only this task needs it

    cfg = model_cfg(
        args.config_file,
        ["INPUT.NUM_FRAMES", str(t), "INPUT.TRAIN_CROP_SIZE", str(h)],
        args.device,
    )
    if h != w:
        raise ValueError(f"--input-size: a square training crop, got {h}x{w}")
    alpha = cfg.MODEL.SLOWFAST.ALPHA
    theirs = randomize_(
        slowfast_r50(
            pretrained=False,
            head_pool_kernel_sizes=((t // alpha, h // 32, w // 32), (t, h // 32, w // 32)),
        )
    )
    ours = build_model(cfg)
    # every converted name fits; the clip statistics stay the config's (not converted)
    missing, unexpected = ours.load_state_dict(
        convert_pytorchvideo(theirs.state_dict(), target="classifier"), strict=False
    )
    if unexpected or sorted(missing) != ["pixel_mean", "pixel_std"]:
        raise RuntimeError(
            f"converted weights do not fit: missing {missing}, unexpected {unexpected}"
        )
    return ours.eval(), theirs.to(args.device).eval(), cfg


def _inputs(cfg, batch, t, h, w, device, seed=0):
    clips, slow, fast, _ = make_inputs(
        batch,
        t,
        h,
        w,
        cfg.MODEL.SLOWFAST.ALPHA,
        0,
        device,
        seed=seed,
        pixel_mean=cfg.MODEL.PIXEL_MEAN[0],
        pixel_std=cfg.MODEL.PIXEL_STD[0],
    )
    return clips, slow, fast


def part_compare(args, rows):
    t, h, w = args.input_size
    ours, theirs, cfg = build_pair(args, t, h, w)
    clips, slow, fast = _inputs(cfg, 1, t, h, w, args.device)

    def run_ours():
        return ours([{"clip": clips[0]}])[0]["scores"]

    def run_theirs():
        return theirs([slow, fast]).softmax(dim=1)[0]

    with torch.no_grad():
        diff = (run_ours() - run_theirs()).abs().max().item()
        times = alternate(
            {"ours": run_ours, "pytorchvideo": run_theirs}, args.warmup, args.iters, args.device
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    size = f"{t}x{h}x{w}"
    for name in ("ours", "pytorchvideo"):
        rows.append(
            [
                f"compare {size}: {name} latency (median of {args.iters}; "
                f"min {min(times[name]):.3f}, max {max(times[name]):.3f})",
                med[name],
                "s",
            ]
        )
    rows += [
        [
            f"compare {size}: throughput ours / pytorchvideo (target >= {TARGET_RATIO})",
            med["pytorchvideo"] / med["ours"],
            "ratio",
        ],
        [
            f"compare {size}: per-round ratios pytorchvideo / ours, min-max",
            "{:.2f}-{:.2f}".format(
                *(
                    f(a / b for a, b in zip(times["pytorchvideo"], times["ours"]))
                    for f in (min, max)
                )
            ),
            "ratio",
        ],
        [
            f"compare {size}: max abs probability difference (target <= {TARGET_DIFF:g})",
            diff,
            "abs",
        ],
    ]


def part_train(args, rows):
    t, h, w = args.train_input_size
    b = args.train_batch_size
    ours, theirs, cfg = build_pair(args, t, h, w)
    clips, slow, fast = _inputs(cfg, b, t, h, w, args.device, seed=1)
    labels = torch.arange(b, device=args.device) % cfg.MODEL.VIDEO_HEAD.NUM_CLASSES
    ours.train()
    theirs.train()
    # dropout as in training in both (same architecture, same weights at the start)
    opt = {
        "o": torch.optim.SGD(ours.parameters(), lr=1e-4, momentum=0.9),
        "t": torch.optim.SGD(theirs.parameters(), lr=1e-4, momentum=0.9),
    }
    batch = [{"clip": clips[i], "label": int(labels[i])} for i in range(b)]

    def step_ours():
        opt["o"].zero_grad(set_to_none=True)
        ours(batch)["loss_cls"].backward()
        opt["o"].step()

    def step_theirs():
        opt["t"].zero_grad(set_to_none=True)
        F.cross_entropy(theirs([slow, fast]), labels).backward()
        opt["t"].step()

    times = alternate(
        {"ours": step_ours, "pytorchvideo": step_theirs}, 1, args.train_iters, args.device
    )
    med = {k: statistics.median(v) for k, v in times.items()}
    size = f"{b} x {t}x{h}x{w}"
    for name in ("ours", "pytorchvideo"):
        rows.append(
            [
                f"train {size}: {name} clips/s (median step {med[name]:.2f} s of "
                f"{args.train_iters}; min {min(times[name]):.2f}, max {max(times[name]):.2f})",
                b / med[name],
                "clips/s",
            ]
        )
    rows.append([f"train {size}: ours / pytorchvideo", med["pytorchvideo"] / med["ours"], "ratio"])


def main(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [
        ["device", args.device, ""],
        ["torch threads", torch.get_num_threads(), ""],
        omp_row(),
        ["load average (1, 5, 15 min) at start", load_avg(), ""],
    ]
    for part in args.parts:
        print(f"[cls_model] {part} ...", flush=True)
        {"compare": part_compare, "train": part_train}[part](args, rows)
    rows.append(["load average (1, 5, 15 min) at end", load_avg(), ""])
    return rows
