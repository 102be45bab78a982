#!/usr/bin/env bash
# One device call for the waiting patches, most important first
# (each archive is written as soon as its builds' runs end, so a cut-off call still returns
# the earlier ones). Builds (each only tests/retnet_tests and tools/retnet-bench of a Release
# build): build-base HEAD; build-sk + decode-balanced-products.patch; build-phases +
# decode-phase-skip.patch; build-swiglu + decode-swiglu-prefetch.patch; build-poll +
# decode-sync-poll-loads.patch; build-md + matmul-direct.patch. The 1.3b decode at 1k context
# and the matmul experiment's products and 8k prefill, every build reading one model folder.
# Usage: source .device/prelude.sh && bash bench/experiments/device-round.sh > $OUT/log.txt 2>&1
# (not through `| tail`: a call cut off at its limit kills the pipeline and returns no output).
set -u
export RETNET_VALIDATION=0 RETNET_TEST_DATA_DIR=$PWD/tests/data
export MODEL=/tmp/retnet-1.3b
[ -d $MODEL ] || build-base/tools/retnet-bench --config 1.3b --save-model $MODEL || exit 1
one() { NAME=$1 BUILD=$2 TESTS="$3" VARIANTS="$4" bash bench/experiments/ab-decode.sh; }
one base-1 build-base "[none]" "default||--contexts 1024"
one sk-1 build-sk "[decode_layer]" "sk||--contexts 1024
sk_p2|RETNET_DECODE_PREFETCH=2|--contexts 1024
sk_p8|RETNET_DECODE_PREFETCH=8|--contexts 1024"
# The matmul experiment: its tests and the products of the 1.3b prefill, then an 8k prefill,
# each with the kernel of HEAD (staged), with every fragment straight from memory (direct) and
# with only w's (bdirect).
md=/tmp/md; mkdir -p $md
for e in staged direct bdirect; do
  [ $e = direct ] && export RETNET_MATMUL_DIRECT=1
  [ $e = bdirect ] && export RETNET_MATMUL_DIRECT=2
  timeout 100 build-md/tests/retnet_tests "[matmul]" > $md/tests-$e.txt 2>&1; echo "rc=$?" >> $md/tests-$e.txt
  tail -2 $md/tests-$e.txt
  for shape in 8192,2048,2048 8192,5632,2048 8192,2048,2816; do
    timeout 60 build-md/tools/retnet-bench --config tiny --contexts 64 --decode-steps 1 --prefill 64 \
      --batches 1 --train-config '' --matmul $shape > $md/$e-$shape.txt 2>&1
    grep "^matmul.*coopmat" $md/$e-$shape.txt
  done
  timeout 120 build-md/tools/retnet-bench -m $MODEL --contexts 1024 --decode-steps 4 --prefill 8192,8192 \
    --batches 1 --train-config '' > $md/prefill-$e.txt 2>&1
  grep -A3 "prefill tok/s" $md/prefill-$e.txt
  unset RETNET_MATMUL_DIRECT
done
tar czf $OUT/md.tgz -C $md .
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
