"""What the model benchmarks share (``tools/benchmark.py --task model``): the config, random
inputs in both models' layouts, one call of each model, alternating timed rounds, the fp32
matmul peak and the score-difference target."""

import time
from typing import Callable, Dict, List, Optional

import torch
from detectron2.structures import Boxes, Instances

from slowfast_det.config import load_slowfast_cfg

__all__ = [
    "TARGET_DIFF",
    "alternate",
    "make_inputs",
    "matmul_fn",
    "model_cfg",
    "ours_call",
    "sync",
    "theirs_call",
]

TARGET_DIFF = 1e-4


def model_cfg(config_file: str, opts: List[str], device: str):
    """The benchmarked config (not frozen): ``config_file`` and ``opts`` on ``device``."""
    return load_slowfast_cfg(config_file, opts, freeze=False, values={"MODEL.DEVICE": device})


def make_inputs(
    batch: int,
    t: int,
    h: int,
    w: int,
    alpha: int,
    num_boxes: int,
    device: str,
    seed: int = 0,
    pixel_mean: float = 0.45 * 255,
    pixel_std: float = 0.225 * 255,
):
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
    h, w = clips.shape[-2:]
    inputs = [
        {"clip": clips[i], "instances": Instances((h, w), proposal_boxes=Boxes(boxes[i]))}
        for i in range(clips.shape[0])
    ]
    return torch.cat([o["instances"].scores for o in model(inputs)])


def theirs_call(model, slow, fast, boxes):
    """pytorchvideo's detector: ``model([slow, fast], rois)``,
    rois (B * R, 5) = batch index + box."""
    idx = torch.arange(fast.shape[0], device=fast.device, dtype=boxes.dtype).repeat_interleave(
        boxes.shape[1]
    )
    rois = torch.cat([idx[:, None], boxes.reshape(-1, 4)], dim=1)
    return model([slow, fast], rois)


def sync(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def alternate(
    fns: Dict[str, Callable[[], object]],
    warmup: int,
    iters: int,
    device: str,
    cpu_times: Optional[Dict[str, List[float]]] = None,
) -> Dict[str, List[float]]:
    """Run the callables in turn (order reversed every other round), ``warmup`` untimed rounds
    then ``iters`` timed ones; returns the seconds of each call per name. ``cpu_times``, if
    given, receives the process CPU seconds (all threads) of each timed call per name."""
    names = list(fns)
    times = {n: [] for n in names}
    for r in range(warmup + iters):
        for n in names if r % 2 == 0 else names[::-1]:
            sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            fns[n]()
            sync(device)
            if r >= warmup:
                times[n].append(time.perf_counter() - t0)
                if cpu_times is not None:
                    cpu_times.setdefault(n, []).append(time.process_time() - c0)
    return times


def matmul_fn(n: int, device: str, reps: int = 3):
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)

    def run():
        for _ in range(reps):
            torch.mm(a, b)

    return run, 2.0 * n**3 * reps
