#!/usr/bin/env bash
# The twenty-second session's call, after decode-layers-overlap.patch landed (no barrier
# between the persistent decode layers' dispatches): its tests on the H100 with the fast paths
# and with all of them forced off, decode at 1k and 32k context of the build before it
# (build-exp) and with it (build-land), two rounds alternating, then the 1.3b figures of
# tools/bench/compare.sh's retnet-bench command (without the training step, the tensor peak
# and the peers, which the change does not touch) for the README's table. About 200 s.
# Carry .device, build-exp and build-land (tools/retnet-bench and tests/retnet_tests of each).
# Usage: source .device/prelude.sh && DEADLINE=200 bash bench/experiments/twenty-second-a.sh
set -u
source bench/experiments/steps.sh twenty-second-a
nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
step save build-land/tools/retnet-bench --config 1.3b --save-model $M
step land-tests build-land/tests/retnet_tests "[decode],[decode_layer],[model]"
step land-tests-off env RETNET_NO_FP16=1 RETNET_NO_SUBGROUPS=1 RETNET_NO_COOPMAT=1 build-land/tests/retnet_tests "[decode],[decode_layer],[model]"
for round in 1 2; do
  for b in exp land; do
    step decode-$b-$round build-$b/tools/retnet-bench -m $M --contexts 1024,32768 --prefill 512 --batches 1 --train-config '' --decode-steps 64 --json $d/decode-$b-$round.json
  done
done
step retnet-vk-1.3b build-land/tools/retnet-bench -m $M --contexts 1024,8192,32768,131072 --prefill 512,2048,8192,32768 --batches 1,4,16,64 --decode-steps 32 --train-config '' --json $d/retnet-vk-1.3b.json
tar -czf $OUT/twenty-second-a.tar.gz -C $OUT twenty-second-a && rm -rf $d
