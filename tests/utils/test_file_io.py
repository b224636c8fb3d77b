"""slowfast_det.utils.file_io: complete-or-absent writes and cleanup after killed writers."""

import os
import subprocess
import sys
import time

import pytest

from slowfast_det.utils.file_io import atomic_path, remove_stale_temporaries


def test_atomic_path_replaces_on_success_and_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with atomic_path(str(target)) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)  # same folder: the rename is atomic
        with open(tmp, "w") as f:
            f.write("new")
        assert target.read_text() == "old"  # not visible before the block ends
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # the usual mode, not mkstemp's 0600
    with pytest.raises(RuntimeError):
        with atomic_path(str(target)) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("writer failed")
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["out.json"]


def test_killed_writer_leaves_a_temporary_that_is_removed_once_stale(tmp_path):
    target = tmp_path / "model_final.pth"
    code = (
        "import os, signal; from slowfast_det.utils.file_io import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    open(tmp, 'w').write('partial')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=os.getcwd())
    assert proc.returncode == -9
    (left,) = os.listdir(tmp_path)
    assert left.startswith(".model_final.pth.") and left.endswith(".tmp") and not target.exists()
    other = tmp_path / "notes.tmp"  # not one of ours (no leading dot): kept
    other.write_text("x")
    assert remove_stale_temporaries(str(tmp_path)) == []  # fresh: could still be written
    old = time.time() - 3600
    os.utime(tmp_path / left, (old, old))
    os.utime(other, (old, old))
    assert remove_stale_temporaries(str(tmp_path)) == [str(tmp_path / left)]
    assert os.listdir(tmp_path) == ["notes.tmp"]
