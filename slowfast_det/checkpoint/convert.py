"""Conversion of existing SlowFast weights to this project's parameter names.

One function per source format, each returning a state dict named as
:class:`slowfast_det.modeling.VideoActionDetector` and
:class:`slowfast_det.modeling.VideoClassifier` name their parameters
(``backbone.stem.pathway0.conv.weight``, ``backbone.res3.pathway1.2.conv1.norm.running_mean``,
``backbone.res2.fuse.conv.weight``, ``roi_heads.predictor.weight`` (the AVA action head),
``cls_head.predictor.weight`` (the classification head), ...):

* :func:`convert_pytorchvideo`: pytorchvideo models (``create_slowfast``,
  ``create_slowfast_with_roi_head``, ``create_resnet[_with_roi_head]``; hub checkpoints keep
  them under ``model_state``): ``[model.]blocks.N.multipathway_blocks.P...``,
  ``detection_head.proj``;
* :func:`convert_pyslowfast`: PySlowFast PyTorch checkpoints (``model_state``):
  ``s1.pathway0_stem...``, ``s1_fuse...``, ``s4.pathway0_nonlocal6...``, ``head.projection``;
* :func:`convert_pyslowfast_caffe2`: PySlowFast Caffe2 pickles (``{"blobs": ...}``): blob names
  such as ``res2_0_branch2a_w``, ``t_`` prefix for the Fast pathway, ``pred_w``.

The name-mapping rules themselves are in :mod:`slowfast_det.checkpoint.convert_rules`; this
module applies them, handles the heads, and reads and writes the files.

The ``target`` argument says which model the weights are for:

* ``"detector"`` (the default): a Kinetics classification head (pytorchvideo
  ``blocks.N.proj``; a PySlowFast / Caffe2 projection with 400, 600 or 700 outputs) is
  dropped with a log line (the detector has no place for it); a PySlowFast projection of
  another size is the AVA action head (``roi_heads.predictor``).
* ``"classifier"``: the classification head becomes ``cls_head.predictor`` (pytorchvideo
  ``blocks.N.proj``; PySlowFast ``head.projection`` and Caffe2 ``pred_w`` / ``pred_b`` of any
  size, e.g. Charades' 157). A pytorchvideo detection head stays ``roi_heads.predictor``.

Caffe2 solver blobs (``*_momentum``, ``lr``, ``model_iter``) are dropped with a log line. Any
other name that no rule matches raises :class:`CheckpointConversionError` listing every
unmatched name.
"""

import logging
from collections import OrderedDict
from typing import Dict, List, Mapping

import numpy as np
import torch

from .convert_rules import (
    CAFFE2_RULES,
    CAFFE2_SOLVER_BLOB,
    CLASSIFIER_PREDICTOR,
    PREDICTOR,
    PYSLOWFAST_RULES,
    PYTORCHVIDEO_RULES,
    Rule,
    apply_rules,
)
from .serialization import atomic_torch_save, load_caffe2_pickle, safe_torch_load

__all__ = [
    "CheckpointConversionError",
    "SOURCE_FORMATS",
    "TARGETS",
    "KINETICS_NUM_CLASSES",
    "convert_pytorchvideo",
    "convert_pyslowfast",
    "convert_pyslowfast_caffe2",
    "load_source_weights",
    "convert_checkpoint_file",
]

logger = logging.getLogger(__name__)

SOURCE_FORMATS = ("pytorchvideo", "pyslowfast", "pyslowfast-caffe2")
# Output sizes of Kinetics-400/600/700 classifiers: such a projection is a classification head.
KINETICS_NUM_CLASSES = (400, 600, 700)
#: Which model converted weights are for (see the module docstring).
TARGETS = ("detector", "classifier")


class CheckpointConversionError(ValueError):
    """Names in a source checkpoint that no conversion rule matches (or that collide)."""


def _strip_prefix(state_dict: Mapping[str, object], prefix: str) -> Dict[str, object]:
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix) :]: v for k, v in state_dict.items()}
    return dict(state_dict)


def _as_tensor(value, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().clone().contiguous()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value, copy=True))
    raise CheckpointConversionError(
        f"{name}: expected a tensor or numpy array, got {type(value).__name__}"
    )


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValueError(f"unknown conversion target {target!r}; expected one of {TARGETS}")


def _convert(
    state_dict: Mapping[str, object],
    rules: List[Rule],
    source: str,
    kinetics_by_size: bool,
    target: str = "detector",
) -> "OrderedDict[str, torch.Tensor]":
    """Rename with ``rules``; the classification head is kept (``target="classifier"``) or
    dropped with a log line (``"detector"``). ``kinetics_by_size``: PySlowFast names, whose
    ``head.projection`` is the classification head for a classifier target or when it has a
    Kinetics size, else the AVA action head."""
    _check_target(target)
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    origin: Dict[str, str] = {}
    unmatched, collisions, dropped, kept = [], [], [], []
    head_size = None
    psf_head_classifies = False
    if kinetics_by_size:  # PySlowFast names: the projection is a classifier or the AVA head
        w = state_dict.get("head.projection.weight")
        head_size = int(w.shape[0]) if w is not None else None
        psf_head_classifies = target == "classifier" or head_size in KINETICS_NUM_CLASSES
    for key, value in state_dict.items():
        name = apply_rules(rules, key)
        if name is None:
            unmatched.append(key)
            continue
        if psf_head_classifies and name.startswith(PREDICTOR + "."):
            name = CLASSIFIER_PREDICTOR + name[len(PREDICTOR) :]
        if name.startswith(CLASSIFIER_PREDICTOR + "."):
            if name.endswith(".weight") and hasattr(value, "shape"):
                head_size = int(value.shape[0])
            (dropped if target == "detector" else kept).append(key)
            if target == "detector":
                continue
        if name in origin:
            collisions.append(f"{origin[name]} and {key} -> {name}")
            continue
        tensor = _as_tensor(value, key)
        if name in (PREDICTOR + ".weight", CLASSIFIER_PREDICTOR + ".weight") and tensor.dim() > 2:
            if any(s != 1 for s in tensor.shape[2:]):
                raise CheckpointConversionError(
                    f"{source}: classifier weight {key} has shape {tuple(tensor.shape)}, "
                    "expected (K, C)"
                )
            tensor = tensor.reshape(tensor.shape[0], tensor.shape[1])
        origin[name] = key
        out[name] = tensor
    if unmatched or collisions:
        lines = [
            f"{source}: {len(unmatched)} name(s) match no conversion rule"
            + (f" and {len(collisions)} collide" if collisions else "")
            + ":"
        ]
        lines += [f"  {k}" for k in sorted(unmatched)]
        lines += [f"  collision: {c}" for c in collisions]
        raise CheckpointConversionError("\n".join(lines))
    classes = f", {head_size} classes" if head_size is not None else ""
    if dropped:
        logger.info(
            "%s: dropped the classification head (%s%s); the action head keeps its initialisation",
            source,
            ", ".join(sorted(dropped)),
            classes,
        )
    if kept:
        logger.info(
            "%s: the classification head (%s%s) becomes %s",
            source,
            ", ".join(sorted(kept)),
            classes,
            CLASSIFIER_PREDICTOR,
        )
    if not out:
        raise CheckpointConversionError(f"{source}: no weights left after conversion")
    return out


def convert_pytorchvideo(
    state_dict: Mapping[str, torch.Tensor],
    *,
    source: str = "pytorchvideo",
    target: str = "detector",
) -> "OrderedDict[str, torch.Tensor]":
    """pytorchvideo SlowFast / Slow (ResNet) state dict -> this project's names.

    Accepts the detection models' ``model.blocks...`` / ``detection_head.proj...`` and the
    classification models' ``blocks...``, whose ``blocks.N.proj`` head is dropped for a
    detector ``target`` and becomes ``cls_head.predictor`` for a classifier.
    """
    sd = _strip_prefix(state_dict, "module.")
    sd = {k[len("model.") :] if k.startswith("model.") else k: v for k, v in sd.items()}
    return _convert(sd, PYTORCHVIDEO_RULES, source, kinetics_by_size=False, target=target)


def convert_pyslowfast(
    state_dict: Mapping[str, torch.Tensor], *, source: str = "pyslowfast", target: str = "detector"
) -> "OrderedDict[str, torch.Tensor]":
    """PySlowFast ``model_state`` (SlowFast / Slow models, ``bottleneck_transform``) -> this
    project's names. For a detector ``target``, ``head.projection`` becomes the action
    classifier unless it has 400 / 600 / 700 outputs (a Kinetics head, dropped); for a
    classifier it becomes ``cls_head.predictor`` whatever its size."""
    sd = _strip_prefix(state_dict, "module.")
    return _convert(sd, PYSLOWFAST_RULES, source, kinetics_by_size=True, target=target)


def convert_pyslowfast_caffe2(
    blobs: Mapping[str, np.ndarray], *, source: str = "pyslowfast-caffe2", target: str = "detector"
) -> "OrderedDict[str, torch.Tensor]":
    """PySlowFast Caffe2 blobs (``{"blobs": {...}}`` or the inner dict) -> this project's
    names, through the PySlowFast names (``pred_w`` / ``pred_b`` as ``head.projection``, see
    :func:`convert_pyslowfast` for ``target``). Solver blobs (``*_momentum``, ``lr``,
    ``model_iter``) are dropped with a log line."""
    _check_target(target)
    if "blobs" in blobs and isinstance(blobs["blobs"], Mapping):
        blobs = blobs["blobs"]
    renamed: Dict[str, object] = {}
    unmatched, solver = [], []
    for key, value in blobs.items():
        if CAFFE2_SOLVER_BLOB.fullmatch(key):
            solver.append(key)
            continue
        name = apply_rules(CAFFE2_RULES, key)
        if name is None:
            unmatched.append(key)
        elif name in renamed:
            unmatched.append(f"{key} (maps to {name} like another blob)")
        else:
            renamed[name] = value
    if unmatched:
        raise CheckpointConversionError(
            "\n".join(
                [f"{source}: {len(unmatched)} blob name(s) match no conversion rule:"]
                + [f"  {k}" for k in sorted(unmatched)]
            )
        )
    if solver:
        logger.info(
            "%s: skipped %d Caffe2 solver blob(s) (momentum / lr / model_iter)", source, len(solver)
        )
    return _convert(renamed, PYSLOWFAST_RULES, source, kinetics_by_size=True, target=target)


_CONVERTERS = {
    "pytorchvideo": convert_pytorchvideo,
    "pyslowfast": convert_pyslowfast,
    "pyslowfast-caffe2": convert_pyslowfast_caffe2,
}


def load_source_weights(path: str, fmt: str) -> Mapping[str, object]:
    """Read a source checkpoint safely and return its raw weight dict (names as in the file).

    pytorchvideo / PySlowFast files are read with ``torch.load(weights_only=True)`` and their
    ``model_state`` taken (a bare state dict is accepted too); Caffe2 pickles with the
    restricted unpickler and their ``blobs`` taken.
    """
    if fmt not in _CONVERTERS:
        raise ValueError(f"unknown source format {fmt!r}; expected one of {SOURCE_FORMATS}")
    if fmt == "pyslowfast-caffe2":
        data = load_caffe2_pickle(path)
        if not isinstance(data, Mapping):
            raise CheckpointConversionError(
                f"{path}: expected a dict of blobs, got {type(data).__name__}"
            )
        blobs = data.get("blobs", data)
        if not isinstance(blobs, Mapping):
            raise CheckpointConversionError(
                f"{path}: 'blobs' is a {type(blobs).__name__}, not a dict"
            )
        return blobs
    data = safe_torch_load(path)
    if not isinstance(data, Mapping):
        raise CheckpointConversionError(f"{path}: expected a dict, got {type(data).__name__}")
    if "model_state" in data:
        return data["model_state"]
    if data and all(isinstance(v, torch.Tensor) for v in data.values()):
        return data
    raise CheckpointConversionError(
        f"{path}: no 'model_state' entry and not a plain state dict (top-level keys: "
        f"{sorted(map(str, data))})"
    )


def convert_checkpoint_file(
    src: str, dst: str, fmt: str, target: str = "detector"
) -> "OrderedDict[str, torch.Tensor]":
    """Convert ``src`` (format ``fmt``) for a ``target`` model ("detector" or "classifier",
    see the module docstring) and write ``dst`` atomically as
    ``{"model": state_dict, "__author__": ..., "matching_heuristics": False}``, the file
    ``MODEL.WEIGHTS`` accepts. Returns the converted state dict."""
    _check_target(target)
    raw = load_source_weights(src, fmt)
    state_dict = _CONVERTERS[fmt](raw, source=src, target=target)
    atomic_torch_save(
        {
            "model": state_dict,
            "__author__": f"slowfast_det convert_checkpoint --from {fmt} --target {target}",
            "matching_heuristics": False,
        },
        dst,
    )
    return state_dict
