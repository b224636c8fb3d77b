"""Your own data in AVA's format: from a folder of movies and one annotation CSV to
registered training and validation datasets.

* :func:`make_ava_folder` lays out an AVA-format folder from a folder of movies, one
  ground-truth CSV in AVA's format and a label map (any ids: a subset, ids beyond 80, fewer
  classes): ``videos/`` (links to the movies), ``annotations/ava_{train,val}_<version>.csv``
  (the CSV split by video, lines kept as written) and the label map. Everything is checked
  first; problems name the file, line and field.
* :func:`find_label_map` is how every tool finds a folder's label map: AVA's own file name
  for the version, else the one ``.pbtxt`` in ``annotations/``.
* :func:`register_ava_folder` registers a folder's splits (``<name>_<split>`` reading frames,
  ``<name>_<split>_video`` reading the movies: name the one to use in ``DATASETS.TRAIN`` /
  ``TEST``), with the label map's largest id as the dataset's class range.
* :func:`check_num_classes`: the head predicts action ids ``1..MODEL.ROI_HEADS.NUM_CLASSES``;
  a label map with a larger id stops training or evaluation with what to set.
"""

import glob
import logging
import os
import shutil

from detectron2.data import MetadataCatalog
from detectron2.utils.logger import log_first_n

from slowfast_det.ava.io import read_box_csv, read_label_map
from slowfast_det.ava.layout import (
    ANNOTATIONS_DIR,
    FRAME_LISTS_DIR,
    LABEL_MAP_FILES,
    VIDEOS_DIR,
    find_splits,
    split_files,
)
from slowfast_det.utils.file_io import atomic_path

from .datasets import VIDEO_SUFFIX, register_ava_dataset
from .frames import default_start_second, frame_origin, frame_origin_path
from .video_reader import list_movies

__all__ = [
    "CustomDatasetError",
    "make_ava_folder",
    "find_label_map",
    "register_ava_folder",
    "check_num_classes",
    "parse_folder_spec",
]

logger = logging.getLogger(__name__)


class CustomDatasetError(ValueError):
    """A custom dataset cannot be laid out or registered (the message says why and what to do)."""


def find_label_map(annotations_dir, version="v2.2"):
    """The label map of an ``annotations/`` folder: AVA's file name for ``version`` if present,
    else the only ``*.pbtxt`` there.

    Raises:
        FileNotFoundError when there is none, or several and none has AVA's name.
    """
    default = os.path.join(
        annotations_dir, LABEL_MAP_FILES.get(version, f"ava_action_list_{version}.pbtxt")
    )
    if os.path.exists(default):
        return default
    found = sorted(glob.glob(os.path.join(annotations_dir, "*.pbtxt")))
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(
            f"no label map (.pbtxt) in {annotations_dir} (expected {os.path.basename(default)} "
            "or one other .pbtxt file)"
        )
    raise FileNotFoundError(
        f"{len(found)} label maps in {annotations_dir} "
        f"({', '.join(map(os.path.basename, found))}): "
        f"keep one, or name it {os.path.basename(default)}"
    )


def _movies(videos_dir):
    """video id -> movie path for the movies of ``videos_dir``."""
    if not os.path.isdir(videos_dir):
        raise CustomDatasetError(f"movie folder not found: {videos_dir}")
    return list_movies(videos_dir)


def _split_videos(video_ids, val_fraction, val_videos):
    """(train ids, val ids): ``val_videos`` if given, else every k-th of the sorted ids so that
    about ``val_fraction`` of the videos are validation videos (at least one of each)."""
    ids = sorted(video_ids)
    if val_videos:
        unknown = sorted(set(val_videos) - set(ids))
        if unknown:
            raise CustomDatasetError(f"validation videos without annotations: {', '.join(unknown)}")
        val = sorted(set(val_videos))
    else:
        if not 0.0 < val_fraction < 1.0:
            raise CustomDatasetError(f"val_fraction must be between 0 and 1, got {val_fraction}")
        if len(ids) < 2:
            raise CustomDatasetError(
                f"{len(ids)} annotated video(s): a train / val split needs at least 2 "
                "(or give the validation videos explicitly)"
            )
        n_val = min(len(ids) - 1, max(1, round(len(ids) * val_fraction)))
        step = len(ids) / n_val
        val = [ids[int(i * step + step / 2)] for i in range(n_val)]
    train = [v for v in ids if v not in set(val)]
    if not train:
        raise CustomDatasetError(
            "every annotated video is a validation video: nothing is left to train on"
        )
    return train, val


def make_ava_folder(
    videos_dir,
    annotations_csv,
    label_map,
    output,
    *,
    val_fraction=0.25,
    val_videos=None,
    version="v2.2",
    copy=False,
):
    """Lay out an AVA-format folder for :func:`register_ava_folder` and the tools.

    Args:
        videos_dir: the user's movies, ``<video_id>.{mp4,mkv,webm}``; the annotation CSV's
            video ids name them.
        annotations_csv: ground truth in AVA's format (``video_id,timestamp,x1,y1,x2,y2,
            action_id,person_id``; normalised boxes; 2-column rows for keyframes without people).
        label_map: the user's label map (``.pbtxt``, AVA's format; any ids).
        output: the folder to create (must not exist or be empty).
        val_fraction, val_videos: the validation videos (explicit ids, or about this fraction
            of the annotated videos, spread over their sorted ids).
        version: the version in the annotation file names (``ava_train_v2.2.csv``).
        copy: copy the movies instead of linking them.

    Returns:
        dict: ``root``, ``label_map``, ``train_videos``, ``val_videos``, ``rows`` (split ->
        annotation lines), ``num_classes`` (the label map's largest id), ``unlabelled_rows``
        (rows whose action id is not in the label map: kept, ignored by the official metric).

    Raises:
        AVAFormatError (file, line, field) for a malformed CSV or label map;
        CustomDatasetError for movies missing, a split that cannot be made, an output that exists.
    """
    names, ids = read_label_map(label_map)  # validates: errors name file, line and field
    table = read_box_csv(annotations_csv, "groundtruth")
    rows = table.rows
    annotated = sorted(set(rows["video_id"]) | {k[0] for k in table.keys_without_boxes})
    if not annotated:
        raise CustomDatasetError(f"{annotations_csv}: no annotation rows")
    movies = _movies(videos_dir)
    missing = [v for v in annotated if v not in movies]
    if missing:
        raise CustomDatasetError(
            f"{annotations_csv}: {len(missing)} annotated video id(s) have no movie "
            f"<id>.{{mp4,mkv,webm}} in {videos_dir}: "
            f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}"
        )
    unlabelled = rows[~rows["action_id"].isin(set(ids))]
    for _, r in unlabelled.head(5).iterrows():
        logger.warning(
            "%s:%d: action id %d is not in the label map %s (kept; the official metric ignores it)",
            annotations_csv,
            r["line"],
            r["action_id"],
            label_map,
        )
    train, val = _split_videos(annotated, val_fraction, val_videos)

    if os.path.exists(output) and os.listdir(output):
        raise CustomDatasetError(f"output folder {output} exists and is not empty")
    ann_dir, vid_dir = os.path.join(output, ANNOTATIONS_DIR), os.path.join(output, VIDEOS_DIR)
    os.makedirs(ann_dir, exist_ok=True)
    os.makedirs(vid_dir, exist_ok=True)
    for vid in annotated:
        src = os.path.abspath(movies[vid])
        dst = os.path.join(vid_dir, os.path.basename(src))
        if copy:
            shutil.copy2(src, dst)
        else:
            os.symlink(src, dst)
    with open(annotations_csv, encoding="utf-8-sig") as f:
        lines = [line.rstrip("\r\n") for line in f]
    split_of = {**{v: "train" for v in train}, **{v: "val" for v in val}}
    counts = {"train": 0, "val": 0}
    out_lines = {"train": [], "val": []}
    for line in lines:
        vid = line.split(",", 1)[0].strip()
        if vid in split_of:  # blank lines carry no video id
            out_lines[split_of[vid]].append(line)
            counts[split_of[vid]] += 1
    for split, text in out_lines.items():
        with atomic_path(
            os.path.join(output, split_files(split, version)["groundtruth_file"])
        ) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("".join(x + "\n" for x in text))
    lm_out = os.path.join(ann_dir, os.path.basename(label_map))
    shutil.copyfile(label_map, lm_out)
    logger.info(
        "%s: %d train videos (%d annotation rows), %d val videos (%d rows), label map %s "
        "(%d classes, ids %s)",
        output,
        len(train),
        counts["train"],
        len(val),
        counts["val"],
        os.path.basename(label_map),
        len(ids),
        ", ".join(map(str, ids)),
    )
    return {
        "root": output,
        "label_map": lm_out,
        "train_videos": train,
        "val_videos": val,
        "rows": counts,
        "num_classes": max(ids),
        "unlabelled_rows": int(len(unlabelled)),
        "class_names": names,
    }


def register_ava_folder(
    name, root, *, version="v2.2", label_map_file=None, splits=None, fps=None, start_second=None
):
    """Register the splits of an AVA-format folder: ``<name>_<split>`` (frames and frame
    list) and ``<name>_<split>_video`` (the movies) for every split with
    ``annotations/ava_<split>_<version>.csv`` (or the given ``splits``).

    The label map is ``label_map_file`` or :func:`find_label_map`'s; ground-truth action ids
    must lie in 1..its largest id. ``start_second`` is the movie second of frame 1 of the
    extracted frames and ``fps`` their rate; None: what ``datasets/prepare_ava.py`` recorded
    in ``frame_lists/frames.json``, else AVA's 900 at 30 fps
    (:func:`~.frames.frame_origin`). The movies are read at the timestamps as movie times
    (their frame index starts at second 0, at the frames' rate). Returns the registered names
    (frames ones; each movies twin is the name + ``_video``).
    """
    root = os.path.abspath(os.path.expanduser(root))
    ann = os.path.join(root, ANNOTATIONS_DIR)
    if not os.path.isdir(ann):
        raise CustomDatasetError(
            f"dataset '{name}': {ann} not found (an AVA-format folder has annotations/)"
        )
    label_map = label_map_file or find_label_map(ann, version)
    _, ids = read_label_map(label_map)
    if splits is None:
        splits = find_splits(root, version)
    if not splits:
        raise CustomDatasetError(
            f"dataset '{name}': no ground-truth file ava_<split>_{version}.csv in {ann}"
        )
    # the frames' origin as the registrations resolve it (read again when loaded), for the log
    origin = frame_origin(
        "frames",
        frame_origin_path(os.path.join(root, FRAME_LISTS_DIR)),
        start_second=start_second,
        fps=fps,
    )
    names = []
    for split in splits:
        for source, dataset, start in (
            ("frames", f"{name}_{split}", start_second),
            ("video", f"{name}_{split}{VIDEO_SUFFIX}", default_start_second("video")),
        ):
            register_ava_dataset(
                dataset,
                root,
                split,
                version=version,
                num_classes=max(ids),
                fps=fps if source == "frames" else origin.fps,
                start_second=start,
                frame_source=source,
                label_map_file=label_map,
            )
        names.append(f"{name}_{split}")
    videos = ", ".join(n + VIDEO_SUFFIX for n in names)
    logger.info(
        "registered %s from %s (label map %s, ids 1..%d; frames: frame 1 is movie second %d at "
        "%d fps, %s); reading the movies: %s",
        ", ".join(names),
        root,
        label_map,
        max(ids),
        origin.start_second,
        origin.fps,
        origin.source,
        videos,
    )
    return names


def parse_folder_spec(spec):
    """``"NAME=ROOT"`` or ``"NAME=ROOT:START"`` -> (name, root, start second or None); the form
    of ``tools/train_ava.py --register-ava``. ``START`` (digits) is the movie second of the
    extracted frames' frame 1, overriding ``frame_lists/frames.json``."""
    name, sep, root = spec.partition("=")
    start = None
    head, colon, tail = root.rpartition(":")
    if colon and head and tail.isdigit():
        root, start = head, int(tail)
    if not sep or not name or not root:
        raise CustomDatasetError(
            "--register-ava expects NAME=ROOT or NAME=ROOT:START_SECOND (e.g. "
            f"my_data=path/to/my_ava, my_data=path/to/my_ava:0), got {spec!r}"
        )
    return name, root, start


def check_num_classes(num_classes, dataset_names):
    """Check that the head's ``num_classes`` outputs (action ids ``1..num_classes``) cover the
    label map of every dataset (those registered with a label map that exists).

    Raises:
        CustomDatasetError naming the label map, its largest id and the value to set.
    Logs a warning when the head has outputs beyond every label map's largest id.
    """
    largest = 0
    for name in dataset_names:
        meta = MetadataCatalog.get(name)
        path = getattr(meta, "label_map_file", None)
        if not path or not os.path.exists(path):
            continue
        top = max(meta.evaluated_ids)
        if top > num_classes:
            raise CustomDatasetError(
                f"{path}: the label map of dataset '{name}' has action id {top}, but "
                f"MODEL.ROI_HEADS.NUM_CLASSES is {num_classes} (the head predicts ids "
                f"1..NUM_CLASSES): set MODEL.ROI_HEADS.NUM_CLASSES {top}"
            )
        largest = max(largest, top)
    if 0 < largest < num_classes:
        log_first_n(
            logging.WARNING,
            "MODEL.ROI_HEADS.NUM_CLASSES is %d but the label maps' largest action id is %d: "
            "outputs %d..%d are trained as negatives and never evaluated (set "
            "MODEL.ROI_HEADS.NUM_CLASSES %d to drop them)"
            % (num_classes, largest, largest + 1, num_classes, largest),
            n=1,
            name=__name__,
            key="message",
        )
