"""Weights given as URLs (``https://...``, ``detectron2://...``): downloaded once into
iopath's cache (``$FVCORE_CACHE``, default ``~/.torch/iopath_cache``) by Detectron2's
``PathManager``. Offline, the download fails with one line that says what to do."""

from detectron2.utils.file_io import PathManager

__all__ = ["WeightsDownloadError", "is_remote", "local_weights"]


class WeightsDownloadError(OSError):
    """Remote weights could not be fetched (no network, wrong URL)."""


def is_remote(path):
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


def local_weights(path, key="MODEL.WEIGHTS"):
    """A local path for ``path``: unchanged when it is not a URL, else the downloaded file.

    Args:
        path: a file path or a URL.
        key: the config key the path came from, named in the error.
    Raises:
        WeightsDownloadError: one line naming the URL, the reason and what to pass instead.
    """
    if not is_remote(path):
        return path
    try:
        return PathManager.get_local_path(path)
    except Exception as e:  # urllib, socket and iopath errors alike
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        raise WeightsDownloadError(
            f"cannot download {key} {path} ({reason}); download the file where there is network "
            f"access and pass its local path: {key} /path/to/{path.rstrip('/').rsplit('/', 1)[-1]}"
        ) from None
