#!/usr/bin/env bash
# The eighteenth session's last call. build-exp2 = HEAD with the tensor-core matmul's tiles
# handed out in bands of RETNET_MATMUL_GROUP_ROWS tile rows (GROUP_ROWS; 1 is HEAD's row-by-row
# order, 8 the patch's default): its matmul and training tests, then the 1.3b prefill (2k, 8k,
# 32k) and the small config's training step with 1, 8, 16 and 4 rows a band, two rounds
# alternating; then the prefill with the prompt in pieces of 1024 and 4096 tokens (the
# default is 2048, timed as GROUP_ROWS=1 above) in HEAD's order.
# Carry .device and build-exp2.
# Usage: source .device/prelude.sh && DEADLINE=300 bash bench/experiments/eighteenth-d.sh
set -u
source bench/experiments/steps.sh eighteenth-d
nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
b=build-exp2
step save $b/tools/retnet-bench --config 1.3b --save-model $M
step exp2-tests $b/tests/retnet_tests "[matmul],[matmul_backward],[training]"
pre=(--contexts 1024 --prefill 2048,8192,32768 --batches 1 --train-config '' --decode-steps 16)
for round in 1 2; do
  for g in 1 8 16 4; do
    step prefill-g$g-$round env RETNET_MATMUL_GROUP_ROWS=$g $b/tools/retnet-bench -m $M "${pre[@]}" \
      --json $d/prefill-g$g-$round.json
  done
done
for round in 1 2; do
  for g in 1 8; do
    step train-g$g-$round env RETNET_MATMUL_GROUP_ROWS=$g $b/tools/retnet-bench "${train[@]}" \
      --json $d/train-g$g-$round.json
  done
done
for round in 1 2; do
  for p in 1024 4096; do
    step pieces-$p-$round env RETNET_MATMUL_GROUP_ROWS=1 $b/tools/retnet-bench -m $M "${pre[@]}" \
      --max-prefill-tokens $p --json $d/pieces-$p-$round.json
  done
done
tar -czf $OUT/eighteenth-d.tar.gz -C $OUT eighteenth-d && rm -rf $d
