#!/usr/bin/env bash
# The twenty-first session's first call: the persistent decode layer with fewer barriers
# (RMSNorm's scale applied to the dot products, each phase's input loads issued together, the
# retention's column sums by subgroupAdd) against HEAD: its tests on the GPU, the 1.3b decode
# at 1k context in three rounds alternating, and its profile. build-exp = HEAD, build-new = the
# change; each folder holds tools/retnet-bench and tests/retnet_tests (Release). About 140 s.
# Carry .device, build-exp and build-new.
# Usage: source .device/prelude.sh && DEADLINE=280 bash bench/experiments/twenty-first-a.sh
set -u
source bench/experiments/steps.sh twenty-first-a
nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
step save build-exp/tools/retnet-bench --config 1.3b --save-model $M
step new-tests build-new/tests/retnet_tests "[decode],[decode_layer],[model]"
for round in 1 2 3; do
  for b in exp new; do
    step decode-$b-$round build-$b/tools/retnet-bench "${decode_1k[@]}" --json $d/decode-$b-$round.json
  done
done
step profile-new env RETNET_PROFILE=1 RETNET_PIPELINE_STATS=1 build-new/tools/retnet-bench "${decode_1k[@]}" --json $d/profile-new.json
tar -czf $OUT/twenty-first-a.tar.gz -C $OUT twenty-first-a && rm -rf $d
