#!/usr/bin/env bash
# One device call for decode-touch-ahead.patch (bench/experiments/README.md): build-sk (HEAD +
# decode-balanced-products.patch) against build-touch (that + decode-touch-ahead.patch, with
# 8, 16 and 32 lane-rows touched ahead per lane), the 1.3b decode at 1k context, interleaved
# twice; the first round also runs build-touch's decode and model tests.
# Usage: source .device/prelude.sh && bash bench/experiments/check-decode-touch.sh
set -u
export MODEL=/tmp/retnet-1.3b
[ -d $MODEL ] || build-base/tools/retnet-bench --config 1.3b --save-model $MODEL || exit 1
for round in 1 2; do
  NAME=sk-$round BUILD=build-sk TESTS="[none]" VARIANTS="sk||--contexts 1024" bash bench/experiments/ab-decode.sh
  [ $round = 1 ] && t="[decode_layer],[model]" || t="[none]"
  NAME=touch-$round BUILD=build-touch TESTS="$t" VARIANTS="touch16||--contexts 1024
touch8|RETNET_DECODE_TOUCH=8|--contexts 1024
touch32|RETNET_DECODE_TOUCH=32|--contexts 1024
touch16p2|RETNET_DECODE_PREFETCH=2|--contexts 1024" bash bench/experiments/ab-decode.sh
done
