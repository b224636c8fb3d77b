"""The heads in a checkpoint and what loading does with those that do not fit the model.

The video models share one backbone (``backbone.*``) and differ in their head: the AVA
detector has the action head ``roi_heads.*``, the video classifier the classification head
``cls_head.*``. So a classifier checkpoint (this project's or one converted with ``--target
classifier``) starts a detector, and a detector checkpoint a classifier. Before the strict
check of every other name, :class:`~slowfast_det.checkpoint.SlowFastCheckpointer` applies
:func:`set_aside_heads`:

* a head the model does not have (a classification head given to a detector, an action head
  given to a classifier) is unused: left out, and listed once in the log;
* a classification head whose shapes differ from the model's (a Kinetics-400 head given to a
  157-class Charades classifier: fine-tuning to a new label set, as PySlowFast does) is left
  out with a warning that lists its shapes; the model's head keeps its initialisation. An
  action head of another shape stays an error (AVA label sets are fixed: a config mistake).

A head the checkpoint lacks keeps its initialisation (logged by the checkpointer).
"""

import logging
from typing import Dict, Mapping, Optional

import torch

__all__ = ["HEADS", "head_of", "set_aside_heads"]

logger = logging.getLogger(__name__)

#: Name prefix -> what the head is, for every head a video model may have.
HEADS = {"roi_heads.": "action head", "cls_head.": "classification head"}
# Heads whose tensors are skipped (not an error) when their shapes differ from the model's.
_SKIP_ON_SHAPE = ("cls_head.",)


def head_of(name: str) -> Optional[str]:
    """The :data:`HEADS` prefix ``name`` starts with, or None (backbone, clip statistics)."""
    for prefix in HEADS:
        if name.startswith(prefix):
            return prefix
    return None


def _shape(t) -> tuple:
    return tuple(t.shape) if isinstance(t, torch.Tensor) else ()


def set_aside_heads(
    weights: Mapping[str, torch.Tensor], model_state: Mapping[str, torch.Tensor], source: str
) -> Dict[str, torch.Tensor]:
    """``weights`` without the head tensors the model cannot take (see the module docstring),
    each such head logged once with its names (and, for a shape mismatch, its shapes)."""
    model_heads = {head_of(k) for k in model_state} - {None}
    out = dict(weights)
    for prefix, what in HEADS.items():
        names = sorted(k for k in weights if k.startswith(prefix))
        if not names:
            continue
        if prefix not in model_heads:
            for k in names:
                out.pop(k)
            logger.info(
                "%s: unused %s (%s; the model has none): not loaded",
                source,
                what,
                ", ".join(f"{k} {_shape(weights[k])}" for k in names),
            )
            continue
        mismatched = [
            k for k in names if k in model_state and _shape(weights[k]) != _shape(model_state[k])
        ]
        if mismatched and prefix in _SKIP_ON_SHAPE:
            for k in names:
                out.pop(k)
            logger.warning(
                "%s: the %s does not fit the model's (%s): not loaded; the model's %s keeps its "
                "initialisation (fine-tuning to another label set)",
                source,
                what,
                ", ".join(
                    f"{k}: checkpoint {_shape(weights[k])} vs model {_shape(model_state[k])}"
                    for k in mismatched
                ),
                what,
            )
    return out
