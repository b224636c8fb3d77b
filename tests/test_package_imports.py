"""What importing each layer does, in a fresh interpreter (no mode, no environment variable):
``slowfast_det`` registers nothing and loads neither torch nor Detectron2, ``slowfast_det.ava``
neither; ``slowfast_det.config`` registers the model components its defaults name (a default
config builds), ``slowfast_det.data`` the built-in AVA datasets."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = """
import json, sys
def heavy():
    return sorted({"torch", "detectron2"} & {m.split(".")[0] for m in sys.modules})
out = {}
import slowfast_det, slowfast_det.utils.cpu_env
out["package"] = heavy()
import slowfast_det.ava.metric, slowfast_det.ava.evaluate
import slowfast_det.ava.io, slowfast_det.ava.files
out["ava"] = heavy()
from detectron2.data import DatasetCatalog
from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY, ROI_HEADS_REGISTRY
def components():
    return ["VideoActionDetector" in META_ARCH_REGISTRY,
            "build_slowfast_backbone" in BACKBONE_REGISTRY, "ROIAlign3DHead" in ROI_HEADS_REGISTRY]
out["before"] = [components(), "synthetic_ava_train" in DatasetCatalog.list()]
from slowfast_det.config import add_slowfast_config
out["config"] = [components(), "synthetic_ava_train" in DatasetCatalog.list()]
import slowfast_det.data
out["data"] = [n in DatasetCatalog.list() for n in ("synthetic_ava_train", "ava_v2.2_val")]
print(json.dumps(out))
"""


def test_each_layer_registers_what_it_defines_and_nothing_else():
    path = [REPO] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, check=True
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["package"] == [] and r["ava"] == []
    assert r["before"] == [[False, False, False], False]
    assert r["config"] == [[True, True, True], False]
    assert r["data"] == [True, True]
