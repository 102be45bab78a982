#!/usr/bin/env bash
# One device call: the tests that reach the tensor-core retention and training on each build
# directory named in $BUILDS (retnet_tests + retnet-bench copied from a Release build), then
# the small config's training step twice per build, interleaved, and one profile per build.
# Returns one archive, ab-training.tgz (a device call brings back at most 8 files).
# Usage: source .device/prelude.sh && BUILDS="build-base build-exp1" bash bench/experiments/ab-training.sh
# (TEST_BUILDS: the builds to test, if not all; TESTS: the test filter.)
set -u
export RETNET_VALIDATION=0 RETNET_TEST_DATA_DIR=$PWD/tests/data
o=/tmp/ab-training; mkdir -p $o; t0=$(date +%s)
stamp() { echo "== $(( $(date +%s) - t0 ))s $*"; }
nvidia-smi -L > $o/gpu.txt 2>&1
for b in ${TEST_BUILDS-$BUILDS}; do
  stamp tests $b
  timeout 240 $b/retnet_tests "${TESTS:-[retention],[retention_backward],[training],[output_maxima]}" > $o/tests-$b.txt 2>&1
  echo "rc=$?" >> $o/tests-$b.txt; tail -3 $o/tests-$b.txt
done
train() { timeout 60 $1/retnet-bench --train-config small --train-batch 4 --train-seq 2048 --train-only "${@:2}"; }
for i in 1 2; do
  for b in $BUILDS; do
    stamp train $b $i; train $b --json $o/train-$b-$i.json > $o/train-$b-$i.txt 2>&1; grep "training step" $o/train-$b-$i.txt
  done
done
for b in $BUILDS; do
  stamp profile $b; RETNET_PROFILE=1 RETNET_PIPELINE_STATS=1 train $b > $o/profile-$b.txt 2>&1
  grep -E "retention_chunk_rows|GPU time" $o/profile-$b.txt | head -8
done
stamp done
tar czf "$OUT/ab-training.tgz" -C $o .
