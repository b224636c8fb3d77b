"""Training throughput against the closest installable peer, for ``tools/benchmark.py --task
train --parts peer`` (:mod:`benchmarks.train`).

    .venv/bin/python tools/benchmark.py --task train --parts peer --threads 2

One training step of SLOWFAST_32x2_R50 (``MODEL.ROI_ACTION_HEAD.ALIGNED False``)
against pytorchvideo 0.1.5's ``slowfast_r50_detection`` (the closest installable peer:
``create_slowfast_with_roi_head``, logits out, binary cross-entropy with logits as ours)
holding the same random weights (converted with ``convert_pytorchvideo``), on the same batch
of ``--peer-batch-size`` clips of ``--peer-input-size`` with ``--num-boxes`` boxes each,
both with batch norm in training mode and SGD (lr 0.01, momentum 0.9) over every
parameter; alternating steps; clips/s of each (batch / median step time) and their ratio.
The batch, our step and the rows are the step part's (:mod:`benchmarks.train_step`).
"""

from typing import Callable

import torch.nn.functional as F
from detectron2.modeling import build_model

from benchmarks.model_inputs import model_cfg
from benchmarks.random_weights import randomize_
from benchmarks.train_step import (
    _batch,
    _ratio_row,
    _sgd,
    _spread_rows,
    alternate_steps,
    ours_step,
)
from slowfast_det.checkpoint import convert_pytorchvideo

__all__ = ["part_peer", "theirs_step"]


def theirs_step(model, pathways, rois, labels) -> Callable[[], None]:
    """One training step of pytorchvideo's detector (logits out): BCE with logits, SGD."""
    opt = _sgd(model)

    def step():
        # a new list each call: pytorchvideo's model writes its features into the list
        loss = F.binary_cross_entropy_with_logits(model(list(pathways), rois), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def part_peer(args, rows):
    from pytorchvideo.models.hub.slowfast import slowfast_r50_detection  # optional dependency

    t, h, w = args.peer_input_size
    b = args.peer_batch_size
    # --opts are the step part's: the peer model must stay the one pytorchvideo builds
    cfg = model_cfg(args.peer_config, ["MODEL.ROI_ACTION_HEAD.ALIGNED", "False"], args.device)
    alpha = cfg.MODEL.SLOWFAST.ALPHA
    theirs = randomize_(
        slowfast_r50_detection(
            pretrained=False,
            head_pool_kernel_sizes=((t // alpha, 1, 1), (t, 1, 1)),
            head_activation=None,  # logits, as ours in training
        )
    )
    ours = build_model(cfg)
    missing, unexpected = ours.load_state_dict(
        convert_pytorchvideo(theirs.state_dict()), strict=False
    )
    if unexpected or sorted(missing) != ["pixel_mean", "pixel_std"]:
        raise RuntimeError(f"converted weights do not fit: missing {missing}, extra {unexpected}")
    ours.to(args.device).train()
    theirs.to(args.device).train()
    inputs, pathways, rois, labels = _batch(cfg, b, t, h, w, args.num_boxes, args.device)
    times, cpu = alternate_steps(
        {
            "ours": ours_step(ours, inputs),
            "pytorchvideo": theirs_step(theirs, pathways, rois, labels),
        },
        args.warmup_steps,
        args.steps,
    )
    rows.append(
        [
            "peer: model and batch",
            f"SLOWFAST_32x2_R50 (ALIGNED False) vs pytorchvideo slowfast_r50_detection, "
            f"{b} x {t}x{h}x{w}, {args.num_boxes} boxes",
            "",
        ]
    )
    rows += _spread_rows("peer", times, cpu, b)
    rows.append(
        _ratio_row(
            "peer: training throughput ours / pytorchvideo (median)", times, "pytorchvideo", "ours"
        )
    )
