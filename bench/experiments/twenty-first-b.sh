#!/usr/bin/env bash
# The twenty-first session's second call: which part of twenty-first-a's change slowed the
# decode layer. build-exp = HEAD; build-scale = HEAD with decode-rms-scale.patch (RMSNorm's
# scale applied to the dot products, found when a subgroup's first batch of weight loads is on
# its way), build-ret = with decode-retention-sums.patch (the retention's column sums by
# subgroupAdd), build-stage = with decode-stage-loads.patch (each phase's input loads issued
# together), build-split = with decode-gate-then-up.patch (phase 4 reads a gate row, then its
# up row: one matrix's pieces in flight at a time, so fewer registers), timed also with 1024
# threads a workgroup and with 8 pieces a lane in flight, build-overlap = with
# decode-layers-overlap.patch (no barrier between the layers' dispatches: each layer's
# workgroups wait in the kernel for the previous layer's to finish); each folder holds
# tools/retnet-bench and tests/retnet_tests. 1.3b decode at 1k, two rounds alternating (the
# first with the pipelines' register counts); then HEAD's bench times reads at the decode
# layer's launch shape and others (RETNET_READ_SHAPES). About 230 s. Carry .device and the
# six build folders, made by: bench/experiments/build-variants.sh exp
# scale:decode-rms-scale.patch ret:decode-retention-sums.patch stage:decode-stage-loads.patch
# split:decode-gate-then-up.patch overlap:decode-layers-overlap.patch
# Usage: source .device/prelude.sh && DEADLINE=300 bash bench/experiments/twenty-first-b.sh
set -u
source bench/experiments/steps.sh twenty-first-b
nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
step save build-exp/tools/retnet-bench --config 1.3b --save-model $M
step split-tests build-split/tests/retnet_tests "[decode],[decode_layer],[model]"
step split-tests-1024 env RETNET_DECODE_THREADS=1024 build-split/tests/retnet_tests "[decode_layer],[model]"
step overlap-tests build-overlap/tests/retnet_tests "[decode],[decode_layer],[model]"
for round in 1 2; do
  stats=$([ $round = 1 ] && echo 1 || echo 0)
  for b in exp scale ret stage split overlap; do
    step decode-$b-$round env RETNET_PIPELINE_STATS=$stats build-$b/tools/retnet-bench "${decode_1k[@]}" --json $d/decode-$b-$round.json
  done
  step decode-split1024-$round env RETNET_PIPELINE_STATS=$stats RETNET_DECODE_THREADS=1024 build-split/tools/retnet-bench "${decode_1k[@]}" --json $d/decode-split1024-$round.json
  step decode-split-p8-$round env RETNET_PIPELINE_STATS=$stats RETNET_DECODE_PREFETCH=8 build-split/tools/retnet-bench "${decode_1k[@]}" --json $d/decode-split-p8-$round.json
done
# Read bandwidth at launch shapes (workgroups x threads x 16-byte words in flight per lane):
# what the decode layer's one workgroup of 512 threads per compute unit can reach.
step read-shapes env RETNET_READ_SHAPES=132x512x4,132x512x8,132x512x16,132x1024x4,132x1024x8,264x512x4,264x512x8,132x256x4,1056x256x4 build-exp/tools/retnet-bench --config tiny --contexts 16 --prefill 16 --batches 1 --train-config '' --decode-steps 2 --json $d/read-shapes.json
tar -czf $OUT/twenty-first-b.tar.gz -C $OUT twenty-first-b && rm -rf $d
