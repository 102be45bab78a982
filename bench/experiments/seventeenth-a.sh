#!/usr/bin/env bash
# The seventeenth session's first device call:
# - build-exp (the prefill's chunk states in f16, the output pass keeping its rows of q as
#   fragments): its retention tests, then the prefill beside build-head's, two rounds, and its
#   8k prefill profile;
# - HEAD (spin wait on by default): compare.sh's first command (the engine's half of the peers'
#   table) as retnet-vk.json/.txt; 1.3b decode at 1k context with the spin wait (the default)
#   and without it (RETNET_SPIN_WAIT=0), alternating, two rounds; the 8k prefill's and the
#   decode step's per-kernel profile with pipeline statistics.
# Carry .device, build-head and build-exp (each tests/retnet_tests and tools/retnet-bench of a
# Release build). Everything lands in one archive; each step is cut off so that it is made.
# Usage: source .device/prelude.sh && bash bench/experiments/seventeenth-a.sh
set -u
source bench/experiments/steps.sh seventeenth-a
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv > $d/device.txt 2>&1
step save build-head/tools/retnet-bench --config 1.3b --save-model $M
step exp-tests build-exp/tests/retnet_tests "[retention]"
prefill_ab head exp
step profile-exp env RETNET_PROFILE=1 RETNET_PIPELINE_STATS=1 build-exp/tools/retnet-bench -m $M --contexts 1024 \
  --prefill 8192 --batches 1 --train-config '' --decode-steps 16 --json $d/profile-exp.json
bench=build-head/tools/retnet-bench
step retnet-vk $bench --tensor-peak --matmul 8192,2048,2048 --config 1.3b --contexts 1024,8192,32768,131072 \
  --prefill 512,2048,8192,32768 --batches 1,4,16,64 --decode-steps 32 --train-config small --train-batch 4 \
  --train-seq 2048 --json $d/retnet-vk.json
one=(--contexts 1024 --prefill 512 --batches 1 --train-config '' --decode-steps 64)
for round in 1 2; do
  step spin-$round $bench -m $M "${one[@]}" --json $d/spin-$round.json
  step sleep-$round env RETNET_SPIN_WAIT=0 $bench -m $M "${one[@]}" --json $d/sleep-$round.json
done
step profile-head env RETNET_PROFILE=1 RETNET_PIPELINE_STATS=1 $bench -m $M --contexts 1024 --prefill 8192 \
  --batches 1 --train-config '' --decode-steps 16 --json $d/profile-head.json
tar -czf $OUT/seventeenth-a.tar.gz -C $OUT seventeenth-a && rm -rf $d
