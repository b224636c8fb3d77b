#!/usr/bin/env bash
# Builds (or re-checks) the project-local virtual environment .venv with pinned versions.
#
#   bash tools/setup_env.sh        # idempotent: a second run takes a few seconds
#
# detectron2: if the interpreter that runs this script can already import detectron2
# (for example one built from source with CUDA), the venv is created with
# --system-site-packages and that detectron2 is used. Otherwise detectron2 0.7.2's Python
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

SYSTEM_D2=0
if "$PYTHON" -c 'import detectron2' >/dev/null 2>&1; then
  SYSTEM_D2=1
  say "found an importable detectron2 in $("$PYTHON" -c 'import detectron2, os; print(os.path.dirname(detectron2.__file__))'); it will be used"
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV"
  if [ "$SYSTEM_D2" = 1 ]; then
    "$PYTHON" -m venv --system-site-packages "$VENV" || die "could not create the venv at $VENV"
  else
    "$PYTHON" -m venv "$VENV" || die "could not create the venv at $VENV (is python3-venv installed?)"
  fi
fi
: > "$LOG"
VPY="$VENV/bin/python"

say "installing pinned packages from requirements.txt (the first run takes a few minutes)"
"$VPY" -m pip install --disable-pip-version-check -r "$ROOT/requirements.txt" >>"$LOG" 2>&1 \
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

"$VPY" -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e "$ROOT" >>"$LOG" 2>&1 \
  || die "could not install slowfast_det in editable mode"
"$VPY" -c 'import torch, torchvision, cv2, pandas, fvcore, detectron2, slowfast_det' >>"$LOG" 2>&1 \
  || die "the environment does not import: $(tail -1 "$LOG")"
echo "$STAMP" > "$VENV/.setup_stamp"
say "environment ready: $VENV ($("$VPY" -c 'import torch, detectron2; print("torch", torch.__version__, "detectron2", detectron2.__version__)'))"
