#!/usr/bin/env bash
# Builds (or re-checks) the project-local virtual environment .venv with pinned versions.
#
#   bash tools/setup_env.sh        # idempotent: a second run takes a few seconds
#
# detectron2: if the interpreter that runs this script can already import detectron2
# (for example one built from source with CUDA), that detectron2 and its torch are used.
# Otherwise detectron2 0.7.2's Python
# code is installed from PyPI's sal-detectron2 wheel (tagged for CPython 3.10; its compiled
# _C is not loaded, which only loses deformable convolution and rotated boxes).
# Environment: PYTHON (base interpreter, default python3), VENV (default <repo>/.venv).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$ROOT/.venv}"
LOG="$VENV/setup.log"
D2_WHEEL_VERSION="0.7.2"

die() { echo "setup_env: ERROR: $*" >&2; [ -f "$LOG" ] && echo "setup_env: details in $LOG" >&2; exit 1; }
say() { echo "setup_env: $*"; }

command -v "$PYTHON" >/dev/null 2>&1 || die "no '$PYTHON' interpreter found; set PYTHON=/path/to/python3.11"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 10) else 1)' \
  || die "Python >= 3.10 is required, '$PYTHON' is $("$PYTHON" -V 2>&1)"

# Fingerprint of everything that decides the environment's content.
STAMP_INPUT="$(cat "$ROOT/requirements.txt" "$ROOT/tools/setup_env.sh" "$ROOT/setup.py"; "$PYTHON" -V 2>&1)"
STAMP="$(printf '%s' "$STAMP_INPUT" | sha256sum | cut -d' ' -f1)"
if [ -f "$VENV/.setup_stamp" ] && [ "$(cat "$VENV/.setup_stamp")" = "$STAMP" ] \
   && "$VENV/bin/python" -c 'import torch, detectron2, slowfast_det' >/dev/null 2>&1; then
  say "environment $VENV is up to date"
  exit 0
fi

# A detectron2 the base interpreter can import (e.g. built from source against the user's
# CUDA torch) is used as is: its site directory is added to the venv through a .pth file
# and the venv then uses that environment's torch/torchvision (detectron2's compiled ops
# are tied to them) instead of installing the pinned ones.
EXTERNAL_SITES=""
if "$PYTHON" -c 'import detectron2' >/dev/null 2>&1; then
  EXTERNAL_SITES="$("$PYTHON" -c '
import os, detectron2
dirs = [os.path.dirname(os.path.dirname(os.path.abspath(detectron2.__file__)))]
try:
    import torch
    dirs.append(os.path.dirname(os.path.dirname(os.path.abspath(torch.__file__))))
except ImportError:
    pass
print("\n".join(dict.fromkeys(dirs)))')"
  say "found an importable detectron2 under $(echo "$EXTERNAL_SITES" | head -1); it will be used"
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create the venv at $VENV (is python3-venv installed?)"
fi
VPY="$VENV/bin/python"

REQS="$ROOT/requirements.txt"
if [ -n "$EXTERNAL_SITES" ]; then
  SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$EXTERNAL_SITES" > "$SITE/zz_external_detectron2.pth"
  if "$VPY" -c 'import torch, torchvision' >/dev/null 2>&1; then
    REQS="$VENV/requirements.external-torch.txt"
    grep -vE '^(torch|torchvision)==' "$ROOT/requirements.txt" > "$REQS"
    say "using the external torch $("$VPY" -c 'import torch; print(torch.__version__)') that detectron2 was built with"
  fi
fi

say "installing pinned packages from requirements.txt (the first run takes a few minutes)"
"$VPY" -m pip install --disable-pip-version-check -r "$REQS" >>"$LOG" 2>&1 \
  || die "pip could not install requirements.txt: $(grep -iE '^error' "$LOG" | head -3)"

if "$VPY" -c 'import detectron2' >/dev/null 2>&1; then
  say "detectron2 $("$VPY" -c 'import detectron2; print(detectron2.__version__)') is importable; keeping it"
else
  say "installing detectron2 $D2_WHEEL_VERSION (Python code from sal-detectron2)"
  SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  TMP_TARGET="$(mktemp -d)"
  "$VPY" -m pip install --disable-pip-version-check --no-deps --only-binary=:all: \
      --python-version 3.10 --target "$TMP_TARGET" "sal-detectron2==$D2_WHEEL_VERSION" >>"$LOG" 2>&1 \
    || die "could not download sal-detectron2==$D2_WHEEL_VERSION from PyPI; build detectron2 from source instead"
  # The wheel carries a stray top-level 'tools' package that would shadow ours: drop it.
  rm -rf "$TMP_TARGET/tools" "$TMP_TARGET/bin"
  cp -r "$TMP_TARGET"/. "$SITE"/ || die "could not copy detectron2 into $SITE"
  rm -rf "$TMP_TARGET"
  "$VPY" -c 'import detectron2, detectron2.modeling' >>"$LOG" 2>&1 || die "detectron2 installed but does not import"
fi

"$VPY" -m pip install --disable-pip-version-check --no-deps -e "$ROOT" >>"$LOG" 2>&1 \
  || die "could not install slowfast_det in editable mode"
"$VPY" -c 'import torch, torchvision, cv2, pandas, fvcore, detectron2, slowfast_det' >>"$LOG" 2>&1 \
  || die "the environment does not import: $(tail -1 "$LOG")"
# detectron2.model_zoo needs pkg_resources (setuptools < 82, pinned in requirements.txt)
"$VPY" -c 'from detectron2 import model_zoo' >>"$LOG" 2>&1 \
  || die "detectron2.model_zoo does not import (pkg_resources missing? requirements.txt pins setuptools): $(tail -1 "$LOG")"
echo "$STAMP" > "$VENV/.setup_stamp"
say "environment ready: $VENV ($("$VPY" -c 'import torch, detectron2; print("torch", torch.__version__, "detectron2", detectron2.__version__)'))"
