#!/usr/bin/env python
"""Score the person boxes of AVA-format keyframes with a trained model (no ground truth).

    python tools/infer_ava.py --config-file configs/AVA/SLOWFAST_32x2_R50.yaml \\
        --frames-dir ava/frames --frame-list ava/frame_lists/val.csv \\
        --boxes ava/annotations/ava_val_predicted_boxes.csv --output results.csv \\
        MODEL.WEIGHTS model_final.pth
    # from the movies instead of extracted frames
    python tools/infer_ava.py --config-file CFG --videos-dir my_ava/videos \\
        --boxes my_ava/annotations/ava_val_predicted_boxes.csv --output results.csv \\
        MODEL.WEIGHTS model_final.pth

Input: a frame folder (``<frames-dir>/<video_id>/...jpg`` at ``--fps``, frame 0 being second
``--start-second``), its PySlowFast frame list (without ``--frame-list``, every image in
``<frames-dir>/<video_id>/`` of the videos in ``--boxes`` is taken, in name order), or the
movies (``--videos-dir``: ``<video_id>.{mp4,mkv,webm}``, read by time as the ``_video``
datasets read them, timestamps are movie seconds), and a predicted-boxes CSV (AVA format;
boxes with score >= ``AVA.DETECTION_SCORE_THRESH`` are scored). The frames' origin is
``--start-second`` / ``--fps``, else what ``datasets/prepare_ava.py`` recorded in
``frame_lists/frames.json`` (next to ``--frame-list``, or beside ``--frames-dir``), else
AVA's second 900 at 30 fps. Every keyframe the box CSV names is processed when its video is
in the frame list (has a movie) and the keyframe inside the video; the others are counted
and logged. When no keyframe can be processed the run stops with exit status 1 and says why
(e.g. which video ids of the box CSV are missing from the frame list).

``MODEL.WEIGHTS`` must name trained weights (a path, or a URL downloaded once; offline that
fails with a message saying to download it and pass its path); ``--allow-random-weights``
runs an untrained model on purpose.

Output: the results CSV in the evaluator's format (written once, at the end, by the
evaluator's own writer),
``video_id,timestamp,x1,y1,x2,y2,action_id,score`` (boxes normalised, timestamps 4 digits),
one row per box and class: the classes of ``--label-map`` (as the evaluator writes them),
or all ``MODEL.ROI_HEADS.NUM_CLASSES`` without it.

Resumable: results are committed every ``--commit-every`` keyframes (to ``<output>.partial``
and ``<output>.progress``); run the same command again after an interruption and it
continues where it stopped. The CSV appears (atomic) only when every keyframe is done, and
holds each keyframe once. ``--restart`` discards an earlier partial run.

No temporary file and no dataset registration: the keyframes' dataset dicts are built in
memory (``load_ava_dicts``, the registration's builder; without ``--frame-list`` from a
frame list made in memory) and given to the inference loader.
"""

import argparse
import logging
import os
from collections import Counter

from slowfast_det.utils.cpu_env import configure_cpu_threads

configure_cpu_threads()  # first: OMP_WAIT_POLICY before torch loads (slowfast_det/utils/cpu_env.py)

import pandas as pd
from detectron2.utils.logger import setup_logger

from slowfast_det.ava.layout import FRAME_LISTS_DIR
from slowfast_det.config import load_slowfast_cfg

logger = logging.getLogger("slowfast_det.infer_ava")

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def get_parser():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config-file", required=True, metavar="FILE", help="SlowFast config")
    media = p.add_mutually_exclusive_group(required=True)
    media.add_argument("--frames-dir", help="frame folder: <frames-dir>/<video_id>/<frames>")
    media.add_argument(
        "--videos-dir", help="movie folder: <videos-dir>/<video_id>.{mp4,mkv,webm} (no frames)"
    )
    p.add_argument(
        "--frame-list", default=None, help="PySlowFast frame list (default: scan the frame folders)"
    )
    p.add_argument("--boxes", required=True, help="predicted person boxes CSV (AVA format)")
    p.add_argument(
        "--exclusions", default=None, help="optional excluded-timestamps CSV (video_id,timestamp)"
    )
    p.add_argument(
        "--label-map",
        default=None,
        help="label map (.pbtxt): write its classes only (default: all)",
    )
    p.add_argument("--output", required=True, help="results CSV")
    p.add_argument(
        "--fps",
        type=int,
        default=None,
        help="frame rate of the frames (default: frame_lists/frames.json's, else 30)",
    )
    p.add_argument(
        "--start-second",
        type=int,
        default=None,
        help="movie second of frame 0 (default: frame_lists/frames.json's, else 900 as AVA's; "
        "0 for movies)",
    )
    p.add_argument(
        "--commit-every",
        type=int,
        default=64,
        help="keyframes per durable commit (default: %(default)s)",
    )
    p.add_argument(
        "--restart", action="store_true", help="discard an earlier partial run of the same output"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--allow-random-weights",
        action="store_true",
        help="run even though MODEL.WEIGHTS is empty (an untrained model; for tests)",
    )
    p.add_argument(
        "opts", nargs=argparse.REMAINDER, default=[], help="config overrides: KEY VALUE ..."
    )
    return p


def setup_cfg(args):
    return load_slowfast_cfg(args.config_file, args.opts)


def scan_frame_list(frames_dir, video_ids):
    """The frame list of every image in ``<frames_dir>/<video_id>/`` (name order) as
    :func:`~slowfast_det.ava.io.read_frame_list` returns one: a DataFrame with ``video_id``,
    ``frame_id`` (0, 1, ... per video), ``path`` (``<video_id>/<name>``) and ``line`` (its row,
    1-based, as if written under a header)."""
    rows = []
    for vid in sorted(video_ids):
        folder = os.path.join(frames_dir, vid)
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"frame folder of video {vid!r} (named in the box CSV) not found: {folder}"
            )
        names = sorted(n for n in os.listdir(folder) if n.lower().endswith(_IMAGE_EXTENSIONS))
        if not names:
            raise FileNotFoundError(f"no frames (.jpg/.png) in {folder}")
        rows += [(vid, i, f"{vid}/{n}") for i, n in enumerate(names)]
    df = pd.DataFrame(rows, columns=["video_id", "frame_id", "path"])
    df["line"] = range(2, len(df) + 2)
    return df


def resolve_origin(args):
    """Set ``args.start_second`` / ``args.fps`` by the one origin rule
    (:func:`~slowfast_det.data.frames.frame_origin`): given, else recorded by prepare_ava
    next to the frame list (or in ``frame_lists/`` beside the frame folder), else the default."""
    from slowfast_det.data.frames import frame_origin, frame_origin_path

    if args.videos_dir:
        source, lists_dir = "video", None
    elif args.frame_list:
        source, lists_dir = "frames", os.path.dirname(os.path.abspath(args.frame_list))
    else:
        frames_dir = os.path.abspath(args.frames_dir)
        source, lists_dir = "frames", os.path.join(os.path.dirname(frames_dir), FRAME_LISTS_DIR)
    origin = frame_origin(
        source,
        frame_origin_path(lists_dir) if lists_dir else None,
        start_second=args.start_second,
        fps=args.fps,
    )
    args.start_second, args.fps = origin.start_second, origin.fps
    logger.info(
        "frame index 0 is movie second %d at %d fps (%s)",
        origin.start_second,
        origin.fps,
        origin.source,
    )


def no_keyframe_reason(args, stats):
    """Why no keyframe of the box CSV can be processed, in one message."""
    from slowfast_det.ava.io import read_box_csv, read_frame_list

    box_ids = sorted({v for v, _ in read_box_csv(args.boxes, kind="proposals").keys})
    if not box_ids:
        return f"the box CSV {args.boxes} names no keyframe"
    if args.videos_dir:
        from slowfast_det.data.video_reader import list_movies

        listed = set(list_movies(args.videos_dir)) if os.path.isdir(args.videos_dir) else set()
        missing = [v for v in box_ids if v not in listed]
        if missing:
            more = ", ..." if len(missing) > 10 else ""
            return (
                f"the box CSV {args.boxes} names video ids without a movie "
                f"<id>.{{mp4,mkv,webm}} in {args.videos_dir}: {', '.join(missing[:10])}{more}"
            )
    elif args.frame_list:
        listed = set(read_frame_list(args.frame_list)["video_id"].astype(str).unique())
        missing = [v for v in box_ids if v not in listed]
        if missing:
            shown = ", ".join(missing[:10]) + (
                f", ... ({len(missing)} in all)" if len(missing) > 10 else ""
            )
            return (
                f"the box CSV {args.boxes} names video ids that are not in the "
                f"frame list {args.frame_list}: "
                f"{shown} (the frame list has {len(listed)} videos: {', '.join(sorted(listed)[:5])}"
                f"{', ...' if len(listed) > 5 else ''})"
            )
    counts = ", ".join(f"{n} x {k}" for k, n in sorted(stats.items()) if n and k != "keyframes")
    return (
        f"every keyframe of {args.boxes} ({len(box_ids)} videos) was left out: "
        f"{counts or 'no reason counted'} "
        f"(keyframe t is frame (t - {args.start_second}) * {args.fps} of its video; "
        "see the warnings above)"
    )


def load_keyframes(cfg, args, stats=None):
    """Dataset dicts (one per keyframe named by the box CSV), in (video_id, timestamp) order.
    ``stats`` (a Counter) receives the loader's problem counts."""
    from slowfast_det.ava.io import read_box_csv
    from slowfast_det.data import load_ava_dicts

    media = args.videos_dir or args.frames_dir
    if not os.path.isdir(media):
        what = "movie" if args.videos_dir else "frame"
        raise FileNotFoundError(f"{what} folder not found: {media}")
    kw = dict(
        frames_dir=None if args.videos_dir else os.path.abspath(args.frames_dir),
        groundtruth_file=None,
        predicted_boxes_file=args.boxes,
        excluded_timestamps_file=args.exclusions,
        split="test",
        num_classes=cfg.MODEL.ROI_HEADS.NUM_CLASSES,
        fps=args.fps,
        start_second=args.start_second,
        predicted_boxes_required=True,
        excluded_timestamps_required=args.exclusions is not None,
        dataset_name=os.path.basename(args.boxes),
        stats=stats,
    )
    if args.videos_dir:  # the movies, through the video frame source
        kw.update(frame_source="video", videos_dir=os.path.abspath(args.videos_dir))
        return load_ava_dicts(frame_list_file=None, **kw)
    if args.frame_list:
        return load_ava_dicts(frame_list_file=args.frame_list, **kw)
    if not os.path.exists(args.boxes):
        raise FileNotFoundError(f"predicted boxes not found: {args.boxes}")
    video_ids = {v for v, _ in read_box_csv(args.boxes, kind="proposals").keys}
    frame_list = scan_frame_list(args.frames_dir, video_ids)
    return load_ava_dicts(
        frame_list_file=f"the frames of {args.frames_dir}", frame_list=frame_list, **kw
    )


def main(argv=None, after_commit=None):
    """Run inference; returns the stats dict of :func:`run_inference` plus ``output``.

    ``after_commit`` is passed to :func:`run_inference` (tests use it to interrupt a run).
    """
    from slowfast_det.ava.io import read_label_map
    from slowfast_det.checkpoint import WeightsDownloadError
    from slowfast_det.data import build_ava_test_loader
    from slowfast_det.engine.infer import ResumableDetectionsWriter, run_fingerprint, run_inference
    from slowfast_det.engine.predictor import (
        ActionPredictor,
        RandomWeightsError,
        check_model_weights,
    )

    args = get_parser().parse_args(argv)
    setup_logger(name="slowfast_det")
    cfg = setup_cfg(args)
    try:
        if (
            not args.allow_random_weights
        ):  # before reading any data (the predictor warns when allowed)
            check_model_weights(cfg)
    except RandomWeightsError as e:
        raise SystemExit(f"infer_ava: {e}") from None
    if args.videos_dir and args.frame_list:
        raise SystemExit("infer_ava: --frame-list lists extracted frames: not with --videos-dir")
    try:
        resolve_origin(args)
    except ValueError as e:  # a malformed frames.json: its file and field
        raise SystemExit(f"infer_ava: {e}") from None
    problems = Counter()
    dicts = load_keyframes(cfg, args, problems)
    if not dicts:
        raise SystemExit(
            f"infer_ava: no keyframe can be processed: {no_keyframe_reason(args, problems)}"
        )
    keys = [d["image_id"] for d in dicts]
    num_classes = cfg.MODEL.ROI_HEADS.NUM_CLASSES
    class_ids = (
        read_label_map(args.label_map)[1] if args.label_map else list(range(1, num_classes + 1))
    )
    if class_ids[-1] > num_classes:
        raise ValueError(
            f"{args.label_map}: action id {class_ids[-1]} > "
            f"MODEL.ROI_HEADS.NUM_CLASSES ({num_classes})"
        )
    fingerprint = run_fingerprint(
        cfg.dump(),
        [args.boxes, args.frame_list, args.exclusions, args.label_map, cfg.MODEL.WEIGHTS],
        extra=[
            os.path.abspath(args.videos_dir or args.frames_dir),
            "video" if args.videos_dir else "frames",
            args.fps,
            args.start_second,
        ],
    )
    writer = ResumableDetectionsWriter(args.output, fingerprint, class_ids, restart=args.restart)
    todo = [d for d in dicts if d["image_id"] not in writer.done]
    logger.info(
        "%d keyframes, %d already done, %d to do", len(dicts), len(dicts) - len(todo), len(todo)
    )

    stats = {"keyframes": 0, "skipped": 0, "boxes": 0}
    if todo:
        try:
            predictor = ActionPredictor(cfg, allow_random_weights=args.allow_random_weights)
        except WeightsDownloadError as e:
            raise SystemExit(f"infer_ava: {e}") from None
        loader = build_ava_test_loader(cfg, todo, mapper=predictor.mapper)
        stats = run_inference(
            predictor.model,
            loader,
            [d["image_id"] for d in todo],
            writer,
            class_ids,
            commit_every=args.commit_every,
            progress=not args.no_progress,
            after_commit=after_commit,
        )
    writer.finish(keys)
    logger.info(
        "wrote %s: %d keyframes (%d in this run, %d left out as unreadable), "
        "%d boxes x %d classes in this run",
        args.output,
        len(keys),
        stats["keyframes"],
        stats["skipped"],
        stats["boxes"],
        len(class_ids),
    )
    stats["output"] = args.output
    return stats


if __name__ == "__main__":
    main()
