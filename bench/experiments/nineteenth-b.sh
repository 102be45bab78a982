#!/usr/bin/env bash
# The nineteenth session's third device call: does shared memory the tensor-core matmul does
# not use lower its speed (fewer workgroups per multiprocessor)? build-exp2 = HEAD with
# matmul-shared-pad.patch (RETNET_MATMUL_PAD_BYTES adds that many bytes of shared memory to the
# kernel's 24 KiB). The matmul's TFLOP/s at 8192 x 2048 x 2048 with 0 to 24 KiB of padding, at
# 8192 x 768 x 768 with 0 and 20 KiB. About 60 s.
# Carry .device and build-exp2.
# Usage: source .device/prelude.sh && DEADLINE=200 bash bench/experiments/nineteenth-b.sh
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
tar -czf $OUT/nineteenth-b.tar.gz -C $OUT nineteenth-b && rm -rf $d
