#!/usr/bin/env bash
# The thirteenth session's last device call: the decode tests with the fast paths on and forced
# off, two workgroups per SM (both timed out and fell back), five dispatches per layer, and the
# full 1.3b run of bench/results/h100-thirteenth/. Returns final.tgz.
# Usage: source .device/prelude.sh && bash bench/experiments/thirteenth-final.sh
set -u
export RETNET_VALIDATION=0 RETNET_TEST_DATA_DIR=$PWD/tests/data
o=/tmp/final; mkdir -p $o; t0=$(date +%s)
stamp() { echo "== $(( $(date +%s) - t0 ))s $*"; }
stamp tests-fast
timeout 120 build/tests/retnet_tests "[decode],[decode_layer],[model]" > $o/tests-fast.txt 2>&1; echo "rc=$?" >> $o/tests-fast.txt; tail -2 $o/tests-fast.txt
stamp tests-off
RETNET_NO_SUBGROUPS=1 RETNET_NO_FP16=1 RETNET_NO_COOPMAT=1 timeout 120 build/tests/retnet_tests "[decode],[decode_layer],[model]" > $o/tests-off.txt 2>&1; echo "rc=$?" >> $o/tests-off.txt; tail -2 $o/tests-off.txt
B=build/tools/retnet-bench
stamp t256w264p4
RETNET_DECODE_THREADS=256 RETNET_DECODE_WORKGROUPS=264 timeout 100 $B --config 1.3b --contexts 1024 --prefill 512 --batches 1 --train-config '' --decode-steps 64 > $o/t256w264p4.txt 2>&1; grep -E "^decode:|^ +1024 |timed out" $o/t256w264p4.txt
stamp t256w264p2
RETNET_DECODE_THREADS=256 RETNET_DECODE_WORKGROUPS=264 RETNET_DECODE_PREFETCH=2 timeout 100 $B --config 1.3b --contexts 1024 --prefill 512 --batches 1 --train-config '' --decode-steps 64 > $o/t256w264p2.txt 2>&1; grep -E "^decode:|^ +1024 |timed out" $o/t256w264p2.txt
stamp classic
timeout 100 $B --config 1.3b --contexts 1024,32768 --prefill 512 --batches 1 --train-config '' --decode-steps 64 --decode-workgroups -1 --json $o/retnet-vk-1.3b-five-dispatches.json > $o/retnet-vk-1.3b-five-dispatches.txt 2>&1; grep -E "^decode:|^ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+%" $o/retnet-vk-1.3b-five-dispatches.txt
stamp full
timeout 300 $B --config 1.3b --decode-steps 32 --train-config '' --json $o/retnet-vk-1.3b.json > $o/retnet-vk-1.3b.txt 2>&1; tail -22 $o/retnet-vk-1.3b.txt
stamp done
tar czf "$OUT/final.tgz" -C $o .
