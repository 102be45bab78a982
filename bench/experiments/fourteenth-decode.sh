#!/usr/bin/env bash
# The fourteenth session's one device call for the waiting decode patches, most important first
# (each archive is written as soon as its builds' runs end, so a cut-off call still returns
# the earlier ones). Builds (each only tests/retnet_tests and tools/retnet-bench of a Release
# build): build-base HEAD; build-sk + decode-balanced-products.patch; build-phases +
# decode-phase-skip.patch; build-swiglu + decode-swiglu-prefetch.patch; build-poll +
# decode-sync-poll-loads.patch. The 1.3b decode at 1k context, every build reading one model
# folder.
# Usage: source .device/prelude.sh && bash bench/experiments/fourteenth-decode.sh > $OUT/log.txt 2>&1
# (not through `| tail`: a call cut off at its limit kills the pipeline and returns no output).
set -u
export MODEL=/tmp/retnet-1.3b
[ -d $MODEL ] || build-base/tools/retnet-bench --config 1.3b --save-model $MODEL || exit 1
one() { NAME=$1 BUILD=$2 TESTS="$3" VARIANTS="$4" bash bench/experiments/ab-decode.sh; }
one base-1 build-base "[none]" "default||--contexts 1024"
one sk-1 build-sk "[decode_layer]" "sk||--contexts 1024
sk_p2|RETNET_DECODE_PREFETCH=2|--contexts 1024
sk_p8|RETNET_DECODE_PREFETCH=8|--contexts 1024"
one phases build-phases "[none]" "$(cat bench/experiments/phases-vars.txt)"
# The second round in one file (a call returns at most 8).
r2=$OUT; export OUT=/tmp/round2; mkdir -p $OUT
one base-2 build-base "[none]" "default||--contexts 1024"
one sk-2 build-sk "[none]" "sk||--contexts 1024"
tar cf $r2/round2.tar -C $OUT .
export OUT=$r2
one swiglu build-swiglu "[none]" "p4s4||--contexts 1024
p6s4|RETNET_DECODE_PREFETCH=6 RETNET_DECODE_SWIGLU_PREFETCH=4|--contexts 1024
p8s4|RETNET_DECODE_PREFETCH=8 RETNET_DECODE_SWIGLU_PREFETCH=4|--contexts 1024"
one poll build-poll "[none]" "default||--contexts 1024"
