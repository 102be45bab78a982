#!/usr/bin/env bash
# One command on a CUDA + Vulkan machine: retnet-bench (1.3b) and the PyTorch peers, then one
# comparison table. Needs a Release build in ./build and fla's source on PYTHONPATH.
#   tools/bench/compare.sh OUT_DIR
set -euo pipefail
out=${1:?usage: compare.sh OUT_DIR}
mkdir -p "$out"
./build/tools/retnet-bench --tensor-peak --matmul 8192,2048,2048 --config 1.3b --contexts 1024,8192,32768,131072 --prefill 512,2048,8192,32768 \
  --batches 1,4,16,64 --decode-steps 32 --train-config small --train-batch 4 --train-seq 2048 \
  --json "$out/retnet-vk.json" | tee "$out/retnet-vk.txt"
# Each part in a process of its own, so that neither inherits the other's state: fla's training
# step took 90 ms timed after the inference runs in one process (2026-12-05), 59 ms alone
# (2026-12-06).
python3 tools/bench/peers.py --out "$out/peers.json" --parts training | tee "$out/peers.txt"
python3 tools/bench/peers.py --out "$out/peers.json" --parts inference | tee -a "$out/peers.txt"
python3 tools/bench/compare_table.py "$out/retnet-vk.json" "$out/peers.json" | tee "$out/comparison.md"
