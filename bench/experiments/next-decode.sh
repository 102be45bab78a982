#!/usr/bin/env bash
# One device call on the 1.3b decode at 1k context:
# - build-stack (7db019f and after: the whole decode step in one dispatch), its decode tests,
#   against one dispatch per layer in the same build (RETNET_DECODE_LAYERS=1), with
#   RETNET_SPIN_WAIT=1, and its profile of the replayed step;
# - what the fifteenth session left: build-base (f0c8373) against build-old (8ea0583, before
#   the read-back staging moved to cached memory), with RETNET_SPIN_WAIT=1, its replayed-step
#   profile (GPU time against ms/token: the gaps between dispatches and the host's round trip)
#   with the read bandwidth ceilings;
# - build-phases2 (the whole-step build + decode-phase-skip.patch) without any phase, without
#   the staging of the products' inputs, and without the syncs;
# - second rounds of the main figures.
# Builds: each only tests/retnet_tests and tools/retnet-bench of a Release build.
# Usage: source .device/prelude.sh && bash bench/experiments/next-decode.sh > $OUT/log.txt 2>&1
# (not through `| tail`: a call cut off at its limit kills the pipeline and returns no output).
set -u
export RETNET_VALIDATION=0 RETNET_TEST_DATA_DIR=$PWD/tests/data
export MODEL=/tmp/retnet-1.3b
[ -d $MODEL ] || build-base/tools/retnet-bench --config 1.3b --save-model $MODEL || exit 1
one() { NAME=$1 BUILD=$2 TESTS="$3" VARIANTS="$4" bash bench/experiments/ab-decode.sh; }
one stack-1 build-stack "[decode_layer]" "all||--contexts 1024
one|RETNET_DECODE_LAYERS=1|--contexts 1024
all_spin|RETNET_SPIN_WAIT=1|--contexts 1024
profile|RETNET_PROFILE=1|--contexts 1024"
one base-1 build-base "[none]" "default||--contexts 1024
spin|RETNET_SPIN_WAIT=1|--contexts 1024"
one old-1 build-old "[none]" "default||--contexts 1024"
one stack-2 build-stack "[none]" "all||--contexts 1024,32768
one|RETNET_DECODE_LAYERS=1|--contexts 1024"
one base-2 build-base "[none]" "default||--contexts 1024"
one phases build-phases2 "[none]" "bare|RETNET_DECODE_SKIP=63|--contexts 1024
nostage|RETNET_DECODE_SKIP=64|--contexts 1024
nosync|RETNET_DECODE_SKIP=32|--contexts 1024"
