"""AVA datasets in Detectron2's DatasetCatalog / MetadataCatalog.

:func:`register_ava_dataset` records an AVA-format folder's file names; the dicts (one per
keyframe, independent of any config: :mod:`~.ava_dicts`, ``docs/DATAFLOW.md``) are read when
``DatasetCatalog.get(name)`` is called, and the label map when the metadata's
``action_names`` / ``evaluated_ids`` is first read, so importing the package is fast and
works when the folders do not exist. A dataset is used exactly as registered: no loader
re-registers it.

Built-in names, under ``$DETECTRON2_DATASETS`` (default ``./datasets``):
``ava_v2.2_{train,val}`` and ``ava_v2.1_{train,val}`` in ``ava/``, and
``synthetic_ava_{train,val}`` in ``synthetic_ava/``; each also as ``<name>_video``, which
reads the movies ``videos/<video_id>.{mp4,mkv,webm}`` instead of the extracted frames
(``frame_source="video"``). A dataset's registration decides its source: name the dataset
whose registration reads the frames or movies you want (``DATASETS.TEST
("ava_v2.2_val_video",)``). :func:`unregister_ava_dataset` removes a registration.
"""

import functools
import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.catalog import Metadata

from slowfast_det.ava.io import read_label_map
from slowfast_det.ava.layout import LABEL_MAP_FILES, split_files

from .ava_dicts import FRAME_SOURCES, load_ava_dicts
from .frames import AVA_START_SECOND, frame_origin, frame_origin_path

__all__ = [
    "FRAME_SOURCES",
    "AVAMetadata",
    "register_ava_dataset",
    "registered_ava_datasets",
    "unregister_ava_dataset",
]


#: Name suffix of the built-ins' video twins (``ava_v2.2_val_video``).
VIDEO_SUFFIX = "_video"


# --------------------------------------------------------------------------- metadata


def _label_map(meta):
    cache = meta.__dict__.get("_label_map_cache")
    if cache is None:
        path = meta.label_map_file
        if not os.path.exists(path):
            raise FileNotFoundError(f"dataset '{meta.name}': label map not found: {path}")
        cache = meta.__dict__["_label_map_cache"] = read_label_map(path)
    return cache


def _existing_or_none(attr, meta):
    path = meta.__dict__[attr]
    return path if path is not None and os.path.exists(path) else None


def _frame_origin(meta):
    source, origin_file, start_second, fps = meta.__dict__["_origin_args"]
    return frame_origin(source, origin_file, start_second=start_second, fps=fps)


_LAZY_FIELDS = {
    "action_names": lambda m: _label_map(m)[0],
    "evaluated_ids": lambda m: _label_map(m)[1],
    "excluded_timestamps_file": functools.partial(_existing_or_none, "_excluded_timestamps_path"),
    "predicted_boxes_file": functools.partial(_existing_or_none, "_predicted_boxes_path"),
    "frame_origin": _frame_origin,
    "start_second": lambda m: _frame_origin(m).start_second,
    "fps": lambda m: _frame_origin(m).fps,
}


class AVAMetadata(Metadata):
    """Detectron2 ``Metadata`` whose label-map fields are read on first access.

    ``action_names`` (dict id -> name) and ``evaluated_ids`` (sorted ids) come from
    ``label_map_file``; ``excluded_timestamps_file`` and ``predicted_boxes_file`` are the
    paths if the files exist, else None (checked at each access); ``frame_origin``
    (:func:`~.frames.frame_origin`), ``start_second`` and ``fps`` from the registration's values
    or the frames' origin file, read at each access. (Not ``class_names``:
    Detectron2's ``Metadata`` reads that name as ``thing_classes``.)
    """

    def __getattr__(self, key):
        if key in _LAZY_FIELDS and "label_map_file" in self.__dict__:
            return _LAZY_FIELDS[key](self)
        return super().__getattr__(key)


# --------------------------------------------------------------------------- registration


def _resolve(root, path):
    return path if os.path.isabs(path) else os.path.join(root, path)


def register_ava_dataset(
    name,
    root,
    split,
    *,
    version="v2.2",
    num_classes=80,
    fps=None,
    start_second=None,
    frames_dir=None,
    frame_source="frames",
    videos_dir=None,
    frame_list_file=None,
    groundtruth_file=None,
    predicted_boxes_file=None,
    excluded_timestamps_file=None,
    label_map_file=None,
):
    """Register an AVA-format folder as a Detectron2 dataset (lazily: no file is read now).

    The folder holds ``frames/``, ``frame_lists/<split>.csv`` and ``annotations/`` with the
    AVA file names (``ava_<split>_<version>.csv``, ``ava_<split>_predicted_boxes.csv``,
    ``ava_<split>_excluded_timestamps_<version>.csv`` and the version's label map:
    :func:`slowfast_det.ava.layout.split_files`). Every file name can be overridden by
    keyword (absolute, or relative to ``root``); an explicitly named excluded-timestamps file
    must exist, the default one is optional.
    Re-registering a name replaces it. The dicts do not depend on any config (the mapper
    picks each clip's frames), so the loaders use the dataset exactly as registered here.

    Args:
        name: dataset name, e.g. "my_ava_train".
        root: the AVA-format folder.
        split: "train" (one dict per ground-truth keyframe) or another split name (one dict
            per keyframe with ground truth or predicted boxes; predicted boxes required).
        version: "v2.1" or "v2.2" (selects the default annotation and label-map names).
        num_classes: action ids must lie in 1..num_classes.
        fps, start_second: frame rate of the frames and the movie second of frame 0; None:
            for frames, what ``datasets/prepare_ava.py`` recorded next to the frame list
            (``frame_lists/frames.json``), else AVA's 900 at 30 fps; for movies 0 at 30 fps
            (:func:`~.frames.frame_origin`, read when the dataset is loaded).
        frame_source: "frames" (``frames/`` and the frame list) or "video" (the movies
            ``videos/<video_id>.{mp4,mkv,webm}``, read by time with PyAV; no frame list).
            The loaders read the dataset from this source; the built-ins are registered
            both ways (the movies twin is ``<name>_video``).

    Sets the metadata: ``evaluator_type="ava"``, ``label_map_file``, ``groundtruth_file``,
    ``excluded_timestamps_file`` (None if absent), ``predicted_boxes_file`` (None if
    absent), ``frames_root``, ``action_names`` (dict id -> name), ``evaluated_ids``,
    ``split``, ``frame_list_file``, ``version``, ``num_classes``, ``fps``, ``start_second``,
    ``frame_source``, ``videos_root``.
    """
    if frame_source not in FRAME_SOURCES:
        raise ValueError(f"frame_source {frame_source!r} is not one of {FRAME_SOURCES}")
    if label_map_file is None and version not in LABEL_MAP_FILES:
        raise ValueError(
            f"unknown AVA version {version!r} (known: {sorted(LABEL_MAP_FILES)}); "
            "pass label_map_file"
        )
    root = os.path.abspath(os.path.expanduser(root))
    given = dict(
        frames_dir=frames_dir,
        videos_dir=videos_dir,
        frame_list_file=frame_list_file,
        groundtruth_file=groundtruth_file,
        predicted_boxes_file=predicted_boxes_file,
        excluded_timestamps_file=excluded_timestamps_file,
    )
    default = split_files(split, version)
    files = {key: _resolve(root, path or default[key]) for key, path in given.items()}
    label_map = _resolve(root, label_map_file or default["label_map_file"])
    origin_file = frame_origin_path(os.path.dirname(files["frame_list_file"]))

    if name in DatasetCatalog:
        DatasetCatalog.remove(name)
    DatasetCatalog.register(
        name,
        functools.partial(
            load_ava_dicts,
            **files,
            split=split,
            num_classes=num_classes,
            fps=fps,
            start_second=start_second,
            origin_file=origin_file,
            frame_source=frame_source,
            excluded_timestamps_required=excluded_timestamps_file is not None,
            dataset_name=name,
        ),
    )
    if name in MetadataCatalog:
        MetadataCatalog.remove(name)
    meta = MetadataCatalog[name] = AVAMetadata(name=name)
    meta.set(
        evaluator_type="ava",
        label_map_file=label_map,
        groundtruth_file=files["groundtruth_file"],
        frames_root=files["frames_dir"],
        frame_list_file=files["frame_list_file"],
        split=split,
        version=version,
        num_classes=num_classes,
        frame_source=frame_source,
        videos_root=files["videos_dir"],
        _origin_args=(frame_source, origin_file, start_second, fps),
        _excluded_timestamps_path=files["excluded_timestamps_file"],
        _predicted_boxes_path=files["predicted_boxes_file"],
    )
    return meta


def unregister_ava_dataset(name):
    """Remove ``name`` from Detectron2's ``DatasetCatalog`` and ``MetadataCatalog`` (the
    public removal for a dataset registered with :func:`register_ava_dataset`, e.g. at the
    end of a test). A name in neither catalog is left as it is."""
    if name in DatasetCatalog:
        DatasetCatalog.remove(name)
    if name in MetadataCatalog:
        MetadataCatalog.remove(name)


def registered_ava_datasets():
    """Names registered through :func:`register_ava_dataset` (built-ins included): the
    datasets whose metadata is an :class:`AVAMetadata`."""
    return sorted(
        n
        for n in DatasetCatalog.list()
        if n in MetadataCatalog and isinstance(MetadataCatalog.get(n), AVAMetadata)
    )


def _register_builtins():
    root = os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
    for version in ("v2.2", "v2.1"):
        for split in ("train", "val"):
            for source, suffix in (("frames", ""), ("video", VIDEO_SUFFIX)):
                name = f"ava_{version}_{split}{suffix}"
                register_ava_dataset(  # AVA's movies: the index of the frames (second 900)
                    name,
                    os.path.join(root, "ava"),
                    split,
                    version=version,
                    frame_source=source,
                    start_second=AVA_START_SECOND if source == "video" else None,
                )
    for split in ("train", "val"):
        for source, suffix in (("frames", ""), ("video", VIDEO_SUFFIX)):
            name = f"synthetic_ava_{split}{suffix}"
            register_ava_dataset(
                name,
                os.path.join(root, "synthetic_ava"),
                split,
                version="v2.2",
                frame_source=source,
                start_second=AVA_START_SECOND if source == "video" else None,
            )


_register_builtins()
