"""Person tracking on the synthetic demo video: id switches against the generator's people.

    .venv/bin/python tools/benchmark.py --task tracking [--duration 60] [--seed 1000]
        [--iou-thresh 0.3] [--max-lost 1]

Renders the synthetic demo video (``slowfast_det.synthetic.demo_video``, as
``tools/make_synthetic_video.py``: its ``_gt.csv`` has the generator's person id of every
ground-truth box, its ``_boxes.csv`` detector-like boxes), runs the file demo
(``VideoActionDemo.run``, the ``tools/demo.py --boxes`` path, with an all-zero action model
since ids do not depend on scores) once per tracker (``--tracker iou`` and ``hungarian``) and
per box source (the detector-like boxes, and the ground-truth boxes themselves), and reads
the persons CSV it writes.

Per keyframe, tracks are matched to ground-truth people one-to-one by IoU >= 0.5
(Hungarian). An *id switch* is a ground-truth person matched to another track id than at
its previous matched keyframe (CLEAR-MOT's IDSW); also reported: the ground-truth boxes
matched, the track ids created, and the tracks per ground-truth person.
"""

import os
import tempfile

import numpy as np
from scipy.optimize import linear_sum_assignment

from slowfast_det.ava.files import write_box_csv
from slowfast_det.ava.io import read_box_csv
from slowfast_det.config import load_slowfast_cfg
from slowfast_det.engine.demo_options import DemoOptions
from slowfast_det.engine.demo_runner import VideoActionDemo
from slowfast_det.synthetic.demo_video import write_demo_video

PAIR_IOU = 0.5


def add_arguments(parser):
    parser.add_argument(
        "--config-file", default=os.path.join("configs", "synthetic", "SLOWFAST_synthetic.yaml")
    )
    parser.add_argument("--duration", type=int, default=60, help="seconds of synthetic video")
    parser.add_argument(
        "--seed", type=int, default=1000, help="generator seed (the demo video's default)"
    )
    parser.add_argument(
        "--iou-thresh",
        type=float,
        default=None,
        help="the demo's --track-iou-thresh (default: its default)",
    )
    parser.add_argument(
        "--max-lost",
        type=int,
        default=None,
        help="the demo's --track-max-lost (default: its default)",
    )


def _iou(a, b):
    """IoU matrix (len(a), len(b)) of x1y1x2y2 boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


def _boxes_by_time(rows):
    """{timestamp: (boxes (R, 4), ids (R,))}, one entry per distinct box of the AVA rows."""
    rows = rows.drop_duplicates(subset=["timestamp", "x1", "y1", "x2", "y2", "last"])
    return {
        int(t): (
            g[["x1", "y1", "x2", "y2"]].to_numpy(np.float64),
            g["last"].to_numpy().astype(np.int64),
        )
        for t, g in rows.groupby("timestamp")
    }


def id_switches(gt, tracks):
    """CLEAR-MOT style counts of ``tracks`` against ``gt`` (both ``{t: (boxes, ids)}``)."""
    last_track = {}
    switches = matched = total = 0
    per_person = {}
    for t in sorted(gt):
        g_boxes, g_ids = gt[t]
        total += len(g_ids)
        if t not in tracks or len(tracks[t][0]) == 0:
            continue
        p_boxes, p_ids = tracks[t]
        iou = _iou(g_boxes, p_boxes)
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] < PAIR_IOU:
                continue
            person, track = int(g_ids[r]), int(p_ids[c])
            matched += 1
            if person in last_track and last_track[person] != track:
                switches += 1
            last_track[person] = track
            per_person.setdefault(person, set()).add(track)
    all_tracks = {int(i) for _, ids in tracks.values() for i in ids}
    return {
        "gt_boxes": total,
        "matched": matched,
        "switches": switches,
        "gt_people": len({int(i) for _, ids in gt.values() for i in ids}),
        "tracks": len(all_tracks),
        "tracks_per_person": float(np.mean([len(v) for v in per_person.values()]))
        if per_person
        else 0.0,
    }


class _ZeroPredictor:
    def __init__(self, num_classes):
        self.num_classes = num_classes

    def __call__(self, clip, boxes):
        return np.zeros((len(boxes), self.num_classes), np.float32)


def main(args):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        video = os.path.join(tmp, "synthetic_demo.mp4")
        stem = os.path.splitext(video)[0]
        num_frames = write_demo_video(video, seed=args.seed, duration=args.duration)
        print(f"wrote {video} ({num_frames} frames, 30 fps), {stem}_gt.csv and {stem}_boxes.csv")
        gt_rows = read_box_csv(stem + "_gt.csv", kind="groundtruth").rows
        gt = _boxes_by_time(gt_rows)
        # the ground-truth boxes as a box CSV (score 1) for the perfect-detector run
        gt_boxes_csv = stem + "_gt_boxes.csv"
        people = gt_rows.drop_duplicates(subset=["timestamp", "x1", "y1", "x2", "y2", "last"])
        write_box_csv(
            {
                "video_id": ["synthetic_demo"] * len(people),
                "timestamp": people["timestamp"].to_numpy(),
                **{c: people[c].to_numpy() for c in ("x1", "y1", "x2", "y2")},
                "last": np.ones(len(people)),
            },
            gt_boxes_csv,
        )
        for source, boxes_csv in (
            ("detector-like boxes", stem + "_boxes.csv"),
            ("ground-truth boxes", gt_boxes_csv),
        ):
            for kind in ("iou", "hungarian"):
                options = DemoOptions(tracker=kind, min_output_size=0)
                if args.iou_thresh is not None:
                    options.track_iou_thresh = args.iou_thresh
                if args.max_lost is not None:
                    options.track_max_lost = args.max_lost
                cfg = load_slowfast_cfg(args.config_file)
                predictor = _ZeroPredictor(cfg.MODEL.ROI_HEADS.NUM_CLASSES)
                demo = VideoActionDemo(cfg, predictor=predictor, options=options)
                persons_csv = os.path.join(tmp, f"persons_{kind}.csv")
                demo.run(
                    video,
                    os.path.join(tmp, "out.mp4"),
                    os.path.join(tmp, "out.csv"),
                    boxes_csv=boxes_csv,
                    progress=False,
                    persons_csv=persons_csv,
                )
                tracks = _boxes_by_time(read_box_csv(persons_csv, kind="proposals").rows)
                m = id_switches(gt, tracks)
                name = f"{source}, {kind}"
                rows += [
                    (f"{name}: id switches", m["switches"], ""),
                    (
                        f"{name}: ground-truth boxes matched (IoU >= {PAIR_IOU})",
                        f"{m['matched']} / {m['gt_boxes']}",
                        "",
                    ),
                    (
                        f"{name}: track ids / ground-truth people",
                        f"{m['tracks']} / {m['gt_people']}",
                        "",
                    ),
                    (f"{name}: tracks per matched person", m["tracks_per_person"], ""),
                ]
        # reference: no tracking at all (a new id for every box of every keyframe)
        fresh, n = {}, 0
        for t, (b, _) in gt.items():
            fresh[t] = (b, np.arange(n, n + len(b)))
            n += len(b)
        rows.insert(
            0,
            ("no tracking (a new id per box): id switches", id_switches(gt, fresh)["switches"], ""),
        )
        rows.insert(
            0,
            (
                "synthetic video",
                f"{args.duration} s, seed {args.seed}, {len(gt)} keyframes with people",
                "",
            ),
        )
        rows.insert(
            1,
            (
                "tracker settings",
                f"--track-iou-thresh {options.track_iou_thresh}, "
                f"--track-max-lost {options.track_max_lost}",
                "",
            ),
        )
    return rows
