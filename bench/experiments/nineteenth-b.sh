#!/usr/bin/env bash
# Written in the nineteenth session for the next device call: does shared memory decide how
# many workgroups fit on a multiprocessor here? build-exp = HEAD, build-exp2 = HEAD with
# matmul-shared-pad.patch (RETNET_MATMUL_PAD_BYTES adds that many bytes of shared memory the
# tensor-core matmul never touches to its 24 KiB), build-exp3 = HEAD with
# rows-decayed-in-tiles.patch (retention_chunk_rows_coopmat in 31 KiB instead of 40),
# build-exp4 = HEAD with output-state-halves.patch (retention_chunk_output_coopmat in 27 KiB
# instead of 45), build-exp5 = HEAD with matmul-deep-split.patch (the tensor-core backward
# splits reductions of 16384 and more where the last wave would be mostly empty), build-exp6 =
# HEAD with decode-batch.patch (RETNET_DECODE_BATCH: pieces per lane loaded at once in the
# persistent decode layer's phases of one matrix). Each build folder holds tools/retnet-bench
# and tests/retnet_tests of a Release build.
#  - the matmul's TFLOP/s at 8192 x 2048 x 2048 with 0 to 24 KiB of padding, at 8192 x 768 x
#    768 with 0 and 20 KiB (a drop at some size: where two workgroups stop fitting);
#  - build-exp3's and build-exp5's tests, then the small config's training step of build-exp,
#    build-exp3 and build-exp5, two rounds alternating, and a profile of each;
#  - build-exp4's retention and model tests, then the 1.3b prefill (512-32k) of build-exp and
#    build-exp4, two rounds alternating, and an 8k prefill profile of each;
#  - build-exp6's decode tests, then the 1.3b decode at 1k of build-exp and of build-exp6 with
#    RETNET_DECODE_BATCH 4 (what HEAD does), 8 and 16, two rounds alternating.
# About 420 s. Carry .device and build-exp to build-exp6.
# Usage: source .device/prelude.sh && DEADLINE=540 bash bench/experiments/nineteenth-b.sh
set -u
source bench/experiments/steps.sh nineteenth-b
nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
for pad in 0 4096 8192 12288 16384 20480 24576; do
  step pad$pad env RETNET_MATMUL_PAD_BYTES=$pad build-exp2/tools/retnet-bench --matmul 8192,2048,2048 \
    --train-only --train-config '' --json $d/pad$pad.json
done
for pad in 0 20480; do
  step pad$pad-768 env RETNET_MATMUL_PAD_BYTES=$pad build-exp2/tools/retnet-bench --matmul 8192,768,768 \
    --train-only --train-config '' --json $d/pad$pad-768.json
done
step pipelines env RETNET_MATMUL_PAD_BYTES=20480 RETNET_PIPELINE_STATS=1 RETNET_PROFILE=1 build-exp2/tools/retnet-bench \
  --matmul 8192,2048,2048 --train-only --train-config ''
grep -h "coopmat" $d/pad*.txt > $d/summary.txt
step exp3-tests build-exp3/tests/retnet_tests "[retention],[retention_backward],[training]"
step exp5-tests build-exp5/tests/retnet_tests "[matmul_backward],[training]"
train_ab 2 exp exp3 exp5
for b in exp exp3 exp5; do
  step profile-$b env RETNET_PROFILE=1 RETNET_PIPELINE_STATS=1 build-$b/tools/retnet-bench "${train[@]}"
done
step save build-exp4/tools/retnet-bench --config 1.3b --save-model $M
step exp4-tests build-exp4/tests/retnet_tests "[retention],[model]"
prefill_ab exp exp4
for b in exp exp4; do
  step profile-prefill-$b env RETNET_PROFILE=1 RETNET_PIPELINE_STATS=1 build-$b/tools/retnet-bench "${prefill_profile[@]}"
done
step exp6-tests build-exp6/tests/retnet_tests "[decode_layer],[decode]"
for round in 1 2; do
  step decode-exp-$round build-exp/tools/retnet-bench "${decode_1k[@]}" --json $d/decode-exp-$round.json
  for v in 4 8 16; do
    step decode-exp6-batch$v-$round env RETNET_DECODE_BATCH=$v build-exp6/tools/retnet-bench "${decode_1k[@]}" \
      --json $d/decode-exp6-batch$v-$round.json
  done
done
tar -czf $OUT/nineteenth-b.tar.gz -C $OUT nineteenth-b && rm -rf $d
