"""slowfast_det: SlowFast networks for AVA action detection, as a Detectron2 extension.

Importing the package registers its components in Detectron2's registries
(backbone, ROI head, meta-architecture) and the AVA datasets in DatasetCatalog.

With the environment variable ``SLOWFAST_DET_LIGHT_IMPORT=1`` set before the first import,
the package and ``slowfast_det.data`` import nothing themselves (no torch, no Detectron2,
nothing registered), so that a tool needing only the file readers and the metric
(``slowfast_det.ava.io``, ``slowfast_det.ava.metric``: numpy and pandas) starts in
a fraction of a second; ``tools/eval_ava.py`` does this.
"""
import os
import warnings

#: True when imported with SLOWFAST_DET_LIGHT_IMPORT=1 (nothing registered).
LIGHT_IMPORT = os.environ.get("SLOWFAST_DET_LIGHT_IMPORT", "") == "1"

__all__ = ["add_slowfast_config"]
__version__ = "0.1.0"

if not LIGHT_IMPORT:
    # detectron2 0.7 scripts a few helpers with torch.jit.script at import time; torch >= 2.10
    # warns about that on every import. Nothing in slowfast_det relies on TorchScript.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)

    from . import data, engine, evaluation, modeling  # noqa: F401  (registration on import)
    from .config import add_slowfast_config
else:

    def __getattr__(name):
        if name == "add_slowfast_config":
            from .config import add_slowfast_config

            return add_slowfast_config
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
