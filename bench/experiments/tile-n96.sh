#!/usr/bin/env bash
# One device call for matmul-tile-n96.patch: build-exp = HEAD, build-exp2 = HEAD with the patch
# (tests/retnet_tests and tools/retnet-bench of each Release build). build-exp2's tests of the
# products, training and the model with every fast path on; then the small config's training
# step, three rounds alternating, the 1.3b prefill (512-32k) and batched decode (1-64), two
# rounds alternating, and a training profile of each build. About 200 s.
# Carry .device, build-exp and build-exp2.
# Usage: source .device/prelude.sh && DEADLINE=400 bash bench/experiments/tile-n96.sh
set -u
source bench/experiments/steps.sh tile-n96
nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
step save build-exp2/tools/retnet-bench --config 1.3b --save-model $M
step exp2-tests build-exp2/tests/retnet_tests "[matmul],[matmul_backward],[training],[model]"
train_ab 3 exp exp2
for round in 1 2; do
  for b in exp exp2; do
    step infer-$b-$round build-$b/tools/retnet-bench -m $M --contexts 1024 --prefill 512,2048,8192,32768 \
      --batches 1,4,16,64 --train-config '' --decode-steps 16 --json $d/infer-$b-$round.json
  done
done
for b in exp exp2; do
  step profile-$b env RETNET_PROFILE=1 RETNET_PIPELINE_STATS=1 build-$b/tools/retnet-bench "${train[@]}"
done
tar -czf $OUT/tile-n96.tar.gz -C $OUT tile-n96 && rm -rf $d
