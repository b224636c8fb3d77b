"""``SlowFastCheckpointer``: the checkpointer ``MODEL.WEIGHTS`` and training resumption go
through."""

import logging
import os
from typing import Any, Dict, NamedTuple

import torch
from detectron2.checkpoint import DetectionCheckpointer

from slowfast_det.utils.file_io import atomic_path, remove_stale_temporaries

from .heads import HEADS, head_of, set_aside_heads
from .remote import local_weights
from .serialization import atomic_torch_save, safe_torch_load

__all__ = ["SlowFastCheckpointer", "CheckpointMismatchError"]

logger = logging.getLogger(__name__)

# Parameters that may be absent from a checkpoint: the heads (roi_heads.*, cls_head.*), left at
# their initialisation when fine-tuning, e.g. from a Kinetics checkpoint (see heads.py).
# Clip statistics, saved since the model normalises its input; older checkpoints of ours and
# converted ones lack them and keep MODEL.PIXEL_MEAN / PIXEL_STD of the config.
_PIXEL_BUFFERS = ("pixel_mean", "pixel_std")


def _flat(t):
    return None if t is None else [round(float(v), 4) for v in t.flatten()]


class CheckpointMismatchError(ValueError):
    """A checkpoint's names or shapes do not fit the model."""


class SlowFastCheckpointer(DetectionCheckpointer):
    """:class:`DetectionCheckpointer` with safe, strict loading and atomic saving.

    * Every file is read with ``torch.load(weights_only=True)``. Files written by
      ``tools/convert_checkpoint.py`` (``{"model": ..., "matching_heuristics": False}``), by
      this checkpointer and bare state dicts are accepted. Unconverted PySlowFast / pytorchvideo
      checkpoints (``model_state``) and Caffe2 ``.pkl`` files are refused with the command that
      converts them.
    * Loading fails with :class:`CheckpointMismatchError` listing every checkpoint name the
      model lacks, every model name the checkpoint lacks (except the head, ``roi_heads.*`` or
      ``cls_head.*``, which is logged and keeps its initialisation, and the clip statistics
      ``pixel_mean`` / ``pixel_std``, which keep the config's ``MODEL.PIXEL_MEAN`` / ``PIXEL_STD``
      with a log line) and every shape mismatch.
      The model is left untouched when loading fails.
    * Heads that do not fit (:mod:`slowfast_det.checkpoint.heads`): a head the model does not
      have is listed once in the log as unused, so a classifier checkpoint starts an AVA
      detector (backbone loaded strictly, e.g. ``tools/train_ava.py --config-file
      configs/AVA/SLOWFAST_32x2_R50.yaml MODEL.WEIGHTS kinetics_classifier.pth``; the AVA
      configs dilate res5, which changes no weight shape); a classification head with another
      class count is skipped with a warning (Kinetics -> Charades fine-tuning).
    * ``save`` writes ``<name>.pth`` and ``last_checkpoint`` atomically (temporary file, fsync,
      rename). The process that saves removes, when it starts, the temporary files a killed
      earlier run left in ``save_dir`` (unmodified for 10 minutes).
    """

    def __init__(self, model, save_dir: str = "", *, save_to_disk=None, **checkpointables):
        super().__init__(model, save_dir, save_to_disk=save_to_disk, **checkpointables)
        if self.save_dir and self.save_to_disk and os.path.isdir(self.save_dir):
            remove_stale_temporaries(self.save_dir)

    def load(self, path, *args, **kwargs):
        """``DetectionCheckpointer.load``; a URL is fetched first, and offline that fails with
        :class:`~slowfast_det.checkpoint.remote.WeightsDownloadError` (one line: what to pass)."""
        return super().load(local_weights(path), *args, **kwargs)

    def _load_file(self, filename: str) -> Dict[str, Any]:
        if filename.endswith(".pkl"):
            raise CheckpointMismatchError(
                f"{filename}: .pkl files (PySlowFast Caffe2 weights) are not loaded directly; "
                "convert it first: tools/convert_checkpoint.py --from pyslowfast-caffe2 "
                f"{filename} OUT.pth"
            )
        loaded = safe_torch_load(filename)
        if not isinstance(loaded, dict):
            raise CheckpointMismatchError(
                f"{filename}: expected a dict, got {type(loaded).__name__}"
            )
        if "model_state" in loaded and "model" not in loaded:
            raise CheckpointMismatchError(
                f"{filename}: this is an unconverted PySlowFast / pytorchvideo checkpoint "
                "('model_state'); convert it first: tools/convert_checkpoint.py --from "
                f"{{pyslowfast,pytorchvideo}} {filename} OUT.pth"
            )
        if "model" not in loaded:
            loaded = {"model": loaded}
        if loaded.get("matching_heuristics", False):
            raise CheckpointMismatchError(
                f"{filename}: name-matching heuristics are not supported; use "
                "tools/convert_checkpoint.py, which maps every name explicitly"
            )
        loaded["__source__"] = filename
        return loaded

    def _load_model(self, checkpoint: Dict[str, Any]) -> NamedTuple:
        source = checkpoint.pop("__source__", "checkpoint")
        weights = checkpoint["model"]
        if any(k.startswith("module.") for k in weights) and all(
            k.startswith("module.") for k in weights
        ):
            weights = {k[len("module.") :]: v for k, v in weights.items()}
        model_sd = self.model.state_dict()
        # Counters the model does not keep (FrozenBN has no num_batches_tracked).
        extra_counters = [
            k for k in weights if k.endswith("num_batches_tracked") and k not in model_sd
        ]
        for k in extra_counters:
            weights.pop(k)
        weights = set_aside_heads(weights, model_sd, source)
        unexpected = sorted(k for k in weights if k not in model_sd)
        missing = sorted(
            k for k in model_sd if k not in weights and not k.endswith("num_batches_tracked")
        )
        missing_head = [k for k in missing if head_of(k)]
        missing_pixel = [k for k in missing if k in _PIXEL_BUFFERS]
        missing_other = [k for k in missing if not head_of(k) and k not in _PIXEL_BUFFERS]
        shapes = sorted(
            f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(model_sd[k].shape)}"
            for k, v in weights.items()
            if k in model_sd and isinstance(v, torch.Tensor) and v.shape != model_sd[k].shape
        )
        if unexpected or missing_other or shapes:
            lines = [f"{source} does not fit the model:"]
            if unexpected:
                lines.append(f"  {len(unexpected)} name(s) not in the model:")
                lines += [f"    {k}" for k in unexpected]
            if missing_other:
                lines.append(f"  {len(missing_other)} model name(s) not in the checkpoint:")
                lines += [f"    {k}" for k in missing_other]
            if shapes:
                lines.append(f"  {len(shapes)} shape mismatch(es):")
                lines += [f"    {s}" for s in shapes]
            raise CheckpointMismatchError("\n".join(lines))
        for prefix in sorted({head_of(k) for k in missing_head}):
            logger.info(
                "%s has no %s (%s): it keeps its initialisation",
                source,
                HEADS[prefix],
                ", ".join(k for k in missing_head if k.startswith(prefix)),
            )
        if missing_pixel:
            logger.info(
                "%s has no clip statistics (%s), e.g. a checkpoint from before they were saved or "
                "a converted one: keeping the config's MODEL.PIXEL_MEAN / PIXEL_STD (%s / %s)",
                source,
                ", ".join(missing_pixel),
                _flat(model_sd.get("pixel_mean")),
                _flat(model_sd.get("pixel_std")),
            )
        for k in _PIXEL_BUFFERS:
            if (
                k in weights
                and k in model_sd
                and weights[k].shape == model_sd[k].shape
                and not torch.equal(weights[k].to(model_sd[k]), model_sd[k])
            ):
                logger.info(
                    "%s: %s %s from the checkpoint replaces the config's %s",
                    source,
                    k,
                    _flat(weights[k]),
                    _flat(model_sd[k]),
                )
        checkpoint["model"] = weights
        incompatible = super()._load_model(checkpoint)
        # Reported above (the head, the clip statistics) or intentionally absent (counters);
        # nothing else is left. Emptied in place, as DetectionCheckpointer does for pixel_mean.
        incompatible.missing_keys.clear()
        incompatible.unexpected_keys.clear()
        return incompatible

    def save(self, name: str, **kwargs: Any) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info("Saving checkpoint to %s", save_file)
        atomic_torch_save(data, save_file)
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        with atomic_path(os.path.join(self.save_dir, "last_checkpoint")) as tmp:
            with open(tmp, "w") as f:
                f.write(last_filename_basename)
