#!/usr/bin/env bash
# One device call for the waiting decode patches (bench/experiments/README.md): each of
# build-base, build-swiglu and build-poll (Release builds of HEAD, HEAD + decode-swiglu-prefetch.patch,
# HEAD + decode-sync-poll-loads.patch; build-sk: HEAD + decode-balanced-products.patch; each needs only tests/retnet_tests and tools/retnet-bench)
# runs the [decode_layer] tests and the 1.3b decode at 1k context, interleaved twice. Between
# the rounds, build-phases (HEAD + decode-phase-skip.patch) times the layer with phases or
# syncs left out (phases-vars.txt), to see where its time goes. All read one model folder.
# Returns one archive per build and round.
# Usage: source .device/prelude.sh && bash bench/experiments/check-decode-patches.sh
set -u
export MODEL=/tmp/retnet-1.3b
build-base/tools/retnet-bench --config 1.3b --save-model $MODEL || exit 1
for round in 1 2; do
  for b in build-base build-swiglu build-poll build-sk; do
    case $b in
      build-swiglu) v="p4s4||--contexts 1024
p6s4|RETNET_DECODE_PREFETCH=6 RETNET_DECODE_SWIGLU_PREFETCH=4|--contexts 1024
p8s4|RETNET_DECODE_PREFETCH=8 RETNET_DECODE_SWIGLU_PREFETCH=4|--contexts 1024" ;;
      build-sk) v="sk||--contexts 1024
sk_p2|RETNET_DECODE_PREFETCH=2|--contexts 1024
sk_p6|RETNET_DECODE_PREFETCH=6|--contexts 1024
sk_p8|RETNET_DECODE_PREFETCH=8|--contexts 1024" ;;
      *) v="default||--contexts 1024" ;;
    esac
    [ $round = 2 ] && t="[none]" || t="[decode_layer]"
    NAME=$b-$round BUILD=$b TESTS="$t" VARIANTS="$v" bash bench/experiments/ab-decode.sh
  done
  [ $round = 1 ] && NAME=phases BUILD=build-phases TESTS="[none]" VARIANTS="$(cat bench/experiments/phases-vars.txt)" \
    bash bench/experiments/ab-decode.sh
done
