"""Benchmark of the AVA frame-mAP evaluator (``tools/benchmark.py --task eval``).

Makes an AVA-val-scale case itself (57,000 keyframes in 64 videos of 897 keyframes, about
2.5 ground-truth persons each with 1-3 actions, about 2.5 detected boxes each with its
``--top-classes`` best-scoring of the 60 evaluated classes: 13 by default, about 1.87
million detection rows; 60 gives about 8.6 million), writes it as the official CSV files,
then times two whole commands end to end from the CSV files (interpreter start, imports,
reading, metric), alternating them ``--repeats`` times and taking medians:

- ours: the default ``tools/eval_ava.py -l -g -x -d`` command (``--capacity`` and
  ``--keys-absent-from-groundtruth`` passed when not the defaults);
- the baseline: ``python -m benchmarks.reference`` with the same flags, the
  per-keyframe loop with the official script's structure (csv reader, a heap per key,
  per-key and per-class numpy evaluation, a Python precision-envelope loop). The official
  ActivityNet script itself cannot be run offline; this is its stand-in.

One more run of ours reports the peak resident memory (``VmHWM`` of the process, imports
included), the CSV reader used and the seconds of each stage (reading, score ranking,
capacity cut, filters, class ranking, matching, AP). Both must give the same mAP (checked
to 1e-9). Scores are written with 6 significant digits, so there are tied scores (in the
official order in both, :mod:`slowfast_det.ava.official_order`). ``--scale`` shrinks the case
for a quick run (0.05 = 2,850 keyframes). Times are wall clock and CPU (user + system of the
child) seconds; on a shared machine the CPU seconds are the steadier figure.
"""

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from benchmarks import REPO as ROOT
from benchmarks.machine import load_avg
from slowfast_det.ava.files import write_box_csv

# The 20 AVA v2.x ids that are not among the 60 evaluated classes.
NOT_EVALUATED = {2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40, 42, 44, 50, 53, 55, 71, 75}
EVALUATED = [i for i in range(1, 81) if i not in NOT_EVALUATED]
KEYS_PER_VIDEO = 897  # timestamps 902..1798


def add_arguments(parser):
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the 57,000-keyframe case"
    )
    parser.add_argument(
        "--top-classes", type=int, default=13, help="classes written per detected box (60 = all)"
    )
    parser.add_argument("--capacity", type=int, default=50, help="per-keyframe cap (0 = keep all)")
    parser.add_argument(
        "--keys-absent-from-groundtruth",
        choices=["false-positive", "ignore"],
        default="false-positive",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="alternating timed runs of each command"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir", default=None, help="keep the generated files here (default: a temp folder)"
    )


def make_case(out_dir, num_keys=57000, seed=0, subset_keys=0, top_classes=60):
    """Write an AVA-like evaluation case (label map, ground truth, detections, exclusions).

    Returns a dict of paths (``labelmap``, ``groundtruth``, ``detections``, ``exclusions``,
    and ``groundtruth_subset`` / ``detections_subset`` for the first ``subset_keys``
    keyframes when > 0) and row counts.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    n_videos = -(-num_keys // KEYS_PER_VIDEO)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"))
    videos = np.array(["".join(rng.choice(alphabet, 11)) for _ in range(n_videos)], dtype=object)
    key_video = np.repeat(np.arange(n_videos), KEYS_PER_VIDEO)[:num_keys]
    key_ts = np.tile(np.arange(902, 902 + KEYS_PER_VIDEO), n_videos)[:num_keys]

    # ground-truth persons: 1 + Poisson(1.5), i.e. about 2.5 per keyframe
    n_persons = np.minimum(1 + rng.poisson(1.5, num_keys), 10)
    p_key = np.repeat(np.arange(num_keys), n_persons)
    n_p = len(p_key)
    cx, cy = rng.uniform(0.15, 0.85, n_p), rng.uniform(0.3, 0.7, n_p)
    w, h = rng.uniform(0.1, 0.3, n_p), rng.uniform(0.3, 0.6, n_p)
    p_box = np.clip(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), 0, 1).round(3)
    # labels: one pose (ids 1..14) plus 0-2 others with Zipf-like frequencies
    pose_ids = np.array([i for i in EVALUATED if i <= 14])
    other_ids = np.array([i for i in range(15, 81)])
    other_w = 1.0 / np.arange(1, len(other_ids) + 1)
    other_w /= other_w.sum()
    n_other = rng.integers(0, 3, n_p)
    lab_person = np.concatenate([np.arange(n_p), np.repeat(np.arange(n_p), n_other)])
    lab_id = np.concatenate(
        [rng.choice(pose_ids, n_p), rng.choice(other_ids, n_other.sum(), p=other_w)]
    )
    o = np.lexsort((lab_id, lab_person))
    lab_person, lab_id = lab_person[o], lab_id[o]
    gt = pd.DataFrame(
        {
            "video_id": videos[key_video[p_key[lab_person]]],
            "timestamp": key_ts[p_key[lab_person]],
            **{c: p_box[lab_person, i] for i, c in enumerate(["x1", "y1", "x2", "y2"])},
            "action_id": lab_id,
            "person_id": lab_person - np.searchsorted(p_key, p_key[lab_person]),
        }
    ).drop_duplicates(subset=["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id"])

    # detected boxes: each person found with p=0.93 (jittered box), plus Poisson(0.2) spurious ones
    found = rng.random(n_p) < 0.93
    f_idx = np.flatnonzero(found)
    jit = rng.normal(0, 0.04, (len(f_idx), 4))
    d_box_true = p_box[f_idx] + jit
    n_spur = rng.poisson(0.2, num_keys)
    s_key = np.repeat(np.arange(num_keys), n_spur)
    sx, sy = rng.uniform(0.1, 0.9, len(s_key)), rng.uniform(0.2, 0.8, len(s_key))
    d_box_spur = np.stack([sx - 0.1, sy - 0.2, sx + 0.1, sy + 0.2], 1)
    d_key = np.concatenate([p_key[f_idx], s_key])
    d_box = np.clip(np.concatenate([d_box_true, d_box_spur]), 0, 1).round(3)
    d_person = np.concatenate([f_idx, np.full(len(s_key), -1)])
    o = np.argsort(d_key, kind="stable")
    d_key, d_box, d_person = d_key[o], d_box[o], d_person[o]
    n_box = len(d_key)
    # every box scored on the 60 evaluated classes; true labels tend to score high
    classes = np.array(EVALUATED)
    truth = np.zeros((n_box, 81), dtype=bool)
    has_p = d_person >= 0
    lab_of_box = np.searchsorted(lab_person, d_person[has_p], side="left")
    lab_end = np.searchsorted(lab_person, d_person[has_p], side="right")
    rows_with_p = np.flatnonzero(has_p)
    for r, lo, hi in zip(rows_with_p, lab_of_box, lab_end):
        truth[r, lab_id[lo:hi]] = True
    truth = truth[:, classes]
    score = np.where(truth, rng.beta(2, 3, truth.shape), rng.beta(1, 6, truth.shape)).astype(
        np.float32
    )
    k = min(int(top_classes), len(classes))
    col = np.sort(
        np.argsort(-score, axis=1, kind="stable")[:, :k], axis=1
    )  # each box's k best classes
    r = np.repeat(np.arange(n_box), k)
    det = pd.DataFrame(
        {
            "video_id": videos[key_video[d_key[r]]],
            "timestamp": key_ts[d_key[r]],
            **{c: d_box[r, i] for i, c in enumerate(["x1", "y1", "x2", "y2"])},
            "action_id": classes[col].reshape(-1),
            "score": np.take_along_axis(score, col, axis=1).reshape(-1).astype(np.float64),
        }
    )
    excl_keys = rng.choice(num_keys, max(1, num_keys // 1000), replace=False)
    excl = pd.DataFrame({"video_id": videos[key_video[excl_keys]], "timestamp": key_ts[excl_keys]})

    paths = {
        k: os.path.join(out_dir, f)
        for k, f in [
            ("labelmap", "labelmap.pbtxt"),
            ("groundtruth", "gt.csv"),
            ("detections", "det.csv"),
            ("exclusions", "excluded.csv"),
        ]
    }
    with open(paths["labelmap"], "w") as f:
        for i in EVALUATED:
            f.write(f'item {{\n  name: "action {i}"\n  id: {i}\n}}\n')
    # the project's one AVA CSV writer (ava.files.write_box_csv), columns named as its reader's
    gt, det = gt.rename(columns={"person_id": "last"}), det.rename(columns={"score": "last"})
    write_box_csv(gt, paths["groundtruth"])
    write_box_csv(det, paths["detections"])
    write_box_csv(excl, paths["exclusions"])
    info = {"keyframes": num_keys, "gt_rows": len(gt), "det_rows": len(det)}
    if subset_keys > 0:
        sub_videos = set(videos[key_video[:subset_keys]])
        last_ts = key_ts[subset_keys - 1]
        last_vid = videos[key_video[subset_keys - 1]]

        def first_keys(df):
            inside = df["video_id"].isin(sub_videos) & (
                (df["video_id"] != last_vid) | (df["timestamp"] <= last_ts)
            )
            return df[inside]

        paths["groundtruth_subset"] = os.path.join(out_dir, "gt_subset.csv")
        paths["detections_subset"] = os.path.join(out_dir, "det_subset.csv")
        write_box_csv(first_keys(gt), paths["groundtruth_subset"])
        det_sub = first_keys(det)
        write_box_csv(det_sub, paths["detections_subset"])
        info["det_rows_subset"] = len(det_sub)
    return paths, info


# Peak memory = VmHWM of the child (its own address space's high-water mark; ru_maxrss
# would also count the parent's resident size at fork time, which Linux carries over exec).
_CHILD = r"""
import json, os, sys, time
from slowfast_det.ava.evaluate import evaluate_files
from slowfast_det.ava.box_arrays import HAVE_PYARROW

def vm_hwm_kib():
    with open("/proc/self/status") as f:
        return int(next(l for l in f if l.startswith("VmHWM:")).split()[1])

a = json.loads(sys.argv[1])
timings = {}
result, _ = evaluate_files(a["labelmap"], a["groundtruth"], a["detections"], a["exclusions"],
                           a["capacity"], keys_absent_from_groundtruth=a["rule"], timings=timings)
print(json.dumps({"timings": timings, "peak_rss_kib": vm_hwm_kib(), "mAP": result.mAP,
                  "counts": result.counts, "pyarrow": HAVE_PYARROW,
                  "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _flags(paths, args):
    flags = [
        "-l",
        paths["labelmap"],
        "-g",
        paths["groundtruth"],
        "-x",
        paths["exclusions"],
        "-d",
        paths["detections"],
    ]
    if args.capacity != 50:
        flags += ["--capacity", str(args.capacity)]
    if args.keys_absent_from_groundtruth != "false-positive":
        flags += ["--keys-absent-from-groundtruth", args.keys_absent_from_groundtruth]
    return flags


def _timed(cmd, env=None):
    """Run a command; returns (wall s, child CPU s (user + system), stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def _machine():
    with open("/proc/cpuinfo") as f:
        model = next(
            (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
            "unknown",
        )
    try:
        cap = (
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import torch; print(torch.backends.cpu.get_cpu_capability())",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout.strip()
            or "n/a"
        )
    except (OSError, subprocess.TimeoutExpired):
        cap = "n/a"
    return model, os.cpu_count(), cap


def main(args):
    num_keys = max(10, int(round(57000 * args.scale)))
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        t = time.perf_counter()
        paths, info = make_case(workdir, num_keys, args.seed, top_classes=args.top_classes)
        print(
            f"generated {info['keyframes']} keyframes, {info['gt_rows']} ground-truth rows, "
            f"{info['det_rows']} detection rows in {time.perf_counter() - t:.1f}s ({workdir})",
            flush=True,
        )
        flags = _flags(paths, args)
        ours_cmd = [sys.executable, os.path.join(ROOT, "tools", "eval_ava.py"), *flags]
        ref_cmd = [sys.executable, "-m", "benchmarks.reference", *flags]

        arg = json.dumps(
            {
                "labelmap": paths["labelmap"],
                "groundtruth": paths["groundtruth"],
                "detections": paths["detections"],
                "exclusions": paths["exclusions"],
                "capacity": args.capacity,
                "rule": args.keys_absent_from_groundtruth,
            }
        )
        probe = json.loads(
            subprocess.run(
                [sys.executable, "-c", _CHILD, arg],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        stages = probe["timings"]
        print(
            "ours, seconds per stage (one in-process run): "
            + ", ".join(f"{k} {v:.3f}" for k, v in stages.items()),
            flush=True,
        )
        heavy = sorted({"torch", "detectron2", "matplotlib", "pandas"} & set(probe["modules"]))
        print(
            f"ours: peak RSS {probe['peak_rss_kib'] / 2**20:.2f} GiB, "
            f"pyarrow {'yes' if probe['pyarrow'] else 'no'}, "
            f"heavy modules imported: {heavy or 'none'}",
            flush=True,
        )

        runs = {"ours": [], "reference": []}
        ref_map = None
        for i in range(max(1, args.repeats)):
            for name, cmd in (("ours", ours_cmd), ("reference", ref_cmd)):
                wall, cpu, out = _timed(cmd, env)
                runs[name].append((wall, cpu))
                if name == "reference":
                    ref_map = float(re.search(r"frame-mAP@0.5IOU: ([0-9.]+)", out).group(1))
                print(
                    f"run {i + 1} {name}: {wall:.2f}s wall, {cpu:.2f}s CPU (load {load_avg()})",
                    flush=True,
                )
    diff = abs(ref_map - probe["mAP"])
    print(
        f"mAP ours {probe['mAP']:.12f} vs reference {ref_map:.12f} (|diff| {diff:.2e})", flush=True
    )
    if diff > 1e-9:
        raise RuntimeError(f"vectorised and reference mAP differ by {diff:.3e}")
    med = {
        n: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
        for n, r in runs.items()
    }
    model, ncpu, cap = _machine()
    read_s = sum(v for k, v in stages.items() if k.startswith("read"))
    return [
        (name, f"{v:.4g}" if isinstance(v, float) else v, unit)
        for name, v, unit in [
            ("machine", f"{model}, {ncpu} cores, torch CPU capability {cap}", ""),
            ("load average (1, 5, 15 min) at the end", load_avg(), ""),
            ("keyframes", info["keyframes"], ""),
            ("detection rows", info["det_rows"], "rows"),
            ("ground-truth rows", info["gt_rows"], "rows"),
            ("capacity", args.capacity, "per keyframe"),
            ("keys absent from the ground truth", args.keys_absent_from_groundtruth, "rule"),
            ("command (ours)", "python tools/eval_ava.py " + " ".join(flags), ""),
            ("command (baseline)", "python -m benchmarks.reference " + " ".join(flags), ""),
            (f"ours end to end, wall (median of {len(runs['ours'])})", med["ours"][0], "s"),
            ("ours end to end, CPU", med["ours"][1], "s"),
            (
                f"official-structure loop end to end, wall (median of {len(runs['reference'])})",
                med["reference"][0],
                "s",
            ),
            ("official-structure loop end to end, CPU", med["reference"][1], "s"),
            ("speedup end to end, wall (target >= 20)", med["reference"][0] / med["ours"][0], "x"),
            ("speedup end to end, CPU", med["reference"][1] / med["ours"][1], "x"),
            ("ours: reading the CSVs (in process)", read_s, "s"),
            ("ours: metric after reading (in process)", sum(stages.values()) - read_s, "s"),
            (
                "ours peak RSS (process, imports included; target < 3)",
                probe["peak_rss_kib"] / 2**20,
                "GiB",
            ),
            ("|mAP ours - reference|", f"{diff:.2e}", ""),
            ("mAP (ours)", f"{probe['mAP']:.12f}", "fraction"),
        ]
    ]
