#!/usr/bin/env bash
# The twenty-fourth session's call: Session::decode_batch updating each session's states where
# they are instead of copying them into a batch and back (and since the twenty-fifth session,
# one retention dispatch per 16 sessions instead of one per session, and a batch of one taking
# Session::decode's step). build-base = HEAD before all that (5db364b), build-new = HEAD,
# build-turn = build-new with matmul-partials-in-turn.patch (the split few-row products' partial
# sums in two buffers taken in turn, so that a product and the previous product's summing pass
# need no barrier between them).
# In order: batched decode of the 1.3b model at 1, 4, 16 and 64 sessions (and decode at 1k
# context) of the three builds, two rounds alternating; the change's tests and the patch's
# ([matmul],[model]); profiled (RETNET_PROFILE=1; the JSON lists every kernel), build-new's
# batched step of 64 sessions and its training step of the small config; build-new's figures
# for the README's table; and last build-new's whole test suite (but [sentencepiece], whose
# trainer library the device lacks) with the fast paths and with all of them forced off.
# Twenty-fifth session: also build-warm = HEAD with decode-warm-cache.patch (subgroups waiting at
# a grid sync of the decode layer load their next phase's weights into the cache), its tests
# and 1.3b decode at 1k context with RETNET_DECODE_WARM 0 (HEAD's code) / 2 / 4 / 8, two
# rounds alternating with build-new.
# And build-cm2 = HEAD with matmul-coopmat2.patch, built with a newer glslang
# (-DRETNET_GLSLANG_COOPMAT2, see build-glslang.sh): the forward product on
# VK_NV_cooperative_matrix2's workgroup-scope matrices at six tile shapes, x in f16 and in f32,
# beside the coopmat path, at the 1.3b prefill's three product shapes; then with Auto's forward
# products on it, its [matmul],[model],[training] tests, the 1.3b prefill and the training step.
# Last, so that a driver fault there costs nothing else.
# About 500 s.
# Carry .device, build-base, build-new, build-turn, build-warm and build-cm2 (tools/retnet-bench
# and tests/retnet_tests of each; bench/experiments/build-variants.sh new
# turn:matmul-partials-in-turn.patch warm:decode-warm-cache.patch
# cm2:matmul-coopmat2.patch:RETNET_GLSLANG_COOPMAT2=$(bench/experiments/build-glslang.sh SRC) at
# HEAD makes the last four, and the same command's `base` at 5db364b the first).
# Usage: source .device/prelude.sh && DEADLINE=540 bash bench/experiments/twenty-fourth-a.sh
set -u
source bench/experiments/steps.sh twenty-fourth-a
device_and_model new
for round in 1 2; do
  for b in base new turn; do
    step batch-$b-$round build-$b/tools/retnet-bench -m $M --contexts 1024 --prefill 512 --batches 1,4,16,64 --train-config '' --decode-steps 16 --json $d/batch-$b-$round.json
  done
done
# Warming the cache at the decode layer's syncs, at three settings beside build-new.
for round in 1 2; do
  step decode-new-$round build-new/tools/retnet-bench "${decode_1k[@]}" --json $d/decode-new-$round.json
  for w in 0 2 4 8; do
    step decode-warm$w-$round env RETNET_DECODE_WARM=$w build-warm/tools/retnet-bench "${decode_1k[@]}" --json $d/decode-warm$w-$round.json
  done
done
step warm-tests env RETNET_DECODE_WARM=4 build-warm/tests/retnet_tests --reporter compact "[decode_layer],[decode],[model]"
# The change's own tests first ([decode], [model], [core]), in case the whole suite below finds no time.
step new-tests-changed build-new/tests/retnet_tests --reporter compact "[decode],[model],[core]"
step turn-tests build-turn/tests/retnet_tests --reporter compact "[matmul],[model]"
# Where the 64 sessions' step spends its GPU time (new in this build: the bench profiles the
# largest batched step), then the training step's profile.
step batch-profile env RETNET_PROFILE=1 build-new/tools/retnet-bench -m $M --contexts 1024 --prefill 512 --batches 64 --train-config '' --decode-steps 4 --json $d/batch-profile.json
step train-profile env RETNET_PROFILE=1 build-new/tools/retnet-bench "${train[@]}" --json $d/train-profile.json
# The 1.3b figures of tools/bench/compare.sh's retnet-bench command, for the README's table.
step retnet-vk-1.3b build-new/tools/retnet-bench -m $M --contexts 1024,8192,32768,131072 --prefill 512,2048,8192,32768 --batches 1,4,16,64 --decode-steps 32 --train-config '' --json $d/retnet-vk-1.3b.json
whole_suite new
if [ -x build-cm2/tools/retnet-bench ]; then
  peak=--tensor-peak
  for shape in "8192 2048 2048" "8192 5632 2048" "8192 2048 2816"; do
    step cm2-${shape// /x} build-cm2/tools/retnet-bench --config tiny $peak --matmul $shape --contexts 16 --prefill 16 --batches 1 --train-config '' --decode-steps 1 --json $d/cm2-${shape// /x}.json
    peak=
  done
  # Its forward products in the model (Auto takes them): the tests that cover them, then the
  # 1.3b prefill and the training step beside build-new's figures of this call.
  step cm2-tests build-cm2/tests/retnet_tests --reporter compact "[matmul],[model],[training]"
  step prefill-cm2 build-cm2/tools/retnet-bench -m $M --contexts 1024 --prefill 512,2048,8192,32768 --batches 1 --train-config '' --decode-steps 16 --json $d/prefill-cm2.json
  step train-cm2 build-cm2/tools/retnet-bench "${train[@]}" --json $d/train-cm2.json
fi
tar -czf $OUT/twenty-fourth-a.tar.gz -C $OUT twenty-fourth-a && rm -rf $d
