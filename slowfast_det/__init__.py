"""slowfast_det: SlowFast networks for AVA action detection, as a Detectron2 extension.

Like ``import detectron2``, importing the package registers nothing and imports neither
torch nor Detectron2. Registration happens where the components are defined:

- ``import slowfast_det.modeling`` registers ``build_slowfast_backbone`` (BACKBONE_REGISTRY),
  ``ROIAlign3DHead`` (ROI_HEADS_REGISTRY) and ``VideoActionDetector`` (META_ARCH_REGISTRY);
  ``slowfast_det.config`` imports it, so ``add_slowfast_config(cfg); build_model(cfg)`` works;
- ``import slowfast_det.data`` registers the built-in AVA datasets in DatasetCatalog.

``slowfast_det.ava`` (the AVA file readers and the frame-mAP) needs numpy and pandas only;
``tools/eval_ava.py`` imports just that. ``slowfast_det.utils.cpu_env`` is importable before
torch (see its ``configure_cpu_threads``).
"""

import warnings

__version__ = "0.1.0"

# Two deprecation warnings that Detectron2 0.7 triggers in its own imports, which a user can
# do nothing about: it scripts a few helpers with torch.jit.script (torch >= 2.10 warns), and
# detectron2.model_zoo imports pkg_resources (setuptools >= 80 warns). Nothing here relies on
# TorchScript or pkg_resources' deprecated API. Set here, the filters precede every Detectron2
# import made through the package.
warnings.filterwarnings(
    "ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning
)
warnings.filterwarnings(
    "ignore", message=r"pkg_resources is deprecated as an API", category=UserWarning
)
