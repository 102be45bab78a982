#!/usr/bin/env bash
# The seventeenth session's last device call: build-exp2 (build-exp's f16 chunk states and
# output pass, plus the prefill's passes alternating between two scratch buffers so that each
# output pass runs beside the next pass's states): its retention tests, its prefill beside
# build-exp's, two rounds, and its 8k prefill profile.
# Carry .device, build-exp and build-exp2.
# Usage: source .device/prelude.sh && DEADLINE=500 bash bench/experiments/seventeenth-c.sh
set -u
export RETNET_VALIDATION=0 RETNET_TEST_DATA_DIR=$PWD/tests/data
d=$OUT/seventeenth-c
mkdir -p $d
deadline=${DEADLINE:-570}
source bench/experiments/steps.sh
M=/tmp/retnet-1.3b
step save build-exp2/tools/retnet-bench --config 1.3b --save-model $M
step exp2-tests build-exp2/tests/retnet_tests "[retention],a stream's scratch*"
prefill_ab exp exp2
step profile-exp2 env RETNET_PROFILE=1 build-exp2/tools/retnet-bench -m $M --contexts 1024 \
  --prefill 8192 --batches 1 --train-config '' --decode-steps 16 --json $d/profile-exp2.json
tar -czf $OUT/seventeenth-c.tar.gz -C $OUT seventeenth-c && rm -rf $d
