"""The AVA-format folder: where each file of a split lies.

PySlowFast's layout, which ``datasets/prepare_ava.py``, the synthetic set and
``tools/make_ava_folder.py`` write, and the registration, the dataset checker and the tools
read::

    <root>/frames/<video_id>/<video_id>_<frame:06d>.jpg
    <root>/videos/<video_id>.{mp4,mkv,webm}          (the movies, instead of frames)
    <root>/frame_lists/<split>.csv                   (and frames.json, the frames' origin)
    <root>/annotations/ava_<split>_<version>.csv     (ground truth)
    <root>/annotations/ava_<split>_predicted_boxes.csv
    <root>/annotations/ava_<split>_excluded_timestamps_<version>.csv
    <root>/annotations/<the version's label map>     (LABEL_MAP_FILES)

This module is the one place these names are spelled: the folders (``FRAMES_DIR`` ...),
a split's files (:func:`split_files`), the frames' names (:func:`frame_file`); and
:func:`find_splits` reads the splits back.
"""

import os
import posixpath

__all__ = [
    "ANNOTATIONS_DIR",
    "FRAMES_DIR",
    "FRAME_LISTS_DIR",
    "LABEL_MAP_FILES",
    "VIDEOS_DIR",
    "find_splits",
    "frame_file",
    "frame_file_pattern",
    "split_files",
]

#: The folders of an AVA-format root.
FRAMES_DIR, VIDEOS_DIR, FRAME_LISTS_DIR, ANNOTATIONS_DIR = (
    "frames",
    "videos",
    "frame_lists",
    "annotations",
)

#: Label map (evaluated classes) per AVA version.
LABEL_MAP_FILES = {
    "v2.1": "ava_action_list_v2.1_for_activitynet_2018.pbtxt",
    "v2.2": "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
}


def split_files(split, version="v2.2"):
    """The files of ``split`` in an AVA-format folder, as paths relative to its root.

    Returns:
        dict with ``frames_dir``, ``videos_dir``, ``frame_list_file``, ``groundtruth_file``,
        ``predicted_boxes_file``, ``excluded_timestamps_file`` and ``label_map_file`` (None
        for a version without a known label-map name).
    """
    ann = ANNOTATIONS_DIR
    label_map = LABEL_MAP_FILES.get(version)
    return dict(
        frames_dir=FRAMES_DIR,
        videos_dir=VIDEOS_DIR,
        frame_list_file=os.path.join(FRAME_LISTS_DIR, f"{split}.csv"),
        groundtruth_file=os.path.join(ann, f"ava_{split}_{version}.csv"),
        predicted_boxes_file=os.path.join(ann, f"ava_{split}_predicted_boxes.csv"),
        excluded_timestamps_file=os.path.join(
            ann, f"ava_{split}_excluded_timestamps_{version}.csv"
        ),
        label_map_file=os.path.join(ann, label_map) if label_map else None,
    )


def find_splits(root, version="v2.2"):
    """The splits of an AVA-format folder: the sorted names ``<split>`` of its ground-truth
    files (``groundtruth_file`` of :func:`split_files`) for ``version``, not counting the
    excluded-timestamps files that share their pattern; [] without an ``annotations/``
    folder."""
    probe = split_files("SPLIT", version)
    folder = os.path.join(root, os.path.dirname(probe["groundtruth_file"]))
    prefix, suffix = os.path.basename(probe["groundtruth_file"]).split("SPLIT")
    excluded = os.path.basename(probe["excluded_timestamps_file"]).split("SPLIT")[1]
    if not os.path.isdir(folder):
        return []
    return sorted(
        name[len(prefix) : -len(suffix)]
        for name in os.listdir(folder)
        if name.startswith(prefix)
        and name.endswith(suffix)
        and not name.endswith(excluded)
        and len(name) > len(prefix) + len(suffix)
    )


def frame_file_pattern(video_id):
    """The printf pattern of a video's frame file names, ``<video_id>_%06d.jpg`` (the output
    argument of ffmpeg's frame extraction, numbered from 1)."""
    return f"{video_id}_%06d.jpg"


def frame_file(video_id, number):
    """Frame ``number`` (from 1) of a video, relative to ``frames/`` and as frame lists write
    it: ``<video_id>/<video_id>_<number:06d>.jpg`` (:func:`frame_file_pattern`'s name)."""
    return posixpath.join(video_id, frame_file_pattern(video_id).replace("%06d", f"{number:06d}"))
