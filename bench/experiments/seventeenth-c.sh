#!/usr/bin/env bash
# The seventeenth session's last device call: build-exp2 (build-exp's f16 chunk states and
# output pass, plus the prefill's passes alternating between two scratch buffers so that each
# output pass runs beside the next pass's states): its retention tests, its prefill beside
# build-exp's, two rounds, and its 8k prefill profile; then both builds prefilling whole
# prompts of 8k and 32k tokens in one step each.
# Carry .device, build-exp and build-exp2.
# Usage: source .device/prelude.sh && DEADLINE=300 bash bench/experiments/seventeenth-c.sh
set -u
source bench/experiments/steps.sh seventeenth-c
step save build-exp2/tools/retnet-bench --config 1.3b --save-model $M
step exp2-tests build-exp2/tests/retnet_tests "[retention],a stream's scratch*"
prefill_ab exp exp2
step profile-exp2 env RETNET_PROFILE=1 build-exp2/tools/retnet-bench -m $M --contexts 1024 \
  --prefill 8192 --batches 1 --train-config '' --decode-steps 16 --json $d/profile-exp2.json
# Whole prompts in one step instead of pieces of 2048 tokens (retnet-bench of f9309d6 or later).
for b in exp exp2; do
  step whole-$b build-$b/tools/retnet-bench -m $M --contexts 1024 --prefill 8192,32768 --batches 1 \
    --train-config '' --decode-steps 16 --max-prefill-tokens 32768 --json $d/whole-$b.json
done
tar -czf $OUT/seventeenth-c.tar.gz -C $OUT seventeenth-c && rm -rf $d
