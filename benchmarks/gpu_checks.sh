#!/usr/bin/env bash
# Every GPU figure issue 7 asks for, in one call (about 10 minutes on one H100-class GPU):
# reconstruction images/s of our batched path vs the authors' loop for SD1, SD2 and SDXL inpainting
# (full size, random weights from the published configs unless WEIGHTS_<MODEL> names real ones),
# then training images/s of the paper's backbones (random weights, the paper's per-GPU batch).
#
#   benchmarks/gpu_checks.sh OUT_DIR          # on the GPU machine, from the project root
#   SMOKE=1 benchmarks/gpu_checks.sh OUT_DIR  # the same steps on CPU with the demo models (a minute)
#
# Needs the project importable (pip install -e ., or PYTHONPATH=src with diffusers, timm, open_clip,
# pytorch-metric-learning and albumentations installed) and no internet (HF_HUB_OFFLINE=1). A step
# that fails is reported and the others still run; the exit status is that of the last failure.
# Copy the JSON files into benchmarks/reconstruction/ and benchmarks/training/results/ and fill the
# READMEs' GPU tables from them.
set -uo pipefail

out=${1:?usage: benchmarks/gpu_checks.sh OUT_DIR}
mkdir -p "$out"
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
status=0

step() {  # step NAME TIMEOUT_SECONDS COMMAND...: run one check, log it, keep going on failure
    local name=$1 limit=$2
    shift 2
    echo "== $name: $*"
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local rc=$?
    tail -n 3 "$out/$name.log"
    if [ "$rc" -ne 0 ]; then
        echo "!! $name failed (exit $rc); see $out/$name.log"
        status=$rc
    fi
}

recon=benchmarks/reconstruction/run.py
cache=${DRCT_BENCH_CACHE:-/tmp/drct-bench-cache}
if [ "${SMOKE:-0}" = 1 ]; then
    step reconstruction_demo 300 python3 "$recon" --model demo --device cpu --images 4 --steps 2 \
        --batch-size 2 --cache-dir "$cache" --out "$out/reconstruction_demo.json"
    step training_demo 300 python3 benchmarks/training/run.py --models demo --family timm --device cpu --batch 4 \
        --steps 1 --out "$out/training_demo.json"
    exit $status
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv" 2>&1
step reconstruction_sd1 600 python3 "$recon" --model sd1 --weights "${WEIGHTS_SD1:-random}" --images 32 \
    --batch-size 8 --cache-dir "$cache" --require-speedup --out "$out/results_gpu_sd1.json"
step reconstruction_sd2 600 python3 "$recon" --model sd2 --weights "${WEIGHTS_SD2:-random}" --images 32 \
    --batch-size 8 --cache-dir "$cache" --require-speedup --out "$out/results_gpu_sd2.json"
step reconstruction_sdxl 900 python3 "$recon" --model sdxl --weights "${WEIGHTS_SDXL:-random}" --images 16 \
    --batch-size 4 --cache-dir "$cache" --require-speedup --out "$out/results_gpu_sdxl.json"
step training_convb 300 python3 benchmarks/training/run.py --models full --family timm --batch 64 --steps 20 \
    --out "$out/training_gpu_convb.json"
step training_univfd 300 python3 benchmarks/training/run.py --models full --family open_clip --batch 256 \
    --steps 10 --out "$out/training_gpu_univfd.json"
exit $status
