#!/usr/bin/env bash
# One device call for the two waiting decode patches (bench/experiments/README.md): each of
# build-base, build-swiglu and build-poll (Release builds of HEAD, HEAD + decode-swiglu-prefetch.patch,
# HEAD + decode-sync-poll-loads.patch; each needs only tests/retnet_tests and tools/retnet-bench)
# runs the [decode_layer] tests and the 1.3b decode at 1k context, interleaved twice.
# Returns one archive per build and round.
# Usage: source .device/prelude.sh && bash bench/experiments/check-decode-patches.sh
set -u
for round in 1 2; do
  for b in build-base build-swiglu build-poll; do
    case $b in
      build-swiglu) v="p4s4||--contexts 1024
p6s4|RETNET_DECODE_PREFETCH=6 RETNET_DECODE_SWIGLU_PREFETCH=4|--contexts 1024
p8s4|RETNET_DECODE_PREFETCH=8 RETNET_DECODE_SWIGLU_PREFETCH=4|--contexts 1024" ;;
      *) v="default||--contexts 1024" ;;
    esac
    [ $round = 2 ] && t="[none]" || t="[decode_layer]"
    NAME=$b-$round BUILD=$b TESTS="$t" VARIANTS="$v" bash bench/experiments/ab-decode.sh
  done
done
