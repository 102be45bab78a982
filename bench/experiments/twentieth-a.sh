#!/usr/bin/env bash
# The twentieth session's second call: what the persistent decode layer's staging of each
# phase's input costs (variants the fifteenth session's phase-skip call never reached), beside
# the layer whole, and HEAD's decode step profiled (GPU time against the step's wall clock:
# what the host's round trip per token costs). build-skip = HEAD with decode-phase-skip.patch,
# build-exp = HEAD; each folder holds tools/retnet-bench and tests/retnet_tests (Release).
# About 100 s. Carry .device, build-exp and build-skip.
# Usage: source .device/prelude.sh && bash bench/experiments/twentieth-a.sh
set -u
export RETNET_VALIDATION=0
M=/tmp/retnet-1.3b
o=$OUT/twentieth-a; mkdir -p $o
build-exp/tools/retnet-bench --config 1.3b --save-model $M > $o/save.txt 2>&1
MODEL=$M BUILD=build-skip NAME=phase-skip TESTS="[decode_layer]" VARIANTS="full||--contexts 1024
nostage|RETNET_DECODE_SKIP=64|--contexts 1024
nosync|RETNET_DECODE_SKIP=32|--contexts 1024
nostage_nosync|RETNET_DECODE_SKIP=96|--contexts 1024
bare|RETNET_DECODE_SKIP=63|--contexts 1024
full2||--contexts 1024" bash bench/experiments/ab-decode.sh > $o/phase-skip-log.txt 2>&1
for r in 1; do
  build-exp/tools/retnet-bench -m $M --contexts 1024 --prefill 512 --batches 1 --train-config '' \
    --decode-steps 64 --json $o/head-$r.json > $o/head-$r.txt 2>&1
done
RETNET_PROFILE=1 build-exp/tools/retnet-bench -m $M --contexts 1024 --prefill 512 --batches 1 --train-config '' \
  --decode-steps 64 --json $o/head-profile.json > $o/head-profile.txt 2>&1
mv $OUT/phase-skip.tgz $o/
tar -czf $OUT/twentieth-a.tar.gz -C $OUT twentieth-a && rm -rf $o
