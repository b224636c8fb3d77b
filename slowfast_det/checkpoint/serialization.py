"""Safe reading and atomic writing of checkpoint files.

* PyTorch files are read with ``torch.load(..., weights_only=True)``: tensors and plain
  containers only, no arbitrary code.
* PySlowFast Caffe2 pickles (``{"blobs": {name: np.ndarray}}``, often written by Python 2)
  are read with :class:`RestrictedUnpickler`, which only rebuilds numpy arrays, numpy
  dtypes / scalars and builtin containers; any other global (``os.system`` in a crafted
  ``__reduce__``, ...) is refused with :class:`UnsafePickleError`.
* :func:`atomic_torch_save` writes a temporary file in the target folder, fsyncs it and
  renames it over the target, so the target is either complete or absent.
"""

import pickle
from typing import Any, BinaryIO

import numpy as np
import torch
from iopath.common.file_io import g_pathmgr

from slowfast_det.utils.file_io import atomic_path

__all__ = [
    "UnsafePickleError",
    "RestrictedUnpickler",
    "load_caffe2_pickle",
    "safe_torch_load",
    "atomic_torch_save",
]


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global that is not allowed (it could run code)."""


# (module, name) pairs a numpy / builtin-container pickle needs, under the module names used
# by Python 2, numpy 1.x and numpy 2.x.
_NUMPY_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
_multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray  # numpy 2 / 1
_ALLOWED_GLOBALS = {
    **{(m, "_reconstruct"): _multiarray._reconstruct for m in _NUMPY_MULTIARRAY},
    **{(m, "scalar"): _multiarray.scalar for m in _NUMPY_MULTIARRAY},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python 3 pickles (protocol < 3) store bytes as _codecs.encode(str, "latin1").
    ("_codecs", "encode"): __import__("codecs").encode,
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds only numpy arrays / dtypes / scalars and builtin containers.

    Anything else (functions, classes, ``__reduce__`` callables) raises
    :class:`UnsafePickleError` naming the refused global. Object-dtype arrays are refused by
    :func:`load_caffe2_pickle` after loading.
    """

    def __init__(self, file: BinaryIO, *, source: str = "<pickle>"):
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str):
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise UnsafePickleError(
                f"{self._source}: refused to load global '{module}.{name}': only numpy arrays and "
                "builtin containers may appear in a Caffe2 weights pickle (this file could run "
                "code when unpickled)"
            )
        return allowed

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self._source}: persistent ids are not allowed ({pid!r})")


def _check_arrays(obj: Any, source: str, where: str = "") -> None:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise UnsafePickleError(f"{source}: array {where or '<root>'} has object dtype")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_arrays(v, source, f"{where}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_arrays(v, source, f"{where}[{i}]")


def load_caffe2_pickle(path: str) -> Any:
    """Read a (possibly Python-2) pickle of numpy arrays safely; see
    :class:`RestrictedUnpickler`."""
    with g_pathmgr.open(path, "rb") as f:
        try:
            data = RestrictedUnpickler(f, source=path).load()
        except UnsafePickleError:
            raise
        except Exception as e:  # truncated / not a pickle
            raise pickle.UnpicklingError(f"{path}: not a readable pickle file: {e}") from e
    _check_arrays(data, path)
    return data


def safe_torch_load(path: str) -> Any:
    """``torch.load`` with ``weights_only=True`` on the CPU, with the file named in errors."""
    with g_pathmgr.open(path, "rb") as f:
        try:
            return torch.load(f, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise pickle.UnpicklingError(
                f"{path}: refused or failed to load with torch.load(weights_only=True) (only "
                f"tensors and plain containers are accepted): {e}"
            ) from e


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary file next to ``path``, fsync, then ``os.replace``
    (:func:`slowfast_det.utils.file_io.atomic_path`)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
