"""Model benchmark, part ``checkpoint`` (``tools/benchmark.py --task model --parts checkpoint``):
peak memory and step time of training steps with and without
``MODEL.SLOWFAST.ACTIVATION_CHECKPOINT``, each measured in a fresh process
(``python -m benchmarks.model_checkpoint``, :func:`ckpt_child`)."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances

from benchmarks import REPO
from benchmarks.model_inputs import make_inputs, model_cfg

__all__ = ["TARGET_CKPT_MEMORY", "ckpt_child", "part_checkpoint"]

TARGET_CKPT_MEMORY = 0.5


def _ckpt_child_run(args, ckpt: bool, steps: int, fixed_mmap: bool) -> dict:
    """Run :func:`ckpt_child` in a fresh process; returns its result dict."""
    cmd = [
        sys.executable,
        "-m",
        __name__,
        "--ckpt-child",
        "1" if ckpt else "0",
        "--config-file",
        args.ckpt_config,
        "--device",
        args.device,
        "--batch-size",
        str(args.ckpt_batch_size),
        "--input-size",
        *map(str, args.ckpt_input_size),
        "--steps",
        str(steps),
        "--threads",
        str(torch.get_num_threads()),
        "--opts",
        *args.ckpt_opts,
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    if fixed_mmap:
        # Buffers >= 64 KiB are mmap'ed and given back when freed, so the resident set
        # follows the live tensors (glibc's dynamic threshold would keep freed ones).
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("CKPT_RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"checkpoint measurement (ACTIVATION_CHECKPOINT={ckpt}) failed, exit code "
            f"{proc.returncode}:\n{proc.stderr[-4000:]}"
        )
    return json.loads(lines[-1][len("CKPT_RESULT ") :])


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
    what = (
        f"{os.path.basename(args.ckpt_config)} train step, batch {args.ckpt_batch_size} x "
        f"{'x'.join(map(str, args.ckpt_input_size))}, {mem[False]['measure']}"
    )
    gib = 1024**3
    rows += [
        [f"checkpoint: peak memory without ({what})", mem[False]["peak"] / gib, "GiB"],
        ["checkpoint: peak memory with ACTIVATION_CHECKPOINT", mem[True]["peak"] / gib, "GiB"],
        [
            f"checkpoint: peak ratio with / without (target <= {TARGET_CKPT_MEMORY})",
            mem[True]["peak"] / mem[False]["peak"],
            "ratio",
        ],
        [
            "checkpoint: step memory above the model without (peak - before step)",
            mem[False]["step"] / gib,
            "GiB",
        ],
        ["checkpoint: step memory above the model with", mem[True]["step"] / gib, "GiB"],
        [
            "checkpoint: step memory ratio with / without",
            mem[True]["step"] / mem[False]["step"],
            "ratio",
        ],
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
    cfg = model_cfg(
        a.config_file,
        ["MODEL.SLOWFAST.ACTIVATION_CHECKPOINT", str(bool(a.ckpt_child))] + a.opts,
        a.device,
    )
    model = build_model(cfg).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    t, h, w = a.input_size
    clips, slow, fast, boxes = make_inputs(
        a.batch_size, t, h, w, cfg.MODEL.SLOWFAST.ALPHA, 3, a.device
    )
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
    print(
        "CKPT_RESULT "
        + json.dumps({"peak": peak, "step": peak - before, "time": elapsed, "measure": measure}),
        flush=True,
    )


if __name__ == "__main__":
    ckpt_child()
