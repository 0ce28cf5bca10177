#!/usr/bin/env bash
# The seed sweep's generation on a GPU, for when a GPU machine is lent (about 4 minutes on an H100/H200).
# Needs only torch, transformers, tokenizers and numpy, which the device image has; nothing downloads.
#   run(command="bash benchmarks/device_check.sh", timeout_s=450)
# Result: $OUT (or benchmarks/results/) seed-sweep-cuda.json; the compiled-path figures are added last
# and are dropped (not the rest) if compiling runs past the time limit.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
OUT_DIR="${OUT:-benchmarks/results}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
timeout 400 "$PY" benchmarks/seed_sweep.py --device cuda --dtype bfloat16 --repeats 3 --per-row-sampler ${COMPILE---compile} \
  --out "$OUT_DIR/seed-sweep-cuda.json"
