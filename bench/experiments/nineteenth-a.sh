#!/usr/bin/env bash
# The nineteenth session's second device call: build-exp = HEAD, build-exp2 = HEAD with
# matmul-double-buffer.patch (the tensor-core matmul with two shared buffers of each tile and
# one barrier per 32-deep step; and RETNET_STATES_ROWS / RETNET_STATES_COLS choosing the tile of
# the tensor-core chunk-states pass, for this experiment only). build-exp2's tests of the
# products, retention, training and the model; the matmul's TFLOP/s at three shapes with a
# training step, two rounds alternating; the 1.3b prefill (512-32k), two rounds alternating;
# build-exp2's prefill with states tiles of 128 and 256 rows and of 32 columns; 8k prefill
# profiles. About 330 s.
# Carry .device, build-exp and build-exp2.
# Usage: source .device/prelude.sh && DEADLINE=420 bash bench/experiments/nineteenth-a.sh
set -u
source bench/experiments/steps.sh nineteenth-a
nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
step save build-exp2/tools/retnet-bench --config 1.3b --save-model $M
step exp2-tests build-exp2/tests/retnet_tests "[matmul],[matmul_backward],[retention],[training],[model]"
for round in 1 2; do
  for b in exp exp2; do
    for shape in 8192,2048,2048 8192,768,768 2048,2816,2048; do
      step matmul-$b-$shape-$round build-$b/tools/retnet-bench --matmul $shape --train-only --train-config '' \
        --json $d/matmul-$b-$shape-$round.json
    done
  done
done
train_ab 2 exp exp2
prefill_ab exp exp2
pre=(--contexts 1024 --prefill 2048,8192,32768 --batches 1 --train-config '' --decode-steps 16)
for v in 128 256; do
  step prefill-exp2-rows$v env RETNET_STATES_ROWS=$v build-exp2/tools/retnet-bench -m $M "${pre[@]}" --json $d/prefill-exp2-rows$v.json
done
step prefill-exp2-cols32 env RETNET_STATES_COLS=32 build-exp2/tools/retnet-bench -m $M "${pre[@]}" --json $d/prefill-exp2-cols32.json
step prefill-exp2-rows128-cols32 env RETNET_STATES_ROWS=128 RETNET_STATES_COLS=32 build-exp2/tools/retnet-bench -m $M "${pre[@]}" --json $d/prefill-exp2-rows128-cols32.json
step profile-exp env RETNET_PROFILE=1 RETNET_PIPELINE_STATS=1 build-exp/tools/retnet-bench "${prefill_profile[@]}"
for v in 64 128 256; do
  step profile-exp2-rows$v env RETNET_STATES_ROWS=$v RETNET_PROFILE=1 RETNET_PIPELINE_STATS=1 build-exp2/tools/retnet-bench "${prefill_profile[@]}"
done
step profile-train-exp2 env RETNET_PROFILE=1 RETNET_PIPELINE_STATS=1 build-exp2/tools/retnet-bench "${train[@]}"
tar -czf $OUT/nineteenth-a.tar.gz -C $OUT nineteenth-a && rm -rf $d
