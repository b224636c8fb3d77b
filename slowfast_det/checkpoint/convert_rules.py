"""The name-mapping rules of :mod:`slowfast_det.checkpoint.convert`: for each source format,
regular expressions over the source names and the project name each one becomes.

* :data:`PYTORCHVIDEO_RULES`: pytorchvideo names (``blocks.N.multipathway_blocks.P...``,
  ``detection_head.proj``, ``blocks.N.proj``) -> this project's names;
* :data:`PYSLOWFAST_RULES`: PySlowFast names (``s1.pathway0_stem...``, ``s1_fuse...``,
  ``s4.pathway0_nonlocal6...``, ``head.projection``) -> this project's names;
* :data:`CAFFE2_RULES`: PySlowFast Caffe2 blob names (``res2_0_branch2a_w``, ``t_`` prefix for
  the Fast pathway, ``pred_w``) -> PySlowFast names; :data:`CAFFE2_SOLVER_BLOB` matches the
  solver state saved next to them.

:func:`apply_rules` gives a name's new name (None when no rule matches).
"""

import re
from typing import Callable, List, Optional, Tuple

__all__ = [
    "Rule",
    "PREDICTOR",
    "CLASSIFIER_PREDICTOR",
    "PYTORCHVIDEO_RULES",
    "PYSLOWFAST_RULES",
    "CAFFE2_RULES",
    "CAFFE2_SOLVER_BLOB",
    "apply_rules",
]

# Parameter prefixes of the AVA action head and of the classification head.
PREDICTOR = "roi_heads.predictor"
CLASSIFIER_PREDICTOR = "cls_head.predictor"

_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_C2_BN = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_C2_PARAM = {"w": "weight", "b": "bias"}
_ABC = {"a": "conv1", "b": "conv2", "c": "conv3"}
# pytorchvideo block index -> our stage name.
_PTV_STAGE = {0: "stem", 1: "res2", 2: "res3", 3: "res4", 4: "res5"}
# PySlowFast stage index (s1..s4 fuse) -> our stage name.
_PSF_STAGE = {1: "stem", 2: "res2", 3: "res3", 4: "res4", 5: "res5"}

Rule = Tuple["re.Pattern[str]", Callable[["re.Match[str]"], object]]


def _rules(pairs) -> List[Rule]:
    return [(re.compile(pattern), fn) for pattern, fn in pairs]


def _bb(*parts) -> str:
    return "backbone." + ".".join(str(p) for p in parts)


def _pathway(group: Optional[str]) -> str:
    return f"pathway{int(group) if group is not None else 0}"


_PTV_BLOCK = r"blocks\.([1-4])\.(?:multipathway_blocks\.(\d+)\.)?res_blocks\.(\d+)\."
PYTORCHVIDEO_RULES = _rules(
    [
        (
            r"blocks\.0\.(?:multipathway_blocks\.(\d+)\.)?conv\.weight",
            lambda m: _bb("stem", _pathway(m[1]), "conv.weight"),
        ),
        (
            r"blocks\.0\.(?:multipathway_blocks\.(\d+)\.)?norm\." + _BN,
            lambda m: _bb("stem", _pathway(m[1]), "conv.norm", m[2]),
        ),
        (
            r"blocks\.([0-3])\.multipathway_fusion\.conv_fast_to_slow\.weight",
            lambda m: _bb(_PTV_STAGE[int(m[1])], "fuse.conv.weight"),
        ),
        (
            r"blocks\.([0-3])\.multipathway_fusion\.norm\." + _BN,
            lambda m: _bb(_PTV_STAGE[int(m[1])], "fuse.conv.norm", m[2]),
        ),
        (
            _PTV_BLOCK + r"branch1_conv\.weight",
            lambda m: _bb(_PTV_STAGE[int(m[1])], _pathway(m[2]), m[3], "shortcut.weight"),
        ),
        (
            _PTV_BLOCK + r"branch1_norm\." + _BN,
            lambda m: _bb(_PTV_STAGE[int(m[1])], _pathway(m[2]), m[3], "shortcut.norm", m[4]),
        ),
        (
            _PTV_BLOCK + r"branch2\.conv_([abc])\.weight",
            lambda m: _bb(_PTV_STAGE[int(m[1])], _pathway(m[2]), m[3], _ABC[m[4]], "weight"),
        ),
        (
            _PTV_BLOCK + r"branch2\.norm_([abc])\." + _BN,
            lambda m: _bb(_PTV_STAGE[int(m[1])], _pathway(m[2]), m[3], _ABC[m[4]], "norm", m[5]),
        ),
        (r"detection_head\.proj\.(weight|bias)", lambda m: f"{PREDICTOR}.{m[1]}"),
        (r"blocks\.\d+\.proj\.(weight|bias)", lambda m: f"{CLASSIFIER_PREDICTOR}.{m[1]}"),
    ]
)

_PSF_BLOCK = r"s([2-5])\.pathway(\d+)_res(\d+)\."
_PSF_NONLOCAL = r"s([2-5])\.pathway(\d+)_nonlocal(\d+)\."
PYSLOWFAST_RULES = _rules(
    [
        (
            r"s1\.pathway(\d+)_stem\.conv\.weight",
            lambda m: _bb("stem", _pathway(m[1]), "conv.weight"),
        ),
        (
            r"s1\.pathway(\d+)_stem\.bn\." + _BN,
            lambda m: _bb("stem", _pathway(m[1]), "conv.norm", m[2]),
        ),
        (
            r"s([1-4])_fuse\.conv_f2s\.weight",
            lambda m: _bb(_PSF_STAGE[int(m[1])], "fuse.conv.weight"),
        ),
        (
            r"s([1-4])_fuse\.bn\." + _BN,
            lambda m: _bb(_PSF_STAGE[int(m[1])], "fuse.conv.norm", m[2]),
        ),
        (
            _PSF_BLOCK + r"branch1\.weight",
            lambda m: _bb(f"res{m[1]}", _pathway(m[2]), m[3], "shortcut.weight"),
        ),
        (
            _PSF_BLOCK + r"branch1_bn\." + _BN,
            lambda m: _bb(f"res{m[1]}", _pathway(m[2]), m[3], "shortcut.norm", m[4]),
        ),
        (
            _PSF_BLOCK + r"branch2\.([abc])\.weight",
            lambda m: _bb(f"res{m[1]}", _pathway(m[2]), m[3], _ABC[m[4]], "weight"),
        ),
        (
            _PSF_BLOCK + r"branch2\.([abc])_bn\." + _BN,
            lambda m: _bb(f"res{m[1]}", _pathway(m[2]), m[3], _ABC[m[4]], "norm", m[5]),
        ),
        (
            _PSF_NONLOCAL + r"conv_(theta|phi|g|out)\.(weight|bias)",
            lambda m: _bb(f"res{m[1]}", _pathway(m[2]), f"nonlocal{m[3]}", f"conv_{m[4]}", m[5]),
        ),
        (
            _PSF_NONLOCAL + r"bn\." + _BN,
            lambda m: _bb(f"res{m[1]}", _pathway(m[2]), f"nonlocal{m[3]}", "conv_out.norm", m[4]),
        ),
        (r"head\.projection\.(weight|bias)", lambda m: f"{PREDICTOR}.{m[1]}"),
    ]
)


def _c2_pathway(prefix: Optional[str]) -> int:
    return 1 if prefix else 0


# Caffe2 blob name -> PySlowFast name (then converted by the PySlowFast rules).
CAFFE2_RULES = _rules(
    [
        (r"(t_)?conv1_w", lambda m: f"s1.pathway{_c2_pathway(m[1])}_stem.conv.weight"),
        (
            r"(t_)?res_conv1_bn_(s|b|rm|riv)",
            lambda m: f"s1.pathway{_c2_pathway(m[1])}_stem.bn.{_C2_BN[m[2]]}",
        ),
        (r"t_pool1_subsample_w", lambda m: "s1_fuse.conv_f2s.weight"),
        (r"t_pool1_subsample_bn_(s|b|rm|riv)", lambda m: f"s1_fuse.bn.{_C2_BN[m[1]]}"),
        (r"t_res([2-4])_\d+_branch2c_bn_subsample_w", lambda m: f"s{m[1]}_fuse.conv_f2s.weight"),
        (
            r"t_res([2-4])_\d+_branch2c_bn_subsample_bn_(s|b|rm|riv)",
            lambda m: f"s{m[1]}_fuse.bn.{_C2_BN[m[2]]}",
        ),
        (
            r"(t_)?res([2-5])_(\d+)_branch2([abc])_w",
            lambda m: f"s{m[2]}.pathway{_c2_pathway(m[1])}_res{m[3]}.branch2.{m[4]}.weight",
        ),
        (
            r"(t_)?res([2-5])_(\d+)_branch2([abc])_bn_(s|b|rm|riv)",
            lambda m: (
                f"s{m[2]}.pathway{_c2_pathway(m[1])}_res{m[3]}.branch2.{m[4]}_bn.{_C2_BN[m[5]]}"
            ),
        ),
        (
            r"(t_)?res([2-5])_(\d+)_branch1_w",
            lambda m: f"s{m[2]}.pathway{_c2_pathway(m[1])}_res{m[3]}.branch1.weight",
        ),
        (
            r"(t_)?res([2-5])_(\d+)_branch1_bn_(s|b|rm|riv)",
            lambda m: f"s{m[2]}.pathway{_c2_pathway(m[1])}_res{m[3]}.branch1_bn.{_C2_BN[m[4]]}",
        ),
        (
            r"nonlocal_conv([2-5])_(\d+)_(theta|phi|g|out)_(w|b)",
            lambda m: f"s{m[1]}.pathway0_nonlocal{m[2]}.conv_{m[3]}.{_C2_PARAM[m[4]]}",
        ),
        (
            r"nonlocal_conv([2-5])_(\d+)_bn_(s|b|rm|riv)",
            lambda m: f"s{m[1]}.pathway0_nonlocal{m[2]}.bn.{_C2_BN[m[3]]}",
        ),
        (r"pred_(w|b)", lambda m: f"head.projection.{_C2_PARAM[m[1]]}"),
    ]
)
# Caffe2 solver state saved next to the weights.
CAFFE2_SOLVER_BLOB = re.compile(r".*_momentum|lr|model_iter")


def apply_rules(rules: List[Rule], key: str):
    """The new name of ``key`` under the first of ``rules`` that matches it whole, or None."""
    for pattern, fn in rules:
        m = pattern.fullmatch(key)
        if m is not None:
            return fn(m)
    return None
