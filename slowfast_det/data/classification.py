"""Classification datasets (Kinetics, Charades, your own) in Detectron2's catalogs.

:func:`register_video_list` registers a video list (:mod:`.video_lists`: PySlowFast,
MMAction2, Charades frame lists, class folders) as a dataset: ``DatasetCatalog.get(name)``
returns one config-free dict per video, and its ``MetadataCatalog`` entry has
``class_names`` (index = label) and ``multi_label``. Registration is lazy, as AVA's: nothing
is read until the dicts or the metadata's ``class_names`` / ``multi_label`` are asked for
(the label-names file alone when one is given; else the list once).

Built-ins, under ``$DETECTRON2_DATASETS`` (default ``./datasets``), as PySlowFast lays them out:
``kinetics400_{train,val}``: ``kinetics400/{train,val}.csv`` (``path label``, paths relative
to ``kinetics400/``; class names from ``kinetics400/kinetics_classnames.json`` when present);
``charades_{train,val}``: ``charades/frame_lists/{train,val}.csv`` with the frames under
``charades/frames/`` (class names from ``charades/Charades_v1_classes.txt`` when present).

:func:`check_video_num_classes` compares the datasets of a config with
``MODEL.VIDEO_HEAD.NUM_CLASSES`` / ``ACT`` before the model is built.
"""

import functools
import logging
import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.catalog import Metadata

from .label_names import read_label_names
from .video_lists import VIDEO_LIST_FORMATS, read_video_list

__all__ = [
    "VideoListMetadata",
    "check_video_num_classes",
    "load_video_list",
    "register_video_list",
    "registered_video_datasets",
    "unregister_video_dataset",
]

logger = logging.getLogger(__name__)

_LAZY = ("class_names", "multi_label")


class VideoListMetadata(Metadata):
    """Detectron2 ``Metadata`` of a video list whose ``class_names`` and ``multi_label`` are
    read on first access (and kept). Unlike Detectron2's ``Metadata``, ``class_names`` is its
    own field here (not an alias of ``thing_classes``)."""

    _RENAMED = {k: v for k, v in Metadata._RENAMED.items() if k != "class_names"}

    def __getattr__(self, key):
        if key in _LAZY and "_list_args" in self.__dict__:
            _fill_metadata(self, key)
            return self.__dict__[key]
        return super().__getattr__(key)


def _class_names(args):
    names = args["label_names"]
    if isinstance(names, (list, tuple)):
        return list(names)
    if names is None or (args["label_names_optional"] and not os.path.exists(names)):
        return None
    return read_label_names(names)


def _fill_metadata(meta, key=None, parsed=None):
    """Set ``key`` (``class_names`` or ``multi_label``) from the label names or the format,
    else both from the list (``parsed``: the list read already)."""
    args = meta.__dict__["_list_args"]
    if parsed is None and key == "class_names":
        names = _class_names(args)
        if names is not None:
            meta.__dict__["class_names"] = names
            return
    if parsed is None and key == "multi_label":
        multi = args["multi_label"]
        if multi is None and args["fmt"] in ("pyslowfast", "folders", "charades"):
            multi = args["fmt"] == "charades"  # fixed by the format: no need to read the list
        if multi is not None:
            meta.__dict__["multi_label"] = bool(multi)
            return
    if parsed is None:
        parsed = _parse(args, meta.__dict__.get("class_names") or _class_names(args))
    meta.__dict__.setdefault("class_names", list(parsed.class_names))
    meta.__dict__.setdefault("multi_label", bool(parsed.multi_label))


def _parse(args, class_names):
    return read_video_list(
        args["list_file"],
        args["root"],
        fmt=args["fmt"],
        class_names=class_names,
        separator=args["separator"],
        multi_label=args["multi_label"],
        with_offset=args["with_offset"],
    )


def load_video_list(name):
    """The dataset dicts of a registered video list (the DatasetCatalog loader); fills the
    metadata's ``class_names`` / ``multi_label`` if not read yet."""
    meta = MetadataCatalog.get(name)
    args = meta.__dict__["_list_args"]
    names = meta.__dict__.get("class_names") or _class_names(args)
    parsed = _parse(args, names)
    _fill_metadata(meta, parsed=parsed)
    labelled = "multi-label" if parsed.multi_label else "single-label"
    logger.info(
        "dataset '%s': %d videos, %d classes, %s, from %s",
        name,
        len(parsed.dicts),
        len(parsed.class_names),
        labelled,
        args["list_file"] or args["root"],
    )
    return parsed.dicts


def register_video_list(
    name,
    list_file,
    root,
    *,
    fmt,
    label_names=None,
    separator=" ",
    multi_label=None,
    with_offset=None,
):
    """Register a video list as a classification dataset (lazily: no file is read now).

    Args:
        name: dataset name, e.g. "my_kinetics_train". Re-registering a name replaces it.
        list_file: the list (None for ``fmt="folders"``).
        root: folder the list's paths are relative to (None: the list's folder); the class
            folders for ``"folders"``.
        fmt: one of ``"pyslowfast"``, ``"mmaction_video"``, ``"mmaction_rawframes"``,
            ``"charades"``, ``"folders"`` (:mod:`.video_lists`).
        label_names: a label-names file (:func:`~.label_names.read_label_names`) or the list of
            names; None: ``"0" .. "K-1"`` (the folder names for ``"folders"``).
        separator: ``path label`` separator (PySlowFast's ``DATA.PATH_LABEL_SEPARATOR``).
        multi_label: None: from the format / the list (:func:`~.video_lists.read_video_list`).
        with_offset: MMAction2 raw frames' offset form (None: detected).

    Sets the metadata: ``class_names``, ``multi_label`` (both read on first access),
    ``evaluator_type="video_classification"``, ``list_file``, ``root``, ``format``.
    """
    if fmt not in VIDEO_LIST_FORMATS:
        raise ValueError(f"video list format {fmt!r} is not one of {VIDEO_LIST_FORMATS}")
    if fmt == "folders" and (list_file is not None or root is None):
        raise ValueError("format 'folders' takes no list file, and root: the class folders' folder")
    if fmt != "folders" and list_file is None:
        raise ValueError(f"format {fmt!r} needs its list file")
    list_file = _absolute(list_file)
    root = _absolute(root) if root is not None else os.path.dirname(list_file)
    if isinstance(label_names, (str, os.PathLike)):
        label_names = _absolute(label_names)
    args = dict(
        list_file=list_file,
        root=root,
        fmt=fmt,
        label_names=label_names,
        label_names_optional=False,
        separator=separator,
        multi_label=multi_label,
        with_offset=with_offset,
    )
    unregister_video_dataset(name)
    DatasetCatalog.register(name, functools.partial(load_video_list, name))
    meta = MetadataCatalog[name] = VideoListMetadata(name=name)
    meta.set(evaluator_type="video_classification", list_file=list_file, root=root, format=fmt)
    meta.__dict__["_list_args"] = args
    return meta


def _absolute(path):
    return None if path is None else os.path.abspath(os.path.expanduser(path))


def unregister_video_dataset(name):
    """Remove ``name`` from ``DatasetCatalog`` and ``MetadataCatalog`` (the public removal
    for a dataset registered with :func:`register_video_list`, e.g. at the end of a test)."""
    if name in DatasetCatalog:
        DatasetCatalog.remove(name)
    if name in MetadataCatalog:
        MetadataCatalog.remove(name)


def registered_video_datasets():
    """Names registered through :func:`register_video_list` (built-ins included)."""
    return sorted(
        n
        for n in DatasetCatalog.list()
        if n in MetadataCatalog and isinstance(MetadataCatalog.get(n), VideoListMetadata)
    )


def _video_metadata(name):
    if name not in DatasetCatalog:
        raise ValueError(f"dataset '{name}' is not registered (register_video_list)")
    meta = MetadataCatalog.get(name)
    if not isinstance(meta, VideoListMetadata):
        raise ValueError(
            f"dataset '{name}' is not a classification dataset (register it with "
            "slowfast_det.data.register_video_list)"
        )
    return meta


def check_video_num_classes(cfg):
    """Check that the datasets of ``cfg.DATASETS.TRAIN`` / ``TEST`` fit the classifier's head
    before the model is built: their number of classes is ``MODEL.VIDEO_HEAD.NUM_CLASSES``,
    all have the same class names, and multi-label datasets have a sigmoid head
    (``MODEL.VIDEO_HEAD.ACT "sigmoid"``), single-label ones a softmax head.

    Raises:
        ValueError saying what to set.
    """
    k, act = cfg.MODEL.VIDEO_HEAD.NUM_CLASSES, cfg.MODEL.VIDEO_HEAD.ACT
    first = None
    for name in dict.fromkeys(tuple(cfg.DATASETS.TRAIN) + tuple(cfg.DATASETS.TEST)):
        meta = _video_metadata(name)
        names = meta.class_names
        if len(names) != k:
            args = meta.__dict__["_list_args"]
            hint = ""
            if args["label_names"] is None or args["label_names_optional"]:
                hint = (
                    " (without a label-names file the classes are 0..largest label: pass "
                    "label_names= to register_video_list if the list misses some classes)"
                )
            raise ValueError(
                f"dataset '{name}' has {len(names)} classes but MODEL.VIDEO_HEAD.NUM_CLASSES is "
                f"{k}: set MODEL.VIDEO_HEAD.NUM_CLASSES {len(names)}{hint}"
            )
        if first is None:
            first = (name, names)
        elif names != first[1]:
            raise ValueError(
                f"datasets '{first[0]}' and '{name}' have different class names (same number, "
                "another order or other names): register them with the same label names"
            )
        want = "sigmoid" if meta.multi_label else "softmax"
        if act != want:
            kind = "multi-label" if meta.multi_label else "single-label"
            raise ValueError(
                f"dataset '{name}' is {kind} but MODEL.VIDEO_HEAD.ACT is {act!r}: set "
                f"MODEL.VIDEO_HEAD.ACT {want!r}"
            )


def _register_builtin(name, list_file, root, fmt, label_file):
    """A built-in: class names from ``label_file`` when it exists (checked when read)."""
    meta = register_video_list(name, list_file, root, fmt=fmt)
    meta.__dict__["_list_args"].update(label_names=label_file, label_names_optional=True)


def _register_builtins():
    root = os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
    kinetics = os.path.join(root, "kinetics400")
    charades = os.path.join(root, "charades")
    for split in ("train", "val"):
        _register_builtin(
            f"kinetics400_{split}",
            os.path.join(kinetics, f"{split}.csv"),
            kinetics,
            "pyslowfast",
            os.path.abspath(os.path.join(kinetics, "kinetics_classnames.json")),
        )
        _register_builtin(
            f"charades_{split}",
            os.path.join(charades, "frame_lists", f"{split}.csv"),
            os.path.join(charades, "frames"),
            "charades",
            os.path.abspath(os.path.join(charades, "Charades_v1_classes.txt")),
        )


_register_builtins()
