"""Benchmark of the AVA frame-mAP evaluator (``tools/benchmark.py --task eval``).

Makes an AVA-val-scale case itself (57,000 keyframes in 64 videos of 897 keyframes, about
2.5 ground-truth persons each with 1-3 actions, about 2.5 detected boxes each scored on
the 60 evaluated classes: about 8.5 million detection rows), writes it as the official
CSV files in a temporary folder, then times, end to end from the CSV files:

- the vectorised evaluator (``slowfast_det.evaluation.ava_map.evaluate_files``), in a
  fresh subprocess whose peak resident memory (``VmHWM``, imports included) is the
  reported peak;
- the straightforward per-keyframe loop (``slowfast_det.evaluation.reference``) on the
  first ``--reference-keys`` keyframes, extrapolated linearly in detection rows to the full
  case (``--reference-full`` runs it on everything instead).

Both are also run on that subset and must give the same mAP (checked to 1e-9).
Scores are written with 6 significant digits, so there are tied scores (ordered by file line in
both implementations). ``--scale`` shrinks the case for a quick run (0.05 = 2,850 keyframes).
Reported times are wall clock and CPU (user + system) seconds; on a shared machine the CPU
seconds are the steadier figure.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

# The 20 AVA v2.x ids that are not among the 60 evaluated classes.
NOT_EVALUATED = {2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40, 42, 44, 50, 53, 55, 71, 75}
EVALUATED = [i for i in range(1, 81) if i not in NOT_EVALUATED]
KEYS_PER_VIDEO = 897  # timestamps 902..1798


def add_arguments(parser):
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 57,000-keyframe case")
    parser.add_argument("--capacity", type=int, default=50, help="per-keyframe cap (0 = keep all)")
    parser.add_argument("--reference-keys", type=int, default=1500, help="keyframes the reference loop is timed on")
    parser.add_argument("--reference-full", action="store_true", help="time the reference loop on the whole case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="keep the generated files here (default: a temp folder)")


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
    lab_id = np.concatenate([rng.choice(pose_ids, n_p), rng.choice(other_ids, n_other.sum(), p=other_w)])
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
    score = np.where(truth, rng.beta(2, 3, truth.shape), rng.beta(1, 6, truth.shape)).astype(np.float32)
    k = min(int(top_classes), len(classes))
    col = np.sort(np.argsort(-score, axis=1, kind="stable")[:, :k], axis=1)  # each box's k best classes
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

    paths = {k: os.path.join(out_dir, f) for k, f in [
        ("labelmap", "labelmap.pbtxt"), ("groundtruth", "gt.csv"), ("detections", "det.csv"), ("exclusions", "excluded.csv")]}
    with open(paths["labelmap"], "w") as f:
        for i in EVALUATED:
            f.write(f'item {{\n  name: "action {i}"\n  id: {i}\n}}\n')
    gt.to_csv(paths["groundtruth"], header=False, index=False, float_format="%.3f")
    det.to_csv(paths["detections"], header=False, index=False, float_format="%.6g")
    excl.to_csv(paths["exclusions"], header=False, index=False)
    info = {"keyframes": num_keys, "gt_rows": len(gt), "det_rows": len(det)}
    if subset_keys > 0:
        sub_videos = set(videos[key_video[:subset_keys]])
        last_ts = key_ts[subset_keys - 1]
        last_vid = videos[key_video[subset_keys - 1]]

        def first_keys(df):
            inside = df["video_id"].isin(sub_videos) & ((df["video_id"] != last_vid) | (df["timestamp"] <= last_ts))
            return df[inside]

        paths["groundtruth_subset"] = os.path.join(out_dir, "gt_subset.csv")
        paths["detections_subset"] = os.path.join(out_dir, "det_subset.csv")
        first_keys(gt).to_csv(paths["groundtruth_subset"], header=False, index=False, float_format="%.3f")
        det_sub = first_keys(det)
        det_sub.to_csv(paths["detections_subset"], header=False, index=False, float_format="%.6g")
        info["det_rows_subset"] = len(det_sub)
    return paths, info


# Peak memory = VmHWM of the child (its own address space's high-water mark; ru_maxrss
# would also count the parent's resident size at fork time, which Linux carries over exec).
_CHILD = r"""
import json, sys, time
from slowfast_det.evaluation.ava_map import evaluate_files

def vm_hwm_kib():
    with open("/proc/self/status") as f:
        return int(next(l for l in f if l.startswith("VmHWM:")).split()[1])

a = json.loads(sys.argv[1])
t, c = time.perf_counter(), time.process_time()
result, _ = evaluate_files(a["labelmap"], a["groundtruth"], a["detections"], a["exclusions"], a["capacity"])
sec, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"seconds": sec, "cpu_seconds": cpu, "peak_rss_kib": vm_hwm_kib(),
                  "mAP": result.mAP, "counts": result.counts}))
"""


def _run_fast_in_subprocess(paths, capacity, gt_key="groundtruth", det_key="detections"):
    arg = json.dumps({"labelmap": paths["labelmap"], "groundtruth": paths[gt_key], "detections": paths[det_key],
                      "exclusions": paths["exclusions"], "capacity": capacity})
    out = subprocess.run([sys.executable, "-c", _CHILD, arg], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(args):
    from slowfast_det.evaluation.reference import reference_evaluate_files

    num_keys = max(10, int(round(57000 * args.scale)))
    ref_keys = num_keys if args.reference_full else min(args.reference_keys, num_keys)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        t = time.perf_counter()
        paths, info = make_case(workdir, num_keys, args.seed, subset_keys=0 if args.reference_full else ref_keys)
        print(f"generated {info['keyframes']} keyframes, {info['gt_rows']} ground-truth rows, "
              f"{info['det_rows']} detection rows in {time.perf_counter() - t:.1f}s ({workdir})", flush=True)

        fast = _run_fast_in_subprocess(paths, args.capacity)
        print(f"vectorised: {fast['seconds']:.2f}s wall, {fast['cpu_seconds']:.2f}s CPU, "
              f"peak RSS {fast['peak_rss_kib'] / 2**20:.2f} GiB, mAP {fast['mAP']:.6f}", flush=True)

        sub = "" if args.reference_full else "_subset"
        ref_rows = info["det_rows"] if args.reference_full else info["det_rows_subset"]
        ref_map, _, ref_t = reference_evaluate_files(
            paths["labelmap"], paths["groundtruth" + sub], paths["detections" + sub], paths["exclusions"], args.capacity)
        fast_sub = fast if args.reference_full else _run_fast_in_subprocess(
            paths, args.capacity, "groundtruth_subset", "detections_subset")
        diff = abs(ref_map - fast_sub["mAP"])
        print(f"reference on {ref_keys} keyframes ({ref_rows} rows): read {ref_t['read_s']:.2f}s + loop "
              f"{ref_t['loop_s']:.2f}s wall ({ref_t['read_cpu_s']:.2f}s + {ref_t['loop_cpu_s']:.2f}s CPU), "
              f"mAP {ref_map:.9f} vs vectorised {fast_sub['mAP']:.9f} (|diff| {diff:.2e})", flush=True)
        if diff > 1e-9:
            raise RuntimeError(f"vectorised and reference mAP differ by {diff:.3e} on the subset")
    scale = info["det_rows"] / ref_rows
    ref = {k: v * scale for k, v in ref_t.items()}
    how = "measured" if args.reference_full else f"x{scale:.1f} from {ref_keys} keyframes"
    ref_wall, ref_cpu = ref["read_s"] + ref["loop_s"], ref["read_cpu_s"] + ref["loop_cpu_s"]
    return [
        ("keyframes", info["keyframes"], ""),
        ("detection rows", info["det_rows"], "rows"),
        ("ground-truth rows", info["gt_rows"], "rows"),
        ("capacity", args.capacity, "per keyframe"),
        ("vectorised end to end (CSV -> mAP), wall", fast["seconds"], "s"),
        ("vectorised end to end, CPU", fast["cpu_seconds"], "s"),
        ("vectorised peak RSS (process, imports included)", fast["peak_rss_kib"] / 2**20, "GiB"),
        (f"reference loop end to end, wall ({how})", ref_wall, "s"),
        (f"reference loop end to end, CPU ({how})", ref_cpu, "s"),
        (f"reference loop, metric part only, CPU ({how})", ref["loop_cpu_s"], "s"),
        ("speedup end to end, wall", ref_wall / fast["seconds"], "x"),
        ("speedup end to end, CPU", ref_cpu / fast["cpu_seconds"], "x"),
        ("speedup, vectorised end to end vs the reference metric loop alone, CPU", ref["loop_cpu_s"] / fast["cpu_seconds"], "x"),
        ("|mAP vectorised - reference| on the subset", diff, ""),
        ("mAP (vectorised, full case)", fast["mAP"], "fraction"),
    ]
