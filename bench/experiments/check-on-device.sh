#!/usr/bin/env bash
# One device call that checks bench/experiments: put the retnet_tests and retnet-bench of a
# Release build of HEAD in `build-base` and those of HEAD with the patches applied in
# `build-experiment` (e.g. built in a `git worktree`), carry both and .device, and run:
# source .device/prelude.sh && bash bench/experiments/check-on-device.sh
# About 6 minutes on the H100 (351 s on 2026-12-05). Writes under /tmp/experiment-check and returns one
# archive, experiment-check.tgz: a device call brings back at most 8 files.
set -u
export RETNET_VALIDATION=0 RETNET_TEST_DATA_DIR=$PWD/tests/data
o=/tmp/experiment-check; mkdir -p $o; t0=$(date +%s)
stamp() { echo "== $(( $(date +%s) - t0 ))s $*"; }
nvidia-smi -L > $o/gpu.txt 2>&1; cat $o/gpu.txt
stamp exp-tests
timeout 200 build-experiment/retnet_tests "[retention],[retention_backward],[training],[optimizer],[embedding_backward],[matmul],[matmul_backward],[elementwise]" > $o/exp-tests.txt 2>&1; echo "rc=$?" >> $o/exp-tests.txt; tail -4 $o/exp-tests.txt
for i in 1 2; do
  stamp train head $i; timeout 60 build-base/retnet-bench --train-config small --train-batch 4 --train-seq 2048 --train-only --json $o/train-head-$i.json > $o/train-head-$i.txt 2>&1; grep -i "train\|tok" $o/train-head-$i.txt | tail -3
  stamp train exp $i; timeout 60 build-experiment/retnet-bench --train-config small --train-batch 4 --train-seq 2048 --train-only --json $o/train-exp-$i.json > $o/train-exp-$i.txt 2>&1; grep -i "train\|tok" $o/train-exp-$i.txt | tail -3
done
stamp profile
RETNET_PROFILE=1 RETNET_PIPELINE_STATS=1 timeout 60 build-base/retnet-bench --train-config small --train-batch 4 --train-seq 2048 --train-only > $o/train-head-profile.txt 2>&1
RETNET_PROFILE=1 RETNET_PIPELINE_STATS=1 timeout 60 build-experiment/retnet-bench --train-config small --train-batch 4 --train-seq 2048 --train-only > $o/train-exp-profile.txt 2>&1
stamp decode
timeout 120 build-base/retnet-bench --config 1.3b --contexts 1024 --prefill 512,8192 --batches 1,4,16,64 --train-config '' --json $o/decode-head.json > $o/decode-head.txt 2>&1; tail -15 $o/decode-head.txt
timeout 120 build-experiment/retnet-bench --config 1.3b --contexts 1024 --prefill 512,8192 --batches 1,4,16,64 --train-config '' --json $o/decode-exp.json > $o/decode-exp.txt 2>&1; tail -15 $o/decode-exp.txt
stamp f32-prefill
RETNET_NO_COOPMAT=1 timeout 60 build-base/retnet-bench --config 1.3b --contexts 1024 --prefill 8192 --batches 1 --train-config '' > $o/nocoop-head.txt 2>&1; tail -6 $o/nocoop-head.txt
RETNET_NO_COOPMAT=1 timeout 60 build-experiment/retnet-bench --config 1.3b --contexts 1024 --prefill 8192 --batches 1 --train-config '' > $o/nocoop-exp.txt 2>&1; tail -6 $o/nocoop-exp.txt
stamp done
tar czf "$OUT/experiment-check.tgz" -C $o .
