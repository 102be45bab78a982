#!/usr/bin/env bash
# The twenty-third session's second call, after twenty-third-a.sh: matmul-forward-split-scratch.patch
# won there (batched decode at 16 and 64 sessions 964 and 1258 tokens/s against 619 and 1033),
# so build-split (HEAD with the patch, which then landed) runs the whole suite on the H100 (but
# [sentencepiece]) with the fast paths and with all forced off, and the 1.3b figures of
# tools/bench/compare.sh's retnet-bench command for the README's table, then the training step.
# About 200 s. Carry .device and build-split.
# Usage: source .device/prelude.sh && DEADLINE=260 bash bench/experiments/twenty-third-b.sh
set -u
source bench/experiments/steps.sh twenty-third-b
nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
step save build-split/tools/retnet-bench --config 1.3b --save-model $M
step retnet-vk-1.3b build-split/tools/retnet-bench -m $M --contexts 1024,8192,32768,131072 --prefill 512,2048,8192,32768 --batches 1,4,16,64 --decode-steps 32 --train-config '' --json $d/retnet-vk-1.3b.json
step train build-split/tools/retnet-bench "${train[@]}" --json $d/train.json
step tests build-split/tests/retnet_tests --reporter compact "~[sentencepiece]"
step tests-off env RETNET_NO_FP16=1 RETNET_NO_SUBGROUPS=1 RETNET_NO_COOPMAT=1 build-split/tests/retnet_tests --reporter compact "~[sentencepiece]"
tar -czf $OUT/twenty-third-b.tar.gz -C $OUT twenty-third-b && rm -rf $d
