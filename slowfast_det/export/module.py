"""A tensors-only view of :class:`~slowfast_det.modeling.VideoActionDetector` for tracing.

The detector takes lists of dicts with ``Instances``; exporters (``torch.onnx``,
``torch.jit.trace``) want tensors in and tensors out. :class:`ExportableActionDetector`
takes what the data mapper produces, stacked, and the person boxes as one ``(R, 5)`` tensor,
and runs the detector's own preprocessing, backbone and head on them.
"""

import torch
from detectron2.modeling import build_model
from torch import nn

from slowfast_det.checkpoint import SlowFastCheckpointer
from slowfast_det.engine.predictor import check_model_weights
from slowfast_det.modeling.fast_ops import temporal_mean
from slowfast_det.modeling.preprocess import split_pathways

__all__ = ["ExportableActionDetector", "build_exportable"]


class ExportableActionDetector(nn.Module):
    """``forward(clips, rois) -> scores`` with the parameters of a ``VideoActionDetector``.

    * ``clips``: ``(N, 3, T, H, W)``, RGB, uint8 (the mapper's clips stacked) or float in
      0-255 units, not normalised; T is fixed by the export (the Slow frame indices are
      constants of the graph), N, H and W may vary.
    * ``rois``: float ``(R, 5)``: clip index in the batch, then ``x1, y1, x2, y2`` in clip pixels
      (detectron2's pooler format, ``convert_boxes_to_pooler_format``).
    * returns ``(R, K)`` per-class probabilities (the head's sigmoid or softmax), rows in
      ``rois`` order.

    Inside: ``(x - pixel_mean) / pixel_std``, the pathway split of ``split_pathways``, the
    backbone, then the ROI head's per-pathway temporal mean, ROIAlign and spatial max,
    concatenation and classifier (eval mode: no dropout). The scores equal the detector's
    for the same clips and boxes (tests/export/test_export_model.py); the head is re-assembled
    from its submodules here because ``ROIAlign3DHead`` takes ``Boxes`` lists, not a tensor.
    """

    def __init__(self, model: nn.Module, weights: str = ""):
        """
        Args:
            model: a ``VideoActionDetector`` (any device; export needs it on the CPU).
            weights: where its weights came from (``MODEL.WEIGHTS``); empty = random weights.
                Recorded in the exported file, whose runtime refuses random weights unless
                allowed.
        """
        super().__init__()
        for name in ("backbone", "roi_heads", "pixel_mean", "pixel_std", "arch", "alpha"):
            if not hasattr(model, name):
                raise TypeError(
                    f"ExportableActionDetector needs a VideoActionDetector; {type(model).__name__} "
                    f"has no {name!r}"
                )
        head = model.roi_heads
        for name in ("in_features", "poolers", "predictor", "act"):
            if not hasattr(head, name):
                raise TypeError(
                    f"ExportableActionDetector needs an ROIAlign3DHead; {type(head).__name__} "
                    f"has no {name!r}"
                )
        self.model = model.eval()
        self.weights = weights

    def forward(self, clips: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = (clips.float() - m.pixel_mean) / m.pixel_std
        features = m.backbone(split_pathways(x, m.arch, m.alpha))  # packs them in its memory format
        head = m.roi_heads
        pooled = [
            pooler(temporal_mean(features[name]), rois).amax(dim=(2, 3))
            for name, pooler in zip(head.in_features, head.poolers)
        ]
        logits = head.predictor(torch.cat(pooled, dim=1))
        return logits.sigmoid() if head.act == "sigmoid" else logits.softmax(dim=1)


def build_exportable(cfg, allow_random_weights: bool = False) -> ExportableActionDetector:
    """The detector of ``cfg`` with ``MODEL.WEIGHTS`` loaded, on the CPU, in eval mode, as an
    :class:`ExportableActionDetector`.

    An empty ``MODEL.WEIGHTS`` raises :class:`~slowfast_det.engine.predictor.RandomWeightsError`
    unless ``allow_random_weights`` (as ``tools/infer_ava.py``). ``TEST.BF16`` is switched off
    (the exported graph is fp32), and so is ``MODEL.SLOWFAST.CHANNELS_LAST``: the TorchScript-based
    ONNX exporter cannot trace memory-format conversions, and an ONNX graph has no memory
    format (the runtime picks its own layouts), so every 3D convolution is traced as one
    ``Conv`` node rather than as the 2D formulations of :mod:`slowfast_det.modeling.fast_ops`.
    The state_dict is the same either way.
    """
    check_model_weights(cfg, allow_random_weights)
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu"
    cfg.TEST.BF16 = False
    cfg.MODEL.SLOWFAST.CHANNELS_LAST = False
    cfg.freeze()
    model = build_model(cfg)
    if cfg.MODEL.WEIGHTS:
        SlowFastCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    return ExportableActionDetector(model, weights=cfg.MODEL.WEIGHTS).eval()
