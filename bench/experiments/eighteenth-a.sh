#!/usr/bin/env bash
# The eighteenth session's first device call: the seventeenth's waiting experiment (build-exp2 = HEAD
# plus prefill-alternating-scratch.patch, beside build-exp = HEAD), then HEAD's whole test suite
# with every fast path forced off (f16 storage, subgroups, cooperative matrices), which the
# issue asks for and which no earlier call had time for.
# Carry .device, build-exp and build-exp2.
# Usage: source .device/prelude.sh && DEADLINE=540 bash bench/experiments/eighteenth-a.sh
set -u
source bench/experiments/steps.sh eighteenth-a
nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
step save build-exp2/tools/retnet-bench --config 1.3b --save-model $M
step exp2-tests build-exp2/tests/retnet_tests "[retention],a stream's scratch*"
prefill_ab exp exp2
step profile-exp2 env RETNET_PROFILE=1 build-exp2/tools/retnet-bench -m $M --contexts 1024 \
  --prefill 8192 --batches 1 --train-config '' --decode-steps 16 --json $d/profile-exp2.json
for b in exp exp2; do
  step whole-$b build-$b/tools/retnet-bench -m $M --contexts 1024 --prefill 8192,32768 --batches 1 \
    --train-config '' --decode-steps 16 --max-prefill-tokens 32768 --json $d/whole-$b.json
done
step tests-forced-off env RETNET_NO_FP16=1 RETNET_NO_SUBGROUPS=1 RETNET_NO_COOPMAT=1 \
  build-exp/tests/retnet_tests --reporter compact "~[sentencepiece]"
tar -czf $OUT/eighteenth-a.tar.gz -C $OUT eighteenth-a && rm -rf $d
