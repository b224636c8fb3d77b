#!/usr/bin/env python
"""Person proposals for an AVA-format dataset: run a Detectron2 detector over its keyframes.

    # the synthetic person detector (tools/train_person_detector.py) on the synthetic val split
    python tools/detect_persons.py --dataset-root datasets/synthetic_ava --split val \\
        --detector-config configs/person_detector/faster_rcnn_R18_FPN_synthetic.yaml \\
        --weights output/person_detector/model_final.pth --output-dir output/detect_persons
    # a COCO detector from Detectron2's model zoo (weights downloaded once; offline pass
    # --weights FILE)
    python tools/detect_persons.py --dataset-root my_ava --split val \\
        --detector-config COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml
    # no detector (offline, a first run): the ground-truth person boxes as oracle proposals
    python tools/detect_persons.py --dataset-root my_ava --split val --boxes-from-groundtruth \\
        --output-dir my_ava/annotations

Input: an AVA-format folder (``--dataset-root`` with ``frames/``, ``frame_lists/<split>.csv``
and ``annotations/ava_<split>_<version>.csv``, or with ``--frame-source video`` the movies
``videos/<video_id>.{mp4,mkv,webm}`` instead of frames and frame list; each file can be given
instead) or a registered AVA dataset (``--dataset synthetic_ava_val``, its own frame source).
Keyframes (``--keyframes``): those of the ground-truth file, or every whole second of every
video when there is none; ``catalog`` takes the registered dataset's dicts as they are (any
frame source with a keyframe reader, see
``slowfast_det.engine.detect_persons.register_keyframe_reader``).

Output: ``<output-dir>/ava_<split>_predicted_boxes.csv`` (or ``--output``) in AVA's format:
``video_id,timestamp,x1,y1,x2,y2,,score`` (timestamp 4 digits, boxes normalised, empty
action id), person class only (``--person-class``, 0 for COCO), boxes with score >=
``--score-thresh``; a keyframe without such a box is a 2-column row. With ground truth, the
person-box AP at IoU 0.5 is printed last (``--evaluate`` scores existing CSVs instead).

Resumable: results are committed every ``--commit-every`` keyframes; the same command
continues an interrupted run and the CSV appears (atomic rename) only when complete.
``--restart`` discards an earlier partial run. The detector's weights are required (a path,
a URL, or a model-zoo name's own); ``--allow-random-weights`` runs an untrained one on purpose.

Without a detector (offline, no weights): ``--boxes-from-groundtruth`` writes the split's
ground-truth person boxes as the proposals, one row per distinct box per keyframe with score
1.0 (no frame is read). These are oracle proposals: an action model evaluated on them is
scored as if person detection were perfect, so its frame-mAP is an upper bound of what a
detector's proposals give (said in a warning in the log).

Frames' origin (``--start-second``, ``--fps``): by default what ``datasets/prepare_ava.py``
recorded in ``frame_lists/frames.json``, else AVA's second 900 at 30 fps; movies start at
second 0.
"""

import argparse
import logging
import os
from collections import Counter

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.utils.logger import setup_logger

import slowfast_det.data  # noqa: F401  (registers the built-in AVA datasets)
from slowfast_det.ava.errors import AVAFormatError
from slowfast_det.ava.layout import split_files
from slowfast_det.ava.person_boxes import person_box_ap, write_groundtruth_person_boxes
from slowfast_det.checkpoint import WeightsDownloadError
from slowfast_det.data.frames import frame_origin, frame_origin_path
from slowfast_det.engine.detect_persons import (
    KEYFRAME_MODES,
    boxes_csv_text,
    keyframe_dicts,
    run_person_detection,
)
from slowfast_det.engine.infer import ResumableResultsWriter, run_fingerprint
from slowfast_det.engine.person_boxes import PersonDetector, check_detector_weights, detector_config
from slowfast_det.engine.predictor import RandomWeightsError

logger = logging.getLogger("slowfast_det.detect_persons")


def get_parser():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    src = p.add_argument_group("dataset")
    src.add_argument(
        "--dataset-root",
        default=None,
        help="AVA-format folder (frames/, frame_lists/, annotations/)",
    )
    src.add_argument(
        "--split", default="val", help="split of --dataset-root (default: %(default)s)"
    )
    src.add_argument(
        "--version",
        default="v2.2",
        help="annotation version in the file names (default: %(default)s)",
    )
    src.add_argument(
        "--dataset", default=None, help="a registered AVA dataset instead, e.g. synthetic_ava_val"
    )
    src.add_argument(
        "--frame-source",
        default="frames",
        choices=("frames", "video"),
        help="keyframes from extracted frames or from the movies (default: %(default)s)",
    )
    src.add_argument("--videos-dir", default=None, help="movie folder (default: <root>/videos)")
    src.add_argument("--frames-dir", default=None, help="frame folder (default: <root>/frames)")
    src.add_argument(
        "--frame-list", default=None, help="frame list (default: <root>/frame_lists/<split>.csv)"
    )
    src.add_argument(
        "--groundtruth",
        default=None,
        help="ground-truth CSV (default: <root>/annotations/ava_<split>_<version>.csv)",
    )
    src.add_argument(
        "--exclusions", default=None, help="excluded-timestamps CSV, for the printed AP only"
    )
    src.add_argument(
        "--keyframes",
        default="auto",
        choices=KEYFRAME_MODES + ("catalog",),
        help="keyframes to detect on: the ground truth's, every second, auto (the ground truth's "
        "if it exists), or catalog (the dicts of --dataset as registered, any frame source) "
        "(default: %(default)s)",
    )
    src.add_argument(
        "--fps",
        type=int,
        default=None,
        help="frame rate of the frames (default: frame_lists/frames.json's, else 30)",
    )
    src.add_argument(
        "--start-second",
        type=int,
        default=None,
        help="movie second of frame 0 (default: frame_lists/frames.json's, else 900 for frames, "
        "as AVA's; 0 for movies)",
    )
    det = p.add_argument_group("detector")
    det.add_argument(
        "--detector-config",
        default=None,
        help="Detectron2 config file or model-zoo name (required unless --boxes-from-groundtruth)",
    )
    det.add_argument(
        "--boxes-from-groundtruth",
        action="store_true",
        help="no detector: write the ground-truth person boxes as oracle proposals (score 1.0; "
        "the action mAP on them is an upper bound)",
    )
    det.add_argument(
        "--weights",
        default="",
        help="detector weights (path or URL; default: the config's / the zoo's)",
    )
    det.add_argument(
        "--person-class",
        type=int,
        default=0,
        help="index of 'person' in the detector's classes (default: 0)",
    )
    det.add_argument(
        "--score-thresh",
        type=float,
        default=0.05,
        help="keep boxes with score >= this (default: %(default)s)",
    )
    det.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    det.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="keyframes per detector call (default: %(default)s)",
    )
    det.add_argument(
        "--num-workers",
        type=int,
        default=2,
        help="keyframe reading processes (default: %(default)s)",
    )
    det.add_argument(
        "--allow-random-weights",
        action="store_true",
        help="run a detector without weights (for tests)",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--output-dir",
        default="output/detect_persons",
        help="folder of the CSV (default: %(default)s)",
    )
    out.add_argument(
        "--output",
        default=None,
        help="the CSV (default: <output-dir>/ava_<split>_predicted_boxes.csv)",
    )
    out.add_argument(
        "--commit-every",
        type=int,
        default=64,
        help="keyframes per durable commit (default: %(default)s)",
    )
    out.add_argument(
        "--restart", action="store_true", help="discard an earlier partial run of the same output"
    )
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    out.add_argument(
        "--report-thresh",
        type=float,
        default=0.8,
        help="score threshold of the printed recall / precision "
        "(default: %(default)s, AVA.DETECTION_SCORE_THRESH)",
    )
    out.add_argument(
        "--evaluate",
        nargs="+",
        default=None,
        metavar="CSV",
        help="only print the person-box AP of these box CSVs against the ground truth",
    )
    p.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        default=[],
        help="detector config overrides: KEY VALUE ...",
    )
    return p


def dataset_files(args):
    """The dataset's files and settings from the arguments: dict with frames_dir, frame_list,
    groundtruth, exclusions, split, fps, start_second, frame_source, videos_dir."""
    if (args.dataset is None) == (args.dataset_root is None):
        raise SystemExit("detect_persons: give either --dataset-root (with --split) or --dataset")
    if args.dataset:
        meta = MetadataCatalog.get(args.dataset)
        if "frames_root" not in meta.__dict__:
            raise SystemExit(f"detect_persons: {args.dataset!r} is not a registered AVA dataset")
        d = dict(
            frames_dir=meta.frames_root,
            frame_list=meta.frame_list_file,
            groundtruth=meta.groundtruth_file,
            exclusions=meta.excluded_timestamps_file,
            split=meta.split,
            fps=meta.fps,
            start_second=meta.start_second,
            frame_source=meta.frame_source,
            videos_dir=meta.videos_root,
        )
    else:
        root, split = args.dataset_root, args.split
        files = {k: os.path.join(root, v) for k, v in split_files(split, args.version).items() if v}
        excl = files["excluded_timestamps_file"]
        d = dict(
            frames_dir=files["frames_dir"],
            frame_list=files["frame_list_file"],
            groundtruth=files["groundtruth_file"],
            exclusions=excl if os.path.exists(excl) else None,
            split=split,
            frame_source=args.frame_source,
            videos_dir=files["videos_dir"],
        )
    for key, given in (
        ("frames_dir", args.frames_dir),
        ("frame_list", args.frame_list),
        ("groundtruth", args.groundtruth),
        ("exclusions", args.exclusions),
        ("videos_dir", args.videos_dir),
    ):
        d[key] = given or d[key]
    if not args.dataset:  # the frames' origin: given, else recorded next to the frame list
        try:
            origin = frame_origin(
                d["frame_source"],
                frame_origin_path(os.path.dirname(d["frame_list"])),
                start_second=args.start_second,
                fps=args.fps,
            )
        except AVAFormatError as e:
            raise SystemExit(f"detect_persons: {e}") from None
        d.update(start_second=origin.start_second, fps=origin.fps)
    return d


def print_quality(groundtruth, exclusions, csv_path, thresh):
    q = person_box_ap(groundtruth, csv_path, exclusions, thresh=thresh)
    print(f"{csv_path}: {q.line()}", flush=True)
    return q


def oracle_boxes(groundtruth, output):
    """``--boxes-from-groundtruth``: the ground-truth person boxes as the proposals."""
    if not os.path.exists(groundtruth):
        raise SystemExit(
            "detect_persons: --boxes-from-groundtruth needs the ground truth: "
            f"{groundtruth} not found"
        )
    stats = write_groundtruth_person_boxes(groundtruth, output)
    logger.warning(
        "%s: ORACLE proposals: the %d ground-truth person boxes of %s (%d keyframes) with score "
        "1.0, no detector; an action model evaluated on them is scored as if person detection "
        "were perfect: its frame-mAP is an upper bound, not comparable with detector proposals",
        output,
        stats["boxes"],
        groundtruth,
        stats["keyframes"],
    )
    return {**stats, "unreadable": 0, "output": output, "quality": None, "oracle": True}


def main(argv=None, after_commit=None):
    """Run the detector; returns the stats of :func:`run_person_detection` plus ``output`` and
    ``quality`` (:class:`~slowfast_det.ava.person_boxes.PersonBoxQuality` or None)."""
    args = get_parser().parse_args(argv)
    setup_logger(name="slowfast_det")
    files = dataset_files(args)
    groundtruth, exclusions, split = files["groundtruth"], files["exclusions"], files["split"]
    has_gt = os.path.exists(groundtruth)
    if args.evaluate:
        if not has_gt:
            raise SystemExit(
                f"detect_persons: --evaluate needs the ground truth: {groundtruth} not found"
            )
        return {
            "quality": [
                print_quality(groundtruth, exclusions, p, args.report_thresh) for p in args.evaluate
            ]
        }

    default_name = os.path.basename(split_files(split, args.version)["predicted_boxes_file"])
    output = args.output or os.path.join(args.output_dir, default_name)
    if args.boxes_from_groundtruth:
        return oracle_boxes(groundtruth, output)
    if not args.detector_config:
        raise SystemExit(
            "detect_persons: --detector-config is required (a Detectron2 config file or model-zoo "
            "name); without a detector, --boxes-from-groundtruth writes the ground-truth boxes as "
            "oracle proposals"
        )
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:  # before reading any data
        dcfg = detector_config(
            args.detector_config, args.weights, args.opts, device, args.score_thresh
        )
        weights = check_detector_weights(dcfg, args.allow_random_weights)
    except (RandomWeightsError, WeightsDownloadError, FileNotFoundError) as e:
        raise SystemExit(f"detect_persons: {e}") from None
    problems = Counter()
    if (
        args.keyframes == "catalog"
    ):  # the registered dataset's own dicts, whatever their frame source
        if not args.dataset:
            raise SystemExit("detect_persons: --keyframes catalog needs --dataset")
        dicts, mode = DatasetCatalog.get(args.dataset), "catalog"
    else:
        try:
            dicts, mode = keyframe_dicts(
                files["frames_dir"],
                files["frame_list"],
                groundtruth,
                args.keyframes,
                fps=files["fps"],
                start_second=files["start_second"],
                dataset_name=args.dataset or split,
                stats=problems,
                frame_source=files["frame_source"],
                videos_dir=files["videos_dir"],
            )
        except (FileNotFoundError, ValueError) as e:
            raise SystemExit(f"detect_persons: {e}") from None
    source = files["videos_dir"] if files["frame_source"] == "video" else files["frame_list"]
    if not dicts:
        raise SystemExit(
            f"detect_persons: no keyframe to detect on ({mode} keyframes of {source}; "
            f"problems: {dict(problems) or 'none counted'})"
        )
    keys = [d["image_id"] for d in dicts]
    fingerprint = run_fingerprint(
        dcfg.dump(),
        [files["frame_list"] if files["frame_source"] == "frames" else None, weights],
        extra=[
            files["frame_source"],
            os.path.abspath(
                files["videos_dir" if files["frame_source"] == "video" else "frames_dir"]
            ),
            files["fps"],
            files["start_second"],
            args.person_class,
            args.score_thresh,
            "\n".join(keys),
        ],
    )
    writer = ResumableResultsWriter(output, fingerprint, boxes_csv_text, restart=args.restart)
    logger.info("%d keyframes (%s), %d already done", len(dicts), mode, len(writer.done))
    stats = {"keyframes": 0, "unreadable": 0, "boxes": 0}
    if len(writer.done) < len(dicts):
        detector = PersonDetector.from_config(dcfg, weights, args.person_class, args.score_thresh)
        stats = run_person_detection(
            detector,
            dicts,
            writer,
            args.batch_size,
            args.num_workers,
            args.commit_every,
            progress=not args.no_progress,
            after_commit=after_commit,
        )
    writer.finish(keys)
    logger.info(
        "wrote %s: %d keyframes (%d in this run, %d unreadable), %d person boxes in this run",
        output,
        len(dicts),
        stats["keyframes"],
        stats["unreadable"],
        stats["boxes"],
    )
    stats["output"] = output
    evaluable = has_gt and mode != "every-second"
    stats["quality"] = (
        print_quality(groundtruth, exclusions, output, args.report_thresh) if evaluable else None
    )
    return stats


if __name__ == "__main__":
    main()
