#!/usr/bin/env bash
# One command on a CUDA + Vulkan machine: retnet-bench (1.3b) and the PyTorch peers, then one
# comparison table. Needs a Release build in ./build and fla's source on PYTHONPATH.
#   tools/bench/compare.sh OUT_DIR
set -euo pipefail
out=${1:?usage: compare.sh OUT_DIR}
mkdir -p "$out"
./build/tools/retnet-bench --config 1.3b --contexts 1024,8192,32768 --prefill 512,2048,8192 \
  --batches 1 --decode-steps 32 --json "$out/retnet-vk.json"
python3 tools/bench/peers.py --out "$out/peers.json"
python3 tools/bench/compare_table.py "$out/retnet-vk.json" "$out/peers.json" | tee "$out/comparison.md"
