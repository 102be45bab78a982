#!/usr/bin/env bash
# One device call: the decode tests, then the 1.3b decode with the persistent decode layer
# against five dispatches per layer, and the layer's tuning variants (env VARIANTS: lines of
# "name|environment|bench arguments"). Returns ab-decode.tgz (a device call brings back at
# most 8 files) and prints a summary. NAME names the archive (default ab-decode).
# MODEL names a model folder written before (retnet-bench --config 1.3b --save-model DIR) to
# reuse instead of writing random weights for every variant (~20 s each).
# Usage: source .device/prelude.sh && BUILD=build bash bench/experiments/ab-decode.sh
set -u
export RETNET_VALIDATION=0 RETNET_TEST_DATA_DIR=$PWD/tests/data
b=${BUILD:-build}; name=${NAME:-ab-decode}; o=/tmp/$name; mkdir -p $o; t0=$(date +%s)
stamp() { echo "== $(( $(date +%s) - t0 ))s $*"; }
nvidia-smi -L > $o/gpu.txt 2>&1
stamp tests
timeout 200 $b/tests/retnet_tests "${TESTS:-[decode],[decode_layer],[model]}" > $o/tests.txt 2>&1
echo "rc=$?" >> $o/tests.txt; tail -3 $o/tests.txt
if [ -n "${MODEL:-}" ]; then weights="-m $MODEL"; else weights="--config ${CONFIG:-1.3b}"; fi
bench() { timeout 120 $b/tools/retnet-bench $weights --prefill 512 --batches 1 --train-config '' --decode-steps 64 "$@"; }
# (Not `name`: the loop would leave it empty for the archive's name below.)
while IFS='|' read -r variant envs args; do
  [ -z "$variant" ] && continue
  stamp "$variant: $envs $args"
  ( [ -n "$envs" ] && export $envs; bench $args --json $o/$variant.json ) > $o/$variant.txt 2>&1
  grep -E "^decode:|^ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+%|timed out|error" $o/$variant.txt | head -4
done <<< "${VARIANTS:-classic||--decode-workgroups -1 --contexts 1024,32768
persistent||--contexts 1024,32768
threads256|RETNET_DECODE_THREADS=256|--contexts 1024
threads1024|RETNET_DECODE_THREADS=1024|--contexts 1024
two_per_sm|RETNET_DECODE_WORKGROUPS=264|--contexts 1024
prefetch4|RETNET_DECODE_PREFETCH=4|--contexts 1024
prefetch16|RETNET_DECODE_PREFETCH=16|--contexts 1024
stats|RETNET_PIPELINE_STATS=1|--contexts 1024 --decode-steps 8}"
stamp done
tar czf "$OUT/$name.tgz" -C $o .
