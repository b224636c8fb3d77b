#!/usr/bin/env bash
# One prepared GPU check: a CUDA smoke test of train / eval / demo on the synthetic set,
# the model benchmark, and the numbers in one results file.
#
#   bash tools/gpu_check.sh                         # CUDA, the full check (estimated 4-5 min on an H200)
#   bash tools/gpu_check.sh --device cpu --quick    # the same steps, tiny sizes (40-65 s on 2 cores)
#
# Steps (each under `timeout`; a failed step is recorded and the others still run):
#   env       python / torch / CUDA / GPU, and the imports the steps need (missing ones named)
#   data      the synthetic AVA-format set (datasets/prepare_synthetic_ava.py; --quick: 2+1 short videos)
#   train     tools/train_ava.py, the default synthetic recipe (configs/synthetic/SLOWFAST_synthetic.yaml)
#             for --iters iterations (default 1200, the README recipe; --quick 4), MODEL.DEVICE --device;
#             ends with the evaluation of the val set (frame-mAP)
#   eval      tools/train_ava.py --eval-only on the trained model_final.pth (frame-mAP again)
#   multigrid the train step's recipe with multigrid training (SOLVER.MULTIGRID long + short
#             cycles, docs/MULTIGRID.md; AMP on CUDA and on CPUs with native bfloat16,
#             channels-last 3D as configured): frame-mAP,
#             seconds / iteration, the iterations it turned --iters into
#   demo      tools/make_synthetic_video.py + tools/demo.py --boxes on it with the trained weights
#   benchmark tools/benchmark.py --task model --device DEVICE (parts compare levers batch bf16
#             bf16-map checkpoint; --quick: compare and bf16 on 4x32x32 clips)
# Results: $OUT/gpu_check/ when the environment variable OUT names a folder, else
# output/gpu_check/: results.json (per step: status, seconds, numbers), results.md (the same
# as a table), gpu_check.log (every step's output). Work files (data, checkpoints, videos)
# go to --work (default /tmp/gpu_check_work). Exit status: 0 when every step passed.
#
# Python: --python PY (default .venv/bin/python when present, else python3). For a GPU machine
# that has torch but not this project's other packages (detectron2, fvcore, iopath, yacs,
# pycocotools, pytorchvideo ...) and no network, --site DIR puts a folder of unpacked wheels
# first on PYTHONPATH; make it on a machine with network for the GPU machine's Python, copy it
# over with the checkout, and pass it:
#   bash tools/gpu_check.sh --prepare-site .gpu_site --site-python-version 3.12   # with network
#   bash tools/gpu_check.sh --site .gpu_site                                     # on the GPU
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DEVICE=cuda QUICK=0 ITERS="" WORK="/tmp/gpu_check_work" SITE="" PREPARE_SITE="" SITE_PYVER="3.12"
PY=""; [ -x .venv/bin/python ] && PY=.venv/bin/python || PY=python3
usage() { sed -n '2,34p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --device=*) DEVICE="${1#*=}"; shift ;;
    --quick) QUICK=1; shift ;;
    --iters) ITERS="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --python) PY="$2"; shift 2 ;;
    --site) SITE="$(cd "$2" && pwd)" || exit 2; shift 2 ;;
    --prepare-site) PREPARE_SITE="$2"; shift 2 ;;
    --site-python-version) SITE_PYVER="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

# ----------------------------------------------------------------- --prepare-site (with network)
if [ -n "$PREPARE_SITE" ]; then
  # The packages a torch-only GPU image lacks (requirements.txt pins; such an image has torch,
  # numpy, opencv, pandas, tqdm, tabulate, portalocker), unpacked into one folder (about 8 MB).
  mkdir -p "$PREPARE_SITE" && WHEELS="$(mktemp -d)"
  pins() { grep -E "^($1)==" requirements.txt; }
  # compiled: the builds for the GPU machine's Python
  "$PY" -m pip download --disable-pip-version-check -q -d "$WHEELS" --only-binary=:all: --no-deps \
      --python-version "$SITE_PYVER" --implementation cp --platform manylinux_2_28_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 $(pins 'pycocotools') \
    || { echo "gpu_check: pip download failed" >&2; exit 1; }
  # pure Python (some only as source): wheels built here, they run on any Python 3
  "$PY" -m pip wheel --disable-pip-version-check -q -w "$WHEELS" --no-deps \
      $(pins 'fvcore|iopath|yacs|termcolor|omegaconf|hydra-core|pytorchvideo|parameterized') \
      antlr4-python3-runtime==4.9.3 || { echo "gpu_check: pip wheel failed" >&2; exit 1; }
  # detectron2's Python code (sal-detectron2, tagged cp310 only; tools/setup_env.sh does the same)
  "$PY" -m pip download --disable-pip-version-check -q -d "$WHEELS" --only-binary=:all: --no-deps \
      --python-version 3.10 sal-detectron2==0.7.2 || { echo "gpu_check: no sal-detectron2 wheel" >&2; exit 1; }
  for w in "$WHEELS"/*.whl; do "$PY" -m zipfile -e "$w" "$PREPARE_SITE" || exit 1; done
  # sal-detectron2's stray tools/ would shadow ours; its _C is built for CPython 3.10 and not
  # loaded (setup_env.sh); PyAV (100 MB) is left out: no step here needs it
  rm -rf "$PREPARE_SITE/tools" "$PREPARE_SITE/bin" "$PREPARE_SITE"/detectron2/_C.*.so "$WHEELS"
  echo "gpu_check: $(du -sh "$PREPARE_SITE" | cut -f1) of packages in $PREPARE_SITE for Python $SITE_PYVER"
  exit 0
fi

if [ -n "$SITE" ]; then export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"; fi
RES="${OUT:+$OUT/gpu_check}"; RES="${RES:-$ROOT/output/gpu_check}"
mkdir -p "$RES" "$WORK" || exit 2
RES="$(cd "$RES" && pwd)"; WORK="$(cd "$WORK" && pwd)"
LOG="$RES/gpu_check.log"; STEPS="$RES/steps.jsonl"
: >"$LOG"; : >"$STEPS"
export DETECTRON2_DATASETS="$WORK/datasets" MPLBACKEND=Agg PYTHONUNBUFFERED=1
CORES="$(nproc 2>/dev/null || echo 2)"
if [ "$QUICK" = 1 ]; then
  ITERS="${ITERS:-4}" WORKERS=0 BATCH=2 VIDEO_SECONDS=4
  DATA_ARGS=(--train-videos 2 --val-videos 1 --duration 6)
  TRAIN_OPTS=(SOLVER.IMS_PER_BATCH "$BATCH" SOLVER.WARMUP_ITERS 1 AVA.GENERATE_SYNTHETIC_IF_MISSING False)
  BENCH_ARGS=(--parts compare bf16 --input-size 4 32 32 --iters 1 --warmup 0 --threads 1 --matmul-size 128)
  LIMIT=600
else
  ITERS="${ITERS:-1200}" WORKERS=$(( CORES > 8 ? 8 : CORES )) VIDEO_SECONDS=12
  DATA_ARGS=()
  TRAIN_OPTS=()
  BENCH_ARGS=(--parts compare levers batch bf16 bf16-map checkpoint --batch-size 8)
  LIMIT=300  # per step; estimated on an H200: data 15 s, train 90 s, eval 20 s, demo 20 s, benchmark 120 s
fi

# run_step NAME SECONDS CMD...: runs CMD under timeout, logs it, records status and time.
FAILED=0
run_step() {
  local name="$1" limit="$2"; shift 2
  echo "=== gpu_check step $name: $*" | tee -a "$LOG"
  local t0 t1 rc status
  t0=$(date +%s%N)
  timeout "$limit" "$@" >"$WORK/$name.out" 2>&1
  rc=$?
  t1=$(date +%s%N)
  cat "$WORK/$name.out" >>"$LOG"
  tail -n 3 "$WORK/$name.out"
  status=ok
  if [ $rc -ne 0 ]; then
    status="failed (exit $rc$([ $rc -eq 124 ] && echo ", timed out after $limit s"))"; FAILED=1
  fi
  printf '{"step": "%s", "status": "%s", "seconds": %s, "command": "%s"}\n' "$name" "$status" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')" "$(echo "$*" | tr -s '\n\t' '  ' | sed 's/["\\]/\\&/g')" >>"$STEPS"
  echo "=== gpu_check step $name: $status" | tee -a "$LOG"
  return $rc
}

# slowfast_det must be this checkout's (the venv's editable install may point elsewhere)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
run_step env 120 "$PY" - "$DEVICE" <<'EOF'
import importlib, json, os, platform, subprocess, sys
device = sys.argv[1]
info = {"python": sys.version.split()[0], "executable": sys.executable, "platform": platform.platform()}
missing = []
for mod in ("torch", "torchvision", "detectron2", "fvcore", "iopath", "cv2", "pandas", "yacs", "tqdm",
            "tabulate", "pycocotools", "pytorchvideo", "slowfast_det", "av"):
    try:
        m = importlib.import_module(mod)
        info[f"{mod} version"] = getattr(m, "__version__", "?")
    except Exception as e:  # noqa: BLE001  (any import failure is reported)
        if mod != "av":  # only datasets/prepare_ava.py needs PyAV, no step here
            missing.append(f"{mod} ({type(e).__name__}: {e})")
import torch  # noqa: E402
info["cuda available"] = torch.cuda.is_available()
if torch.cuda.is_available():
    info["gpu"] = torch.cuda.get_device_name(0)
    info["gpu memory GiB"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    info["torch cuda"] = torch.version.cuda
try:
    info["cpu"] = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except (OSError, StopIteration):
    pass
info["cpu capability"] = torch.backends.cpu.get_cpu_capability()
info["cores"] = os.cpu_count()
print("ENV " + json.dumps(info))
if missing:
    sys.exit("missing modules: " + "; ".join(missing) + " (run tools/setup_env.sh, or --site DIR, see --help)")
if device.startswith("cuda") and not torch.cuda.is_available():
    sys.exit("--device cuda but torch sees no GPU (use --device cpu)")
EOF
ENV_OK=$?

if [ $ENV_OK -eq 0 ]; then
  run_step data 600 "$PY" datasets/prepare_synthetic_ava.py --root "$DETECTRON2_DATASETS/synthetic_ava" \
      --workers "$(( CORES > 8 ? 8 : CORES ))" --no-progress "${DATA_ARGS[@]}"
  TRAIN_DIR="$WORK/train"
  run_step train "$LIMIT" "$PY" tools/train_ava.py --config-file configs/synthetic/SLOWFAST_synthetic.yaml \
      MODEL.DEVICE "$DEVICE" SOLVER.MAX_ITER "$ITERS" DATALOADER.NUM_WORKERS "$WORKERS" OUTPUT_DIR "$TRAIN_DIR" \
      "${TRAIN_OPTS[@]}"
  WEIGHTS="$TRAIN_DIR/model_final.pth"
  run_step eval 300 "$PY" tools/train_ava.py --config-file configs/synthetic/SLOWFAST_synthetic.yaml --eval-only \
      MODEL.DEVICE "$DEVICE" MODEL.WEIGHTS "$WEIGHTS" DATALOADER.NUM_WORKERS "$WORKERS" OUTPUT_DIR "$WORK/eval" \
      "${TRAIN_OPTS[@]}"
  # SOLVER.AMP: float16 with Detectron2's AMPTrainer on CUDA; bfloat16 autocast on a CPU, only
  # where the CPU computes it natively (emulated it ran 0.17x float32's step)
  AMP=False
  if [[ "$DEVICE" == cuda* ]] || "$PY" -c 'import sys
from slowfast_det.utils.cpu_features import cpu_has_native_bf16
sys.exit(cpu_has_native_bf16() is not True)'; then
    AMP=True
  fi
  run_step multigrid "$LIMIT" "$PY" tools/train_ava.py --config-file configs/synthetic/SLOWFAST_synthetic.yaml \
      MODEL.DEVICE "$DEVICE" SOLVER.MAX_ITER "$ITERS" DATALOADER.NUM_WORKERS "$WORKERS" OUTPUT_DIR "$WORK/multigrid" \
      SOLVER.MULTIGRID.LONG_CYCLE True SOLVER.MULTIGRID.SHORT_CYCLE True SOLVER.AMP.ENABLED "$AMP" \
      MODEL.SLOWFAST.CHANNELS_LAST True "${TRAIN_OPTS[@]}"
  run_step demo 300 bash -c '"$1" tools/make_synthetic_video.py --output "$2/demo/synthetic_demo.mp4" --duration "$3" &&
      "$1" tools/demo.py --config-file configs/synthetic/SLOWFAST_synthetic.yaml --input "$2/demo/synthetic_demo.mp4" \
        --output "$2/demo/synthetic_demo_annotated.mp4" --boxes "$2/demo/synthetic_demo_boxes.csv" --no-progress \
        MODEL.DEVICE "$4" MODEL.WEIGHTS "$5"' _ "$PY" "$WORK" "$VIDEO_SECONDS" "$DEVICE" "$WEIGHTS"
  run_step benchmark "$LIMIT" "$PY" tools/benchmark.py --task model --device "$DEVICE" --map-weights "$WEIGHTS" \
      "${BENCH_ARGS[@]}"
else
  FAILED=1
fi

# ----------------------------------------------------------------- results.json / results.md
"$PY" - "$RES" "$WORK" "$DEVICE" "$QUICK" "$ITERS" <<'EOF'
import json, os, re, statistics, sys
res, work, device, quick, iters = sys.argv[1:]
steps = [json.loads(l) for l in open(os.path.join(res, "steps.jsonl"))]
out = {"device": device, "quick": quick == "1", "train iterations": int(iters), "steps": {}}

def text(name):
    p = os.path.join(work, f"{name}.out")
    return open(p, errors="replace").read() if os.path.exists(p) else ""

for s in steps:
    name = s.pop("step")
    t = text(name)
    nums = {}
    if name == "env":
        m = re.search(r"^ENV (\{.*\})$", t, re.M)
        nums = json.loads(m.group(1)) if m else {}
    elif name in ("train", "eval", "multigrid"):
        m = re.findall(r"^frame-mAP@0\.5IOU: ([0-9.]+)$", t, re.M)
        if m:
            nums["frame-mAP@0.5IOU"] = float(m[-1])
        m = re.search(r"Multigrid: (\d+) iterations \(the default run: (\d+)\)", t)
        if m:
            nums["multigrid iterations / default iterations"] = f"{m[1]} / {m[2]}"
        saved = os.path.join(work, name, "config.yaml")
        if name == "multigrid" and os.path.exists(saved):
            m = re.search(r"^  AMP:\n    ENABLED: (true|false)$", open(saved).read(), re.M)
            if m:
                nums["SOLVER.AMP.ENABLED"] = m[1] == "true"
        if name in ("train", "multigrid"):
            metrics = os.path.join(work, name, "metrics.json")
            times = []
            if os.path.exists(metrics):
                for line in open(metrics):
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if "time" in rec:
                        times.append(rec["time"])
            if times:
                nums["median seconds / iteration (detectron2 metrics.json)"] = round(statistics.median(times), 4)
    elif name == "demo":
        m = re.search(r"(\d+) frames, (\d+) keyframes, (\d+) person boxes, (\d+) CSV rows in ([0-9.]+) s: "
                      r"throughput ([0-9.]+) frames/s", t)
        if m:
            nums.update(frames=int(m[1]), keyframes=int(m[2]), persons=int(m[3]), **{"throughput frames/s": float(m[6])})
    elif name == "benchmark":
        for line in t.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 3 and cells[0] not in ("metric", "") and not set(cells[0]) <= set("-:"):
                try:
                    nums[cells[0]] = float(cells[1])
                except ValueError:
                    nums[cells[0]] = cells[1]
                nums[cells[0] + " [unit]"] = cells[2]
    s["numbers"] = nums
    out["steps"][name] = s
ev = [out["steps"].get(n, {}).get("numbers", {}).get("frame-mAP@0.5IOU") for n in ("train", "eval")]
if None not in ev:
    out["eval equals train's final evaluation"] = abs(ev[0] - ev[1]) < 1e-4
with open(os.path.join(res, "results.json"), "w") as f:
    json.dump(out, f, indent=1)
lines = [f"# gpu_check: device {device}{' (quick)' if quick == '1' else ''}, {iters} training iterations", "",
         "| step | status | seconds | numbers |", "| --- | --- | --- | --- |"]
for name, s in out["steps"].items():
    shown = {k: v for k, v in s["numbers"].items() if not k.endswith("[unit]")}
    if name == "env":
        shown = {k: v for k, v in shown.items() if k in ("python", "torch version", "torch cuda", "gpu", "cpu", "cores")}
    cell = "; ".join(f"{k} {v}" for k, v in shown.items()) if name != "benchmark" else f"{len(shown)} rows (results.json)"
    lines.append(f"| {name} | {s['status']} | {s['seconds']} | {cell} |")
if out["steps"].get("benchmark", {}).get("numbers"):
    lines += ["", "| benchmark metric | value | unit |", "| --- | --- | --- |"]
    nb = out["steps"]["benchmark"]["numbers"]
    lines += [f"| {k} | {v} | {nb.get(k + ' [unit]', '')} |" for k, v in nb.items() if not k.endswith("[unit]")]
open(os.path.join(res, "results.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
rm -f "$STEPS"
echo "gpu_check: results in $RES/results.json and $RES/results.md, log $LOG"
exit $FAILED
