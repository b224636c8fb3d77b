"""slowfast_det: SlowFast networks for AVA action detection, as a Detectron2 extension.

Importing the package registers its components in Detectron2's registries
(backbone, ROI head, meta-architecture) and the AVA datasets in DatasetCatalog.
"""
from . import data, engine, evaluation, modeling  # noqa: F401  (registration on import)
from .config import add_slowfast_config

__all__ = ["add_slowfast_config"]
__version__ = "0.1.0"
