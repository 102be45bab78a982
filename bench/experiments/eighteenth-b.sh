#!/usr/bin/env bash
# The eighteenth session's training comparison in one call: the engine's training step of the
# small config (HEAD, build-exp), then the peers' (fla's RetNet and the Llama, PyTorch), on
# the same card. The peers' first steps compile fla's Triton kernels (over 200 s on the H100),
# so this call gets the whole per-call limit.
# Carry .device, .flaref (fla's source, never committed) and build-exp.
# Usage: source .device/prelude.sh && DEADLINE=570 bash bench/experiments/eighteenth-b.sh
set -u
source bench/experiments/steps.sh eighteenth-b
nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
step engine-training-1 build-exp/tools/retnet-bench "${train[@]}" --json $d/engine-training-1.json
step peers-training env PYTHONPATH=$PWD/.flaref python3 tools/bench/peers.py --out $d/peers.json --parts training
step engine-training-2 build-exp/tools/retnet-bench "${train[@]}" --json $d/engine-training-2.json
tar -czf $OUT/eighteenth-b.tar.gz -C $OUT eighteenth-b && rm -rf $d
