#!/usr/bin/env bash
# The call written in the twenty-second session, after decode-layers-overlap.patch landed (no
# barrier between the persistent decode layers' dispatches; commit 05dd442), and extended in the
# twenty-third, where Session::decode_batch became a recorded and
# replayed step, bb7067f, and so did a prefill piece for the prompt's next pieces of its
# length, 3775063. build-exp = the build before all three (9d6ef99), build-land = HEAD,
# build-ahead = HEAD with decode-sync-prefetch.patch (RETNET_DECODE_AHEAD: weight pieces per
# lane of each phase's first row loaded before the sync ahead of the phase; default the 4 of
# HEAD), build-split = HEAD with matmul-forward-split-scratch.patch (tensor-core products of at
# most 128 rows split over their depth, the partial sums in a scratch the model keeps).
# In order: HEAD's whole test suite (but [sentencepiece], whose trainer library the device
# lacks) on the H100 with the fast paths and with all of them forced off, as issue 5 asks
# (about 80 s); the patches' tests (AHEAD 8 and 16; [matmul],[model] of build-split); decode at
# 1k context of build-exp, build-land and build-ahead at AHEAD 8 and 16, two rounds
# alternating (the first with the pipelines' register counts; build-exp and build-land also at
# 32k context); the 1.3b figures of tools/bench/compare.sh's retnet-bench command for the
# README's table (without the training step, the tensor peak and the peers; its JSON also
# records the device's shared memory limit and whether it offers VK_KHR_cooperative_matrix or
# VK_NV_cooperative_matrix2, which this build cannot use); batched decode at 1, 4, 16 and 64
# sessions of build-exp and build-split, against build-land's in the figures before; prefill at
# 512-32k tokens of build-exp and build-land, two rounds alternating (a piece's recording is
# replayed for the next pieces since 3775063); then HEAD's 8k prefill profile and the small
# config's training step. About 410 s on the H100 (run in the twenty-third session; the
# prefill_ab line that a careless edit had put in this header failed harmlessly there).
# Carry .device, build-exp, build-land, build-ahead and build-split (tools/retnet-bench and
# tests/retnet_tests of each; bench/experiments/build-variants.sh land
# ahead:decode-sync-prefetch.patch split:matmul-forward-split-scratch.patch makes the last
# three, and build-exp is the same command's `exp` run at 9d6ef99).
# Usage: source .device/prelude.sh && DEADLINE=560 bash bench/experiments/twenty-third-a.sh
set -u
source bench/experiments/steps.sh twenty-third-a
nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
step save build-land/tools/retnet-bench --config 1.3b --save-model $M
step land-tests build-land/tests/retnet_tests --reporter compact "~[sentencepiece]"
step land-tests-off env RETNET_NO_FP16=1 RETNET_NO_SUBGROUPS=1 RETNET_NO_COOPMAT=1 build-land/tests/retnet_tests --reporter compact "~[sentencepiece]"
for a in 8 16; do
  step ahead-tests-$a env RETNET_DECODE_AHEAD=$a build-ahead/tests/retnet_tests "[decode_layer],[model]"
done
step split-tests build-split/tests/retnet_tests "[matmul],[model]"
for round in 1 2; do
  stats=$([ $round = 1 ] && echo 1 || echo 0)
  for b in exp land; do
    step decode-$b-$round env RETNET_PIPELINE_STATS=$stats build-$b/tools/retnet-bench -m $M --contexts 1024,32768 --prefill 512 --batches 1 --train-config '' --decode-steps 64 --json $d/decode-$b-$round.json
  done
  for a in 8 16; do
    step decode-ahead$a-$round env RETNET_PIPELINE_STATS=$stats RETNET_DECODE_AHEAD=$a build-ahead/tools/retnet-bench "${decode_1k[@]}" --json $d/decode-ahead$a-$round.json
  done
done
step retnet-vk-1.3b build-land/tools/retnet-bench -m $M --contexts 1024,8192,32768,131072 --prefill 512,2048,8192,32768 --batches 1,4,16,64 --decode-steps 32 --train-config '' --json $d/retnet-vk-1.3b.json
# Batched decode before the replay landed (build-exp: recorded every call), and with the split
# forward products (build-split); build-land's figures are the ones just above.
for b in exp split; do
  step batch-$b build-$b/tools/retnet-bench -m $M --contexts 1024 --prefill 512 --batches 1,4,16,64 --train-config '' --decode-steps 16 --json $d/batch-$b.json
done
# Prefill before and after a piece's recording was replayed for the prompt's next pieces.
prefill_ab exp land
# HEAD's 8k prefill profile and the small config's training step, last, as time allows.
step prefill-profile env RETNET_PROFILE=1 build-land/tools/retnet-bench "${prefill_profile[@]}" --json $d/prefill-profile.json
step train-land build-land/tools/retnet-bench "${train[@]}" --json $d/train-land.json
tar -czf $OUT/twenty-third-a.tar.gz -C $OUT twenty-third-a && rm -rf $d
