"""slowfast_det: SlowFast networks for AVA action detection, as a Detectron2 extension.

Importing the package registers its components in Detectron2's registries
(backbone, ROI head, meta-architecture) and the AVA datasets in DatasetCatalog.
"""
import warnings

# detectron2 0.7 scripts a few helpers with torch.jit.script at import time; torch >= 2.10
# warns about that on every import. Nothing in slowfast_det relies on TorchScript.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)

from . import data, engine, evaluation, modeling  # noqa: F401  (registration on import)
from .config import add_slowfast_config

__all__ = ["add_slowfast_config"]
__version__ = "0.1.0"
