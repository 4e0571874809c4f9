#!/usr/bin/env bash
# genrenet on a GPU (issues 16 and 10): one script that trains, predicts and measures on a CUDA
# machine and says PASS / FAIL / SKIP for each step. About 5 minutes on one H200 + 16 cores.
#
#   OUT=/where/results/go bash tools/gpu_check.sh      # from the repository root
#
# genrenet is not installed: src/ goes on PYTHONPATH. The wheels the machine lacks
# (tools/gpu_wheels.txt) are taken from .whl/ when it holds any (no network needed):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#       --platform manylinux2014_x86_64 -d .whl -r tools/gpu_wheels.txt
# PY (default python3, else .venv/bin/python when python3 has no torch), SITE (where the
# wheels go, default /tmp/site) and WORK (scratch, default a new folder in /tmp) may be set.
# Without a GPU it still runs end to end on the CPU (small data, one epoch), and every step that
# needs CUDA says SKIP; where it can, it checks that asking for CUDA is refused clearly.
# Logs, predictions, the run's metrics and plots, and summary.txt go to $OUT.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu-check-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/gpu_check.log") 2>&1
BUDGET=${BUDGET:-320} # seconds for all steps (a step that would not fit is skipped, commands
# are cut at BUDGET + 30 s): under 6 minutes in all
PY=${PY:-python3}
if ! "$PY" -c "import torch" 2>/dev/null && [ -x "$ROOT/.venv/bin/python" ]; then
  PY=$ROOT/.venv/bin/python
fi
SITE=${SITE:-/tmp/site}
WORK=${WORK:-$(mktemp -d /tmp/genrenet-gpu-check.XXXXXX)}
mkdir -p "$WORK"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --target "$SITE" .whl/*.whl ||
    echo "warning: installing .whl/*.whl into $SITE failed"
fi
export PYTHONPATH="$SITE:$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
export GENRENET_CACHE=$WORK/cache  # features, embeddings, ONNX graphs: all in the scratch folder
export PYTHONUNBUFFERED=1
GR=("$PY" -m genrenet.cli)
CHECK=("$PY" "$ROOT/tools/gpu_check.py")
SKIP=3
SUMMARY=()
echo "genrenet GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(git rev-parse --short HEAD 2>/dev/null) on $(hostname)"
echo "python: $PY; PYTHONPATH=$PYTHONPATH; scratch: $WORK; results: $OUT"

step() { # step NAME SECONDS_NEEDED FUNCTION: run it, record PASS / FAIL / SKIP, go on either way
  local name=$1 need=$2 fn=$3 t0=$SECONDS status rc
  echo
  echo "=== $name"
  if ((SECONDS + need > BUDGET)); then
    status="SKIP (out of time: $SECONDS s used of $BUDGET)"
  else
    "$fn"
    rc=$?
    case $rc in 0) status=PASS ;; "$SKIP") status=SKIP ;; *) status="FAIL (rc $rc)" ;; esac
  fi
  echo "=== $name: $status ($((SECONDS - t0)) s)"
  SUMMARY+=("$(printf '%-48s %-30s %4d s' "$name" "$status" $((SECONDS - t0)))")
}

limit() { # limit SECONDS: a command's timeout, cut so that the whole script ends by BUDGET + 30
  local left=$((BUDGET + 30 - SECONDS))
  ((left < 1)) && left=1
  echo $(($1 < left ? $1 : left))
}

gpu_or_skip() { # the status of a step whose GPU part could not run here
  [ "$HAVE_CUDA" = 1 ] && return 0
  return "$SKIP"
}

refused_clearly() { # refused_clearly LOG: a CUDA request on a machine without one, exit 2
  local rc=$1 log=$2
  if [ "$rc" = 2 ] && grep -q "no CUDA device is visible" "$log"; then
    echo "refused clearly (exit 2): $(grep -m1 'no CUDA device' "$log")"
    return "$SKIP"
  fi
  echo "expected exit 2 with 'no CUDA device is visible', got exit $rc"
  return 1
}

# --- the steps ----------------------------------------------------------------------------------
s_preflight() {
  timeout "$(limit 60)" "${CHECK[@]}" preflight
}

s_gpu() {
  timeout "$(limit 20)" nvidia-smi || echo "(no nvidia-smi here)"
  timeout "$(limit 60)" "${CHECK[@]}" cuda-info
}

s_synth() {
  rm -rf "$WORK/syn"
  timeout "$(limit 120)" "${GR[@]}" synth "$WORK/syn" --genres "$GENRES" --clips "$CLIPS" \
    --seconds "$SECONDS_PER_CLIP" --seed 3 || return 1
  find "$WORK/syn" -name '*.wav' | sort >"$WORK/files.txt"
  echo "$(wc -l <"$WORK/files.txt") clips in $WORK/syn"
}

s_train() {
  local log=$OUT/train-cnn64.log
  timeout "$(limit 180)" "${GR[@]}" train "$WORK/syn" --model cnn64 --epochs "$EPOCHS" --patience 20 \
    --crop-seconds 3 --accelerator "$ACCEL" --out "$WORK/run-cnn64" --cache "$WORK/cache" \
    --workers 8 >"$log" 2>&1
  local rc=$?
  tail -n 25 "$log"
  [ $rc = 0 ] || return 1
  grep -E "GPU available|test:|trained on|calibrated" "$log"
  timeout "$(limit 30)" "${CHECK[@]}" run "$WORK/run-cnn64" --device "$DEVICE" || return 1
  grep -q "trained on $DEVICE" "$log" || { echo "the log does not say 'trained on $DEVICE'" && return 1; }
  if [ "$HAVE_CUDA" = 1 ]; then
    grep -q "GPU available: True (cuda), used: True" "$log" ||
      { echo "Lightning does not say it used the GPU" && return 1; }
  fi
  mkdir -p "$OUT/run-cnn64"
  cp "$WORK/run-cnn64"/*.json "$WORK/run-cnn64"/*.png "$WORK/run-cnn64/model/config.json" \
    "$OUT/run-cnn64/" 2>/dev/null
  echo "the bundle, loaded where no GPU is visible (CUDA_VISIBLE_DEVICES=''):"
  CUDA_VISIBLE_DEVICES="" timeout "$(limit 60)" "${CHECK[@]}" load-cpu "$WORK/run-cnn64" \
    $(head -n 8 "$WORK/files.txt") || return 1
  gpu_or_skip
}

device_pair() { # device_pair NAME COMMAND [ARGS...]: --device cpu and cuda, then compare
  local name=$1 command=$2 rc
  shift 2
  timeout "$(limit 120)" "${GR[@]}" "$command" "$WORK/syn" --json --top-k 50 "$@" \
    --device cpu >"$OUT/$name-cpu.json" 2>"$OUT/$name-cpu.err" || { cat "$OUT/$name-cpu.err"; return 1; }
  timeout "$(limit 120)" "${GR[@]}" "$command" "$WORK/syn" --json --top-k 50 "$@" \
    --device cuda >"$OUT/$name-cuda.json" 2>"$OUT/$name-cuda.err"
  rc=$?
  if [ "$HAVE_CUDA" != 1 ]; then
    refused_clearly $rc "$OUT/$name-cuda.err"
    return $?
  fi
  [ $rc = 0 ] || { cat "$OUT/$name-cuda.err"; return 1; }
  timeout "$(limit 30)" "${CHECK[@]}" compare "$OUT/$name-cpu.json" "$OUT/$name-cuda.json"
}

predict_pair() { # predict_pair NAME MODEL [ARGS...]: predict on both devices, then compare
  local name=$1 model=$2
  shift 2
  device_pair "$name" predict --model "$model" "$@"
}

s_predict_cnn64() {
  predict_pair predict-cnn64 "$WORK/run-cnn64" || return $?
  [ "$HAVE_CUDA" = 1 ] || return "$SKIP"
  echo "Python API, Classifier.load(device='cuda') against device='cpu':"
  timeout "$(limit 90)" "${CHECK[@]}" api "$WORK/run-cnn64" $(head -n 12 "$WORK/files.txt")
}

s_predict_bundled() {
  predict_pair predict-gtzan-musicnn gtzan-musicnn
}

s_tag() {
  device_pair tag tag
}

s_onnx() {
  if ! "$PY" -c "import onnxruntime, onnx" 2>/dev/null; then
    echo "onnxruntime or onnx is not installed here"
    return "$SKIP"
  fi
  "$PY" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
  local err=$OUT/predict-onnx-cuda.err rc
  timeout "$(limit 120)" "${GR[@]}" predict "$WORK/syn" --model "$WORK/run-cnn64" --json --top-k 50 \
    --runtime onnx --device cuda >"$OUT/predict-onnx-cuda.json" 2>"$err"
  rc=$?
  cat "$err"
  if [ $rc = 0 ]; then
    echo "ran with onnxruntime's CUDA provider; against torch on the CPU:"
    timeout "$(limit 30)" "${CHECK[@]}" compare "$OUT/predict-cnn64-cpu.json" "$OUT/predict-onnx-cuda.json"
    return $?
  fi
  if [ $rc = 2 ] && grep -qE "CUDAExecutionProvider|no CUDA device is visible" "$err"; then
    echo "refused clearly (exit 2): no CUDA provider in this onnxruntime, or no GPU"
    gpu_or_skip
    return $?
  fi
  return 1
}

s_transfer_logreg() {
  local log=$OUT/train-musicnn-logreg.log
  timeout "$(limit 180)" "${GR[@]}" train "$WORK/syn" --model musicnn-msd --freeze all \
    --accelerator "$ACCEL" --out "$WORK/run-musicnn" --cache "$WORK/cache" --workers 8 \
    >"$log" 2>&1 || { tail -n 30 "$log"; return 1; }
  grep -E "test:|trained on|calibrated" "$log"
  timeout "$(limit 30)" "${CHECK[@]}" run "$WORK/run-musicnn" --device "$DEVICE" || return 1
  gpu_or_skip
}

s_transfer_dense() {
  local log=$OUT/train-musicnn-dense.log
  timeout "$(limit 180)" "${GR[@]}" train "$WORK/syn" --model musicnn-msd --freeze all --head dense \
    --epochs "$DENSE_EPOCHS" --accelerator "$ACCEL" --out "$WORK/run-musicnn-dense" \
    --cache "$WORK/cache" --workers 8 >"$log" 2>&1 || { tail -n 30 "$log"; return 1; }
  grep -E "GPU available|test:|trained on|calibrated" "$log"
  timeout "$(limit 30)" "${CHECK[@]}" run "$WORK/run-musicnn-dense" --device "$DEVICE" || return 1
  gpu_or_skip
}

s_ensemble() {
  [ -d "$WORK/run-musicnn/model" ] || { echo "no musicnn run to combine" && return 1; }
  rm -rf "$WORK/ensemble"
  timeout "$(limit 60)" "${GR[@]}" ensemble "$WORK/run-cnn64/model" "$WORK/run-musicnn/model" \
    --out "$WORK/ensemble" || return 1
  predict_pair predict-ensemble "$WORK/ensemble"
}

s_ray() {
  if ! "$PY" -c "import ray.data" 2>/dev/null; then
    echo "Ray is not installed here"
    return "$SKIP"
  fi
  [ "$HAVE_CUDA" = 1 ] || { echo "no GPU to give the actors" && return "$SKIP"; }
  rm -f "$OUT/predict-ray-gpu.jsonl"
  timeout "$(limit 240)" "${GR[@]}" predict "$WORK/syn" --model "$WORK/run-cnn64" --top-k 50 --engine ray \
    --num-gpus 1 --actors 1 --out "$OUT/predict-ray-gpu.jsonl" || return 1
  "$PY" -c "import json,sys; json.dump([json.loads(l) for l in open(sys.argv[1])], open(sys.argv[2], 'w'))" \
    "$OUT/predict-ray-gpu.jsonl" "$OUT/predict-ray-gpu.json"
  timeout "$(limit 30)" "${CHECK[@]}" compare "$OUT/predict-cnn64-cpu.json" "$OUT/predict-ray-gpu.json"
}

s_pytest() {
  if ! "$PY" -c "import pytest" 2>/dev/null; then
    echo "pytest is not installed here"
    return "$SKIP"
  fi
  timeout "$(limit 240)" "$PY" -m pytest -q -p no:cacheprovider tests/test_devices.py -rs 2>&1 |
    tee "$OUT/pytest-devices.log" | tail -n 15
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || return 1
  gpu_or_skip
}

s_bench() {
  [ "$HAVE_CUDA" = 1 ] || { echo "no GPU: the GPU throughput is not measured" && return "$SKIP"; }
  local left=$((BUDGET - 60 - SECONDS)) # leave a minute for the CUDA tests after it
  ((left > 110)) && left=110
  ((left < 45)) && left=45
  timeout "$(limit "$left")" "$PY" benchmarks/train.py --device cuda --models cnn64,resnet,cnn_rnn,fcn5 \
    --steps 8 --tracks 48 --crops 4 --epochs 1 2>&1 | grep -v "Warning\|warn(" |
    tee "$OUT/bench-train-gpu.txt"
  return "${PIPESTATUS[0]}"
}

# --- run them ------------------------------------------------------------------------------------
step "preflight: modules genrenet needs" 5 s_preflight
HAVE_CUDA=0
step "(a) the GPU: nvidia-smi, torch.cuda" 5 s_gpu
if "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  HAVE_CUDA=1
fi
if [ "$HAVE_CUDA" = 1 ]; then
  ACCEL=gpu DEVICE=cuda GENRES=4 CLIPS=12 SECONDS_PER_CLIP=8 EPOCHS=8 DENSE_EPOCHS=2
else
  echo "no CUDA device: a small run on the CPU, the CUDA steps say SKIP"
  ACCEL=cpu DEVICE=cpu GENRES=3 CLIPS=6 SECONDS_PER_CLIP=6 EPOCHS=1 DENSE_EPOCHS=1
fi
# most telling first: a step that would not fit in the budget is skipped, the rest still run
step "(b) synth a collection" 20 s_synth
step "(b) train cnn64 on the GPU, load on CPU" 60 s_train
step "(c) predict cnn64 --device cuda vs cpu" 30 s_predict_cnn64
step "(c) predict gtzan-musicnn cuda vs cpu" 30 s_predict_bundled
step "(e) train musicnn-msd --freeze all (logreg)" 40 s_transfer_logreg
step "(e) train musicnn-msd --freeze all --head dense" 40 s_transfer_dense
step "(d) training throughput, benchmarks/train.py" 60 s_bench
step "pytest tests/test_devices.py (CUDA tests)" 40 s_pytest
step "(c) predict --runtime onnx --device cuda" 20 s_onnx
step "(c) ensemble (cnn64 + musicnn) cuda vs cpu" 30 s_ensemble
step "(c) tag (musicnn MSD) cuda vs cpu" 25 s_tag
step "(c) predict --engine ray --num-gpus 1" 60 s_ray

echo
echo "=== summary ($SECONDS s, GPU: $([ "$HAVE_CUDA" = 1 ] && echo yes || echo no))"
printf '%s\n' "${SUMMARY[@]}" | tee "$OUT/summary.txt"
FAILED=$(printf '%s\n' "${SUMMARY[@]}" | grep -c " FAIL")
echo "$FAILED step(s) failed; logs in $OUT"
sleep 1 # let tee write the last lines
[ "$FAILED" = 0 ]
