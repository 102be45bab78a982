#!/usr/bin/env bash
# The twentieth session's second call: what the persistent decode layer's staging of each
# phase's input costs (variants the fifteenth session's phase-skip call never reached), beside
# the layer whole, and HEAD's decode step profiled (GPU time against the step's wall clock:
# what the host's round trip per token costs). build-skip = HEAD with decode-phase-skip.patch,
# build-exp = HEAD; each folder holds tools/retnet-bench and tests/retnet_tests (Release).
# About 100 s. Carry .device, build-exp and build-skip.
# Usage: source .device/prelude.sh && DEADLINE=200 bash bench/experiments/twentieth-a.sh
set -u
source bench/experiments/steps.sh twentieth-a
step save build-exp/tools/retnet-bench --config 1.3b --save-model $M
step phase-skip env MODEL=$M BUILD=build-skip NAME=phase-skip TESTS="[decode_layer]" VARIANTS="full||--contexts 1024
nostage|RETNET_DECODE_SKIP=64|--contexts 1024
nosync|RETNET_DECODE_SKIP=32|--contexts 1024
nostage_nosync|RETNET_DECODE_SKIP=96|--contexts 1024
bare|RETNET_DECODE_SKIP=63|--contexts 1024
full2||--contexts 1024" bash bench/experiments/ab-decode.sh
step head build-exp/tools/retnet-bench "${decode_1k[@]}" --json $d/head.json
step head-profile env RETNET_PROFILE=1 build-exp/tools/retnet-bench "${decode_1k[@]}" --json $d/head-profile.json
mv $OUT/phase-skip.tgz $d/
tar -czf $OUT/twentieth-a.tar.gz -C $OUT twentieth-a && rm -rf $d
