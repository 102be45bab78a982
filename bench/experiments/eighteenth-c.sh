#!/usr/bin/env bash
# The eighteenth session's second experiment: the tensor-core backward's reductions split so
# that the last wave of workgroups is full (kernels::coopmat_reduction_slices). build-exp = HEAD,
# build-exp2 = HEAD with the change: build-exp2's backward and training tests, then the small
# config's training step of each build, three rounds alternating, and one profile of each.
# Carry .device, build-exp and build-exp2.
# Usage: source .device/prelude.sh && DEADLINE=300 bash bench/experiments/eighteenth-c.sh
set -u
source bench/experiments/steps.sh eighteenth-c
nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
step exp2-tests build-exp2/tests/retnet_tests "[matmul_backward],[training]"
train_ab 3 exp exp2
for b in exp exp2; do
  step profile-$b env RETNET_PROFILE=1 build-$b/tools/retnet-bench "${train[@]}"
done
tar -czf $OUT/eighteenth-c.tar.gz -C $OUT eighteenth-c && rm -rf $d
