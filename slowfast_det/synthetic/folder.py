"""Generated dataset folders that are complete or absent (the synthetic AVA set and the
synthetic classification set).

A folder ``<root>`` is built as ``<root>.incomplete-<pid>`` and renamed to ``<root>`` at the
end (:func:`staged_folder`); a leftover ``.incomplete-*`` folder of a dead process is removed
by the next run; an existing folder is replaced only when it holds the generator's manifest
(a JSON file), so a folder of real data is never overwritten. The videos are rendered by
independent jobs, in parallel processes (:func:`run_jobs`).
"""

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed

from tqdm import tqdm

__all__ = [
    "read_manifest",
    "manifest_matches",
    "check_replaceable",
    "remove_stale_staging",
    "staged_folder",
    "run_jobs",
]

logger = logging.getLogger(__name__)


def read_manifest(root, manifest_name, what):
    """The manifest ``<root>/<manifest_name>`` of a complete generated dataset, ``None`` when
    there is none, ``{}`` (logged) when it is unreadable. ``what`` names the dataset in logs."""
    path = os.path.join(root, manifest_name)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as e:
        logger.warning(
            "%s: unreadable manifest %s (%s); the dataset will be regenerated", what, path, e
        )
        return {}


def manifest_matches(manifest, spec, generator_version):
    """Whether ``manifest`` (of :func:`read_manifest`) records this generator version and
    these parameters (``spec``, a dataclass); a dataset that matches need not be generated."""
    return (
        bool(manifest)
        and manifest.get("generator_version") == generator_version
        and manifest.get("spec") == dataclasses.asdict(spec)
    )


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(root, what):
    """Remove the ``<root>.incomplete-<pid>`` folders of dead processes."""
    parent, base = os.path.split(root)
    for name in os.listdir(parent or "."):
        if not name.startswith(base + ".incomplete-"):
            continue
        try:
            pid = int(name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            logger.info("%s: removing the leftover of an interrupted generation: %s", what, name)
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def check_replaceable(root, manifest_name, what):
    """FileExistsError when ``root`` exists and is not a dataset of this generator (no
    manifest) or not a folder."""
    if (
        os.path.isdir(root)
        and os.listdir(root)
        and read_manifest(root, manifest_name, what) is None
    ):
        raise FileExistsError(
            f"{what}: {root} exists and is not a {what} dataset (no {manifest_name}); "
            "remove it or choose another root"
        )
    if os.path.exists(root) and not os.path.isdir(root):
        raise FileExistsError(f"{what}: {root} exists and is not a folder")


@contextlib.contextmanager
def staged_folder(root, manifest_name, what, same_manifest):
    """Yield an empty staging folder next to ``root``; write the dataset there, manifest
    included. On success it replaces ``root`` (an older generated dataset); on any exception
    it is removed and ``root`` is left as it was.

    Args:
        root: absolute path of the dataset folder.
        same_manifest: ``manifest -> bool``: whether a dataset that another process installed
            meanwhile is the one being built (then it is kept and the staging folder dropped).
    """
    check_replaceable(root, manifest_name, what)
    os.makedirs(os.path.dirname(root), exist_ok=True)
    remove_stale_staging(root, what)
    tmp = f"{root}.incomplete-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        yield tmp
        _install(tmp, root, manifest_name, what, same_manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _install(tmp, root, manifest_name, what, same_manifest):
    """Rename the finished ``tmp`` to ``root``, replacing an older generated dataset."""
    old = None
    if os.path.lexists(root):
        check_replaceable(root, manifest_name, what)
        old = f"{root}.old-{os.getpid()}"
        os.replace(root, old)
    try:
        os.replace(tmp, root)
    except OSError:
        # another process installed a dataset meanwhile: keep it if it is the same
        if same_manifest(read_manifest(root, manifest_name, what)):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _mp_context():
    """Workers start from a fresh process (forkserver, else spawn), never by forking the
    caller: a process forked while OpenCV's thread pool runs deadlocks in its first OpenCV
    call (seen in the test suite: generate(workers=2) after another cv2 user)."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def run_jobs(fn, jobs, *, workers, progress, desc):
    """``[fn(job) for job in jobs]`` (in job order), in ``workers`` processes (1: in this
    one), with a tqdm bar of one step per job when ``progress``."""
    results = [None] * len(jobs)
    bar = tqdm(total=len(jobs), desc=desc, unit="video", disable=not progress, dynamic_ncols=True)
    try:
        if workers <= 1:
            for i, job in enumerate(jobs):
                results[i] = fn(job)
                bar.update(1)
        else:
            with ProcessPoolExecutor(
                max_workers=min(workers, len(jobs)), mp_context=_mp_context()
            ) as pool:
                futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update(1)
    finally:
        bar.close()
    return results
